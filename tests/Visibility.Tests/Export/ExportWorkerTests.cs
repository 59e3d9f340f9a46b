using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export;
using Visibility.Query.Export.Sinks;
using Visibility.Query.Export.Streams;
using Visibility.Query.Export.Syslog;
using Visibility.Query.Findings;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Tests.Support;

namespace Visibility.Tests.Export;

/// <summary>
/// The findings stream end to end inside one process: flows in the real engine (chDB), the export worker reading
/// closed intervals, a real rsyslog receiving over TCP, TLS and UDP. Each test compares what rsyslog wrote with the
/// findings the query API reports for the same flows, field by field, and counts every record exactly once.
/// </summary>
public sealed partial class ExportWorkerTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build(
        [Workload("dev-api", "10.20.2.10", "api", "dev"), Workload("prod-db", "10.10.3.10", "db", "prod"), Workload("prod-api", "10.10.2.10", "api", "prod")],
        new LabelSettings());

    private static readonly FindingRules Rules = new(new FindingsOptions { NewEdgeBaseline = TimeSpan.Zero });

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private static int nextId;

    public static TheoryData<SyslogProtocol, string> Cases()
    {
        var data = new TheoryData<SyslogProtocol, string>();
        foreach (var protocol in new[] { SyslogProtocol.Tcp, SyslogProtocol.Tls, SyslogProtocol.Udp })
        {
            foreach (var format in new[] { "cef", "leef", "ocsf" })
            {
                data.Add(protocol, format);
            }
        }

        return data;
    }

    /// <summary>Findings of five minutes (unknown sources and dev → prod services) reach rsyslog once each, every field as the API has it.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Findings_ReachRsyslog_OnceEach_FieldByField(SyslogProtocol protocol, string format)
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        var store = await TestStore.CreateAsync();
        var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddMinutes(-6), Interval);
        await InsertAsync(store, start, services: 150, span: TimeSpan.FromMinutes(5));

        var settings = Settings("soc", start);
        var state = new ExportStateStore(store, store);
        await using var sink = SyslogSinkFor(receiver, protocol);
        using var stop = new CancellationTokenSource();
        var worker = Worker(settings, sink, format, store, state);
        var run = worker.RunAsync(stop.Token);

        var expected = await ExpectedAsync(store, start);
        Assert.True(expected.Count > 100, $"{expected.Count} findings");
        var name = protocol.ToString().ToLowerInvariant();
        var received = await receiver.WaitForAsync(name, expected.Count, TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync(() => worker.Status().Position >= start + TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(60), "the stream passed the data");
        await stop.CancelAsync();
        await run;
        received = receiver.Received(name);

        Assert.Equal(expected.Count, received.Count);
        var byId = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var message in received)
        {
            var (header, body) = Syslog(message);
            var fields = Fields(format, body);
            Assert.True(byId.TryAdd(fields.EventId, message), $"event {fields.EventId} arrived twice");
            var finding = expected.GetValueOrDefault((fields.Kind, fields.Source, fields.Destination, fields.Service))
                ?? throw new Xunit.Sdk.XunitException($"no such finding: {fields}");
            Assert.Equal(ExportRecordSource.EventId("finding", ExportWorker.Align(finding.FirstSeen, Interval), finding.Kind, finding.Source.Workload, finding.Destination.Workload, finding.Service), fields.EventId);
            Assert.Equal(finding.FirstSeen.ToUnixTimeMilliseconds(), fields.FirstSeenMs);
            Assert.Equal(finding.Severity, fields.Severity);
            Assert.Equal(finding.Source.Labels.GetValueOrDefault("env"), fields.SourceEnv);
            Assert.Equal(finding.Destination.Labels.GetValueOrDefault("env"), fields.DestinationEnv);
            Assert.True(fields.Flows >= 1);
            Assert.Equal((16 * 8) + (int)SyslogMessage.SeverityOf(finding.Severity), header.Priority);
            Assert.Equal("finding", header.MessageId);
        }

        // The sequence continues without gaps or repeats, and the checkpoint holds its end.
        Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), received.Select(m => Syslog(m).Header.Sequence).Order());
        var checkpoint = await state.GetCheckpointAsync("soc", CancellationToken.None);
        Assert.Equal(expected.Count, checkpoint!.Sequence);
    }

    /// <summary>
    /// rsyslog stops while findings keep coming and starts again later: the stream retries (counted), holds the
    /// records back meanwhile and then delivers every one, none twice.
    /// </summary>
    [Theory]
    [InlineData(SyslogProtocol.Tcp)]
    [InlineData(SyslogProtocol.Tls)]
    public async Task ReceiverDownAndBack_EveryFindingArrivesOnce(SyslogProtocol protocol)
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        var store = await TestStore.CreateAsync();
        var interval = TimeSpan.FromSeconds(1);
        var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddSeconds(-30), interval);
        await InsertAsync(store, start, services: 40, span: TimeSpan.FromSeconds(20));

        var settings = Settings("soc", start) with { Interval = interval, Delay = TimeSpan.FromSeconds(1) };
        var state = new ExportStateStore(store, store);
        await using var sink = SyslogSinkFor(receiver, protocol);
        using var stop = new CancellationTokenSource();
        var worker = Worker(settings, sink, "cef", store, state);
        var run = worker.RunAsync(stop.Token);
        var name = protocol.ToString().ToLowerInvariant();
        var before = await ExpectedAsync(store, start);
        await receiver.WaitForAsync(name, before.Count, TimeSpan.FromSeconds(60));

        await receiver.StopAsync();
        var outage = DateTimeOffset.UtcNow;
        await InsertAsync(store, outage, services: 30, span: TimeSpan.FromSeconds(1), firstPort: 7000);
        await Eventually.TrueAsync(() => worker.Status().Retries > 0, TimeSpan.FromSeconds(60), "the stream saw the receiver gone");
        Assert.Equal("retrying", worker.Status().State);
        Assert.NotNull(worker.Status().LastError);
        await receiver.StartProcessAsync();

        var expected = await ExpectedAsync(store, start);
        Assert.True(expected.Count >= before.Count + 30, $"{expected.Count} findings after the outage, {before.Count} before");
        await receiver.WaitForAsync(name, expected.Count, TimeSpan.FromSeconds(90));
        await Eventually.TrueAsync(() => worker.Status().RecordsConfirmed == expected.Count, TimeSpan.FromSeconds(60), "every record confirmed");
        await stop.CancelAsync();
        await run;

        var received = receiver.Received(name);
        var ids = received.Select(m => CefParser.Parse(Syslog(m).Body).Extension["externalId"]).ToList();
        Assert.Equal(expected.Count, ids.Distinct().Count());
        Assert.Equal(expected.Count, received.Count);
        Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), received.Select(m => Syslog(m).Header.Sequence).Order());
    }

    /// <summary>
    /// The service stops while an interval is half sent (a batch handed over, its confirmation still out) and a new
    /// worker starts on the same store: it resumes inside the interval at the checkpoint; nothing lost or repeated.
    /// </summary>
    [Fact]
    public async Task StoppedMidInterval_NewWorkerResumesAtTheCheckpoint_NothingLostOrRepeated()
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        var store = await TestStore.CreateAsync();
        var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddMinutes(-2), Interval);
        await InsertAsync(store, start, services: 120, span: TimeSpan.FromSeconds(5));
        var total = (await ExpectedAsync(store, start)).Count;
        Assert.True(total >= 120, $"{total} findings");
        var settings = Settings("soc", start);
        var state = new ExportStateStore(store, store);
        var delivery = new ExportDelivery { BatchSize = 20, ConfirmTimeout = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromSeconds(1) };

        using (var stop = new CancellationTokenSource())
        {
            await using var gated = new StallingSink(SyslogSinkFor(receiver, SyslogProtocol.Tcp), stallAt: 3, stop);
            var first = Worker(settings, gated, "json", store, state, delivery);
            await first.RunAsync(stop.Token);
            Assert.Equal(60, first.Status().RecordsConfirmed);
        }

        var checkpoint = await state.GetCheckpointAsync("soc", CancellationToken.None);
        Assert.Equal(new ExportCheckpoint(start, 60, 60), checkpoint);

        await using var sink = SyslogSinkFor(receiver, SyslogProtocol.Tcp);
        using var stopSecond = new CancellationTokenSource();
        var second = Worker(settings, sink, "json", store, state, delivery);
        var run = second.RunAsync(stopSecond.Token);
        var received = await receiver.WaitForAsync("tcp", total, TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync(() => second.Status().Position > start, TimeSpan.FromSeconds(60), "the interval done");
        await stopSecond.CancelAsync();
        await run;

        received = receiver.Received("tcp");
        var ids = received.Select(m => JsonDocument.Parse(Syslog(m).Body).RootElement.GetProperty("eventId").GetString()).ToList();
        Assert.Equal(total, received.Count);
        Assert.Equal(total, ids.Distinct().Count());
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), received.Select(m => Syslog(m).Header.Sequence));
        Assert.Equal(total - 60, second.Status().RecordsConfirmed);
    }

    /// <summary>A stream without a checkpoint starts at <c>startAt</c> and saves that at once, so a restart before any record starts there too.</summary>
    [Fact]
    public async Task NewStream_SavesItsStartBeforeTheFirstRecord()
    {
        var store = await TestStore.CreateAsync();
        var state = new ExportStateStore(store, store);
        Assert.Null(await state.GetCheckpointAsync("quiet", CancellationToken.None));
        var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddMinutes(10), Interval);
        await using var sink = new ListSink();
        using var stop = new CancellationTokenSource();
        var worker = Worker(Settings("quiet", start), sink, "cef", store, state);
        var run = worker.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => worker.Status().State == "waiting", TimeSpan.FromSeconds(30), "waiting for the first interval");
        await stop.CancelAsync();
        await run;
        Assert.Equal(new ExportCheckpoint(start, 0, 0), await state.GetCheckpointAsync("quiet", CancellationToken.None));
        Assert.Equal("stopped", worker.Status().State);
    }

    /// <summary>Flow summaries: one per edge and interval at the grouping, with the interval's totals.</summary>
    [Fact]
    public async Task Summaries_OnePerEdgeAndInterval_WithTheGraphTotals()
    {
        var store = await TestStore.CreateAsync();
        var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddMinutes(-5), TimeSpan.FromMinutes(1));
        await InsertAsync(store, start, services: 30, span: TimeSpan.FromMinutes(2));
        var settings = Settings("sum", start) with { Content = ExportContent.Summaries, Interval = TimeSpan.FromMinutes(1) };
        var source = new ExportRecordSource(Findings(store), Graph(store));
        var first = await source.ReadAsync(settings, start, start.AddMinutes(1), CancellationToken.None);
        var again = await source.ReadAsync(settings, start, start.AddMinutes(1), CancellationToken.None);
        var graph = await Graph(store).RunAsync(new GraphRequest(start, start.AddMinutes(1), settings.GroupBy, FilterClause.All, 1000), CancellationToken.None);

        Assert.Equal(graph.Edges.Count, first.Records.Count);
        Assert.Equal(first.Records.Select(r => r.EventId), again.Records.Select(r => r.EventId));
        foreach (var record in first.Records)
        {
            var summary = record.Summary!;
            var edge = graph.Edges.Single(e => e.Source == summary.Source.Id && e.Target == summary.Destination.Id);
            Assert.Equal((edge.Flows, edge.Bytes, edge.Packets), (summary.Flows, summary.Bytes, summary.Packets));
            Assert.Equal((start, start.AddMinutes(1)), (summary.IntervalStart, summary.IntervalEnd));
            Assert.Equal(["app", "env"], summary.GroupBy);
        }
    }

    private static ExportStreamSettings Settings(string name, DateTimeOffset start) =>
        new ExportSinkDefinition { Delay = "0s", RepeatAfter = "1d", Interval = "10s", StartAt = start }.ToStream(name);

    private static ExportWorker Worker(ExportStreamSettings settings, IExportSink sink, string format, IFlowStore store, ExportStateStore state, ExportDelivery? delivery = null) =>
        new(settings, sink, ExportFormats.All(ExportIdentity.Default).Single(f => f.Name == format),
            new ExportRecordSource(Findings(store), Graph(store)), state, NullLogger.Instance,
            delivery ?? new ExportDelivery { ConfirmTimeout = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromSeconds(1), BatchSize = 50 });

    private static SyslogSink SyslogSinkFor(RsyslogReceiver receiver, SyslogProtocol protocol)
    {
        var port = protocol switch { SyslogProtocol.Tcp => receiver.TcpPort, SyslogProtocol.Tls => receiver.TlsPort, _ => receiver.UdpPort };
        return new SyslogSink(
            new SyslogTarget("127.0.0.1", port, protocol) { CaFile = receiver.CertificateFile, ConnectTimeout = TimeSpan.FromSeconds(2) },
            new SyslogMessage(16, "visibility-test", "visibility"));
    }

    private static FindingsQuery Findings(IFlowStore store) => new(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), Rules);

    private static GraphQuery Graph(IFlowStore store) => new(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), Rules);

    /// <summary>What the API reports for the flows from <paramref name="start"/> on: each finding (kind, ends, service) once.</summary>
    private static async Task<Dictionary<(string, string, string, string), Finding>> ExpectedAsync(IFlowStore store, DateTimeOffset start)
    {
        var response = await Findings(store).RunAsync(
            new FindingsRequest(start, DateTimeOffset.UtcNow.AddMinutes(1), FilterClause.All, "low", FindingsQuery.MaxLimit), CancellationToken.None);
        return response.Findings.ToDictionary(f => (f.Kind, f.Source.Workload, f.Destination.Workload, f.Service));
    }

    /// <summary>
    /// dev-api → prod-db on <paramref name="services"/> ports from <paramref name="firstPort"/> on (a cross_env finding
    /// each; every third seen again later), and a few unknown sources → prod-db:5432, spread over <paramref name="span"/>.
    /// </summary>
    private static async Task InsertAsync(IFlowStore store, DateTimeOffset start, int services, TimeSpan span, int firstPort = 6000)
    {
        var batch = new FlowBatch();
        for (var i = 0; i < services; i++)
        {
            var at = start + (span * i / services);
            batch.Add(Flow("10.20.2.10", "10.10.3.10", (ushort)(firstPort + i), at));
            if (i % 3 == 0)
            {
                batch.Add(Flow("10.20.2.10", "10.10.3.10", (ushort)(firstPort + i), at + (span / 2)));
            }

            if (i % 10 == 0)
            {
                batch.Add(Flow($"10.99.{firstPort % 250}.{(i / 10) + 1}", "10.10.3.10", 5432, at));
            }
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
    }

    private static FlowRecord Flow(string src, string dst, ushort port, DateTimeOffset at) =>
        TestFlows.Connection(Index, Rules, Interlocked.Increment(ref nextId), src, dst, port, at, durationMs: 100);

    private static WorkloadSpec Workload(string name, string address, string app, string env) =>
        new() { Name = name, Addresses = [address], Labels = new Dictionary<string, string> { ["app"] = app, ["env"] = env } };

    private sealed record Header(int Priority, string MessageId, long Sequence);

    /// <summary>An RFC 5424 line as rsyslog wrote it (raw message): PRI, MSGID, the meta sequence id and the body.</summary>
    private static (Header Header, string Body) Syslog(string line)
    {
        var match = SyslogLine().Match(line);
        Assert.True(match.Success, $"not an RFC 5424 message: {line}");
        return (new Header(
            int.Parse(match.Groups["pri"].Value, CultureInfo.InvariantCulture),
            match.Groups["msgid"].Value,
            long.Parse(match.Groups["seq"].Value, CultureInfo.InvariantCulture)), match.Groups["body"].Value);
    }

    private sealed record Parsed(string EventId, string Kind, string Source, string Destination, string Service, string Severity, long FirstSeenMs, string? SourceEnv, string? DestinationEnv, long Flows);

    /// <summary>The fields of one record, read the way a SIEM reads the format.</summary>
    private static Parsed Fields(string format, string body)
    {
        string[] severities = ["low", "medium", "high", "critical"];
        switch (format)
        {
            case "cef":
            {
                var (header, ext) = CefParser.Parse(body);
                Assert.Equal(["CEF:0", "Visibility", "Visibility", "1.0"], header.Take(4));
                Assert.Equal($"Visibility finding {header[4]}", header[5]);
                var severity = severities.Single(s => Cef(s) == header[6]);
                Assert.Equal("finding", ext["cat"]);
                Assert.Equal(ext["cs6"], $"{ext["proto"].ToLowerInvariant()}/{ext["dpt"]}");
                return new Parsed(ext["externalId"], header[4], ext.GetValueOrDefault("shost") ?? "", ext.GetValueOrDefault("dhost") ?? "",
                    ext["cs6"], severity, long.Parse(ext["start"], CultureInfo.InvariantCulture), ext.GetValueOrDefault("cs2"), ext.GetValueOrDefault("cs4"),
                    long.Parse(ext["cnt"], CultureInfo.InvariantCulture));
            }

            case "leef":
            {
                var (header, attributes) = LeefParser.Parse(body);
                Assert.Equal(["LEEF:2.0", "Visibility", "Visibility", "1.0"], header.Take(4));
                Assert.Equal(header[4], attributes["cat"]);
                Assert.Equal(attributes["service"], $"{attributes["proto"]}/{attributes["dstPort"]}");
                Assert.Equal(Cef(attributes["severity"]), attributes["sev"]);
                return new Parsed(attributes["eventId"], header[4], attributes.GetValueOrDefault("srcWorkload") ?? "", attributes.GetValueOrDefault("dstWorkload") ?? "", attributes["service"],
                    attributes["severity"], long.Parse(attributes["firstSeen"], CultureInfo.InvariantCulture),
                    attributes.GetValueOrDefault("srcLabel.env"), attributes.GetValueOrDefault("dstLabel.env"), long.Parse(attributes["flows"], CultureInfo.InvariantCulture));
            }

            default:
            {
                var root = JsonDocument.Parse(body).RootElement;
                Assert.Equal(4001, root.GetProperty("class_uid").GetInt32());
                Assert.Equal(6, root.GetProperty("activity_id").GetInt32());
                Assert.Equal(400106, root.GetProperty("type_uid").GetInt32());
                var unmapped = root.GetProperty("unmapped");
                Assert.Equal("finding", unmapped.GetProperty("record_type").GetString());
                var severity = root.GetProperty("severity").GetString()!.ToLowerInvariant();
                Assert.Equal(Array.IndexOf(severities, severity) + 2, root.GetProperty("severity_id").GetInt32());
                var service = unmapped.GetProperty("service").GetString()!;
                Assert.Equal(service, $"{root.GetProperty("connection_info").GetProperty("protocol_name").GetString()}/{root.GetProperty("dst_endpoint").GetProperty("port").GetInt32()}");
                return new Parsed(root.GetProperty("metadata").GetProperty("uid").GetString()!, unmapped.GetProperty("finding_kind").GetString()!,
                    root.GetProperty("src_endpoint").GetProperty("name").GetString()!, root.GetProperty("dst_endpoint").GetProperty("name").GetString()!,
                    service, severity, root.GetProperty("start_time").GetInt64(), Label(root, "src_labels"), Label(root, "dst_labels"),
                    root.GetProperty("count").GetInt64());
            }
        }
    }

    private static string? Label(JsonElement root, string labels) =>
        root.GetProperty("unmapped").TryGetProperty(labels, out var map) && map.TryGetProperty("env", out var env) ? env.GetString() : null;

    private static string Cef(string severity) => severity switch { "low" => "3", "medium" => "5", "high" => "8", _ => "10" };

    [GeneratedRegex("^<(?<pri>\\d+)>1 \\S+ \\S+ \\S+ - (?<msgid>\\S+) \\[meta sequenceId=\"(?<seq>\\d+)\"\\] (?<body>.*)$")]
    private static partial Regex SyslogLine();

    /// <summary>A sink that collects what it is given and confirms at once (for tests about the stream, not the transport).</summary>
    private sealed class ListSink : IExportSink
    {
        public List<ExportItem> Items { get; } = [];

        public string Destination => "list";

        public int Pending => 0;

        public Task SendAsync(IReadOnlyList<ExportItem> items, CancellationToken cancellationToken)
        {
            Items.AddRange(items);
            return Task.CompletedTask;
        }

        public Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken) => Task.FromResult(true);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>
    /// A real sink whose confirmation of the <paramref name="stallAt"/>-th batch does not come before the service is
    /// told to stop (which this sink does, once that batch is sent): a stop with a batch in flight.
    /// </summary>
    private sealed class StallingSink(IExportSink inner, int stallAt, CancellationTokenSource stop) : IExportSink
    {
        private int sends;

        public string Destination => inner.Destination;

        public int Pending => inner.Pending;

        public async Task SendAsync(IReadOnlyList<ExportItem> items, CancellationToken cancellationToken)
        {
            await inner.SendAsync(items, cancellationToken);
            if (items.Count > 0 && ++sends == stallAt)
            {
                await stop.CancelAsync();
            }
        }

        public async Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            return await inner.WaitConfirmedAsync(timeout, CancellationToken.None);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
