using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export;
using Visibility.Query.Export.Runtime;
using Visibility.Query.Export.Sinks;
using Visibility.Query.Export.Streams;
using Visibility.Query.Findings;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Tests.Support;
using Xunit.Abstractions;

namespace Visibility.Tests.Export;

/// <summary>
/// The export lease on the real engine (chDB) and a real rsyslog: two export services sharing one store send each
/// finding once between them; the holder stopping hands over to the other, which continues from the checkpoint. And
/// the fence a stream checks: closed, it sends nothing more and records no checkpoint once the lease ran out.
/// </summary>
public sealed partial class ExportLeaseTests(ITestOutputHelper output)
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build(
        [Workload("dev-api", "10.20.2.10", "api", "dev"), Workload("prod-db", "10.10.3.10", "db", "prod")],
        new LabelSettings());

    private static readonly FindingRules Rules = new(new FindingsOptions { NewEdgeBaseline = TimeSpan.Zero });

    private static int nextId;

    [Fact]
    public async Task TwoServices_OneStore_OnlyTheHolderSends_TheHolderStops_TheOtherContinues_EachFindingOnce()
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        using var data = new TempDirectory("export-lease");
        var store = await TestStore.CreateAsync();
        var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddSeconds(-40), TimeSpan.FromSeconds(1));
        await InsertAsync(store, start, services: 60, span: TimeSpan.FromSeconds(30), firstPort: 6000);

        var a = Service(store, receiver, data.Path, "replica-a", start);
        var b = Service(store, receiver, data.Path, "replica-b", start);
        await a.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => a.LeaseHeld, TimeSpan.FromSeconds(30), "A holding the export lease");
        await b.StartAsync(CancellationToken.None);
        var first = await ExpectedAsync(store, start);
        Assert.True(first >= 60, $"{first} findings");
        await receiver.WaitForAsync("tcp", first, TimeSpan.FromSeconds(60));

        // B stands by: it knows who holds the lease, runs no stream, and sends nothing over several renewals.
        await Task.Delay(TimeSpan.FromSeconds(6));
        Assert.False(b.LeaseHeld);
        Assert.Empty(b.Statuses());
        Assert.StartsWith("export@", b.LeaseHolder, StringComparison.Ordinal);
        Assert.True(a.LeaseHeld);
        Assert.Equal(first, receiver.Received("tcp").Count);

        // More findings, due one after another over the next 8 s; A stops (a clean stop releases the lease) while
        // they come, and B takes over from A's checkpoint.
        await InsertAsync(store, DateTimeOffset.UtcNow, services: 40, span: TimeSpan.FromSeconds(8), firstPort: 7000);
        await Task.Delay(TimeSpan.FromSeconds(4));
        await a.StopAsync(CancellationToken.None);
        Assert.False(a.LeaseHeld);
        var stoppedAt = DateTimeOffset.UtcNow;
        await Eventually.TrueAsync(() => b.LeaseHeld, TimeSpan.FromSeconds(10), "B taking the lease over");
        output.WriteLine($"B took the lease over {(DateTimeOffset.UtcNow - stoppedAt).TotalSeconds:0.0} s after A stopped");

        var total = await ExpectedAsync(store, start);
        Assert.True(total >= first + 40, $"{total} findings, {first} before");
        await receiver.WaitForAsync("tcp", total, TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync(() => b.Statuses().Single().Position > DateTimeOffset.UtcNow.AddSeconds(-3), TimeSpan.FromSeconds(30), "B's stream past the data");
        await b.StopAsync(CancellationToken.None);

        var received = receiver.Received("tcp").Select(Parse).ToList();
        var byA = received.Count(m => m.Host == "replica-a");
        var byB = received.Count(m => m.Host == "replica-b");
        output.WriteLine($"{received.Count} messages: {byA} from A, {byB} from B");
        Assert.Equal(total, received.Count);
        Assert.Equal(total, received.Select(m => m.EventId).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), received.Select(m => m.Sequence));
        Assert.True(byA > first, $"A sent {byA}: none of the second lot before it stopped");
        Assert.True(byB > 0, "B sent nothing after taking over");
        Assert.All(received.Where(m => m.Host == "replica-b"), m => Assert.True(m.Sequence > byA, $"B sent {m.Sequence}, which A had sent"));
    }

    /// <summary>
    /// A configured sink without a checkpoint or <c>StartAt</c> starts from when its service started, not from when it
    /// got the lease: findings that came while another process held the lease (one that never ran this sink) are
    /// sent once the lease is this service's.
    /// </summary>
    [Fact]
    public async Task ConfiguredSinkWithoutCheckpoint_LeaseTakenLater_StartsFromTheServiceStart()
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        using var data = new TempDirectory("export-lease");
        var store = await TestStore.CreateAsync();
        var other = new StoreLease(store, store, ExportLease.Name, "export@elsewhere", TimeSpan.FromSeconds(10));
        Assert.True((await other.TryAcquireAsync(CancellationToken.None)).Held);

        var service = Service(store, receiver, data.Path, "replica-a", start: null);
        var started = DateTimeOffset.UtcNow;
        await service.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => service.LeaseHolder == "export@elsewhere", TimeSpan.FromSeconds(30), "the service seeing the other holder");
        await InsertAsync(store, DateTimeOffset.UtcNow, services: 20, span: TimeSpan.FromSeconds(2), firstPort: 8000);
        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.False(service.LeaseHeld);
        Assert.Empty(receiver.Received("tcp"));

        await other.ReleaseAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => service.LeaseHeld, TimeSpan.FromSeconds(30), "the service taking the lease");
        var expected = await ExpectedAsync(store, ExportWorker.Align(started, TimeSpan.FromSeconds(1)));
        Assert.Equal(40, expected); // 20 connections, each a cross_env and a new_edge finding
        await receiver.WaitForAsync("tcp", expected, TimeSpan.FromSeconds(60));
        await service.StopAsync(CancellationToken.None);

        var received = receiver.Received("tcp").Select(Parse).ToList();
        Assert.Equal(Enumerable.Range(1, expected).Select(i => (long)i), received.Select(m => m.Sequence));
        Assert.Equal(expected, received.Select(m => m.EventId).Distinct().Count());
    }

    /// <summary>
    /// The fence closes to sending after the second batch (the lease's margin reached): that batch is confirmed and
    /// checkpointed, nothing more is sent, the stream stops by itself; the next holder resumes right after it.
    /// </summary>
    [Fact]
    public async Task FenceClosedToSending_StreamStopsAfterTheBatchInHand_NextHolderResumesAtTheCheckpoint()
    {
        var store = await TestStore.CreateAsync();
        var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddMinutes(-2), TimeSpan.FromSeconds(10));
        await InsertAsync(store, start, services: 50, span: TimeSpan.FromSeconds(5), firstPort: 6000);
        var state = new ExportStateStore(store, store);
        var fence = new Fence();
        await using var sink = new ListSink(sends => fence.MaySend = sends < 2);
        var worker = Worker(store, state, sink, fence, start);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await worker.RunAsync(timeout.Token);

        Assert.False(timeout.IsCancellationRequested);
        Assert.Equal(20, sink.Items.Count);
        Assert.Equal(new ExportCheckpoint(start, 20, 20), await state.GetCheckpointAsync("soc", CancellationToken.None));
        Assert.Equal("stopped", worker.Status().State);

        var total = await ExpectedAsync(store, start);
        var next = await ResumeAsync(store, state, start);
        Assert.Equal(Enumerable.Range(21, total - 20).Select(i => (long)i), next.Select(i => i.Sequence));
        Assert.Empty(next.Select(i => i.EventId).Intersect(sink.Items.Select(i => i.EventId)));
    }

    /// <summary>
    /// The lease runs out while the second batch is out (a holder cut off from the store): the destination confirms
    /// it, but the checkpoint is not written, since the next holder may already have read the last one. The next holder
    /// sends that batch again — the at-least-once window of a lost lease, one batch — and skips nothing.
    /// </summary>
    [Fact]
    public async Task LeaseRanOutMidBatch_NoCheckpointWritten_NextHolderSendsThatBatchAgainAndNothingIsSkipped()
    {
        var store = await TestStore.CreateAsync();
        var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddMinutes(-2), TimeSpan.FromSeconds(10));
        await InsertAsync(store, start, services: 50, span: TimeSpan.FromSeconds(5), firstPort: 6000);
        var state = new ExportStateStore(store, store);
        var fence = new Fence();
        await using var sink = new ListSink(sends => fence.MaySend = fence.MayRecord = sends < 2);
        var worker = Worker(store, state, sink, fence, start);

        await worker.RunAsync(CancellationToken.None);

        Assert.Equal(20, sink.Items.Count);
        Assert.Equal(new ExportCheckpoint(start, 10, 10), await state.GetCheckpointAsync("soc", CancellationToken.None));
        var total = await ExpectedAsync(store, start);
        var next = await ResumeAsync(store, state, start);
        Assert.Equal(Enumerable.Range(11, total - 10).Select(i => (long)i), next.Select(i => i.Sequence));
        Assert.Equal(10, next.Select(i => i.EventId).Intersect(sink.Items.Select(i => i.EventId)).Count());
        Assert.Equal(total, next.Concat(sink.Items).Select(i => i.EventId).Distinct().Count());
    }

    /// <summary>A checkpoint written after one was read is stamped after it, even by a process whose clock runs behind.</summary>
    [Fact]
    public async Task Checkpoint_WrittenByAProcessWhoseClockIsBehind_StillWinsOverTheOneItRead()
    {
        var store = await TestStore.CreateAsync();
        var ahead = new ExportStateStore(store, store, new FixedClock(DateTimeOffset.UtcNow.AddMinutes(5)));
        var behind = new ExportStateStore(store, store, new FixedClock(DateTimeOffset.UtcNow));
        var start = ExportWorker.Align(DateTimeOffset.UtcNow, TimeSpan.FromSeconds(10));
        await ahead.SaveCheckpointAsync("soc", new ExportCheckpoint(start, 10, 10), CancellationToken.None);

        Assert.Equal(new ExportCheckpoint(start, 10, 10), await behind.GetCheckpointAsync("soc", CancellationToken.None));
        await behind.SaveCheckpointAsync("soc", new ExportCheckpoint(start, 20, 20), CancellationToken.None);
        await behind.SaveCheckpointAsync("soc", new ExportCheckpoint(start, 30, 30), CancellationToken.None);

        Assert.Equal(new ExportCheckpoint(start, 30, 30), await behind.GetCheckpointAsync("soc", CancellationToken.None));
        Assert.Equal(new ExportCheckpoint(start, 30, 30), await ahead.GetCheckpointAsync("soc", CancellationToken.None));
    }

    [Theory]
    [InlineData(5, true)]
    [InlineData(10, false)]
    [InlineData(30, false)]
    [InlineData(600, false)]
    [InlineData(3600, true)]
    public void LeaseDuration_OutsideTenSecondsToTenMinutes_IsAProblemNamingTheKey(int seconds, bool refused)
    {
        var problems = new ExportOptions { LeaseDuration = TimeSpan.FromSeconds(seconds) }.Problems("/tmp/store", []).ToList();
        Assert.Equal(refused ? ["Visibility:Export:LeaseDuration must be between 10 s and 10 min"] : [], problems);
    }

    private ExportService Service(IFlowStore store, RsyslogReceiver receiver, string dataPath, string host, DateTimeOffset? start)
    {
        var options = new ExportOptions
        {
            HostName = host,
            BatchSize = 5,
            ConfirmTimeout = TimeSpan.FromSeconds(2),
            MaxBackoff = TimeSpan.FromSeconds(1),
            LeaseDuration = TimeSpan.FromSeconds(10),
            Sinks =
            {
                ["soc"] = new ExportSinkDefinition
                {
                    Type = "syslog", Protocol = "tcp", Host = "127.0.0.1", Port = receiver.TcpPort, Format = "json",
                    Interval = "1s", Delay = "1s", StartAt = start,
                },
            },
        };
        var lease = new ExportLease(new StoreLease(store, store, ExportLease.Name, StoreLease.ProcessHolder("export"), options.LeaseDuration));
        return new ExportService(Options.Create(options), new NoIngest(), Source(store), new ExportStateStore(store, store),
            Options.Create(new StoreOptions { Path = dataPath }), lease, new Loggers(output, host));
    }

    private static ExportWorker Worker(IFlowStore store, ExportStateStore state, IExportSink sink, IExportFence? fence, DateTimeOffset start) =>
        new(new ExportSinkDefinition { Delay = "0s", Interval = "10s", StartAt = start }.ToStream("soc"), sink,
            ExportFormats.All(ExportIdentity.Default).Single(f => f.Name == "json"), Source(store), state, NullLogger.Instance,
            new ExportDelivery { BatchSize = 10, ConfirmTimeout = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromSeconds(1), StopGrace = TimeSpan.FromSeconds(1) },
            fence: fence);

    /// <summary>The next holder: a stream with an open fence from the checkpoint, until it has passed the interval.</summary>
    private static async Task<List<ExportItem>> ResumeAsync(IFlowStore store, ExportStateStore state, DateTimeOffset start)
    {
        await using var sink = new ListSink(_ => { });
        using var stop = new CancellationTokenSource();
        var worker = Worker(store, state, sink, new Fence(), start);
        var run = worker.RunAsync(stop.Token);
        await Eventually.TrueAsync(() => worker.Status().Position > start, TimeSpan.FromSeconds(60), "the next holder past the interval");
        await stop.CancelAsync();
        await run;
        return sink.Items;
    }

    private static ExportRecordSource Source(IFlowStore store) => new(
        new FindingsQuery(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), Rules),
        new GraphQuery(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), Rules));

    private static async Task<int> ExpectedAsync(IFlowStore store, DateTimeOffset start) =>
        (await new FindingsQuery(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), Rules).RunAsync(
            new FindingsRequest(start, DateTimeOffset.UtcNow.AddMinutes(1), FilterClause.All, "low", FindingsQuery.MaxLimit), CancellationToken.None)).Findings.Count;

    /// <summary>dev-api → prod-db on <paramref name="services"/> new ports (a cross_env finding each), spread over <paramref name="span"/>.</summary>
    private static async Task InsertAsync(IFlowStore store, DateTimeOffset start, int services, TimeSpan span, int firstPort)
    {
        var batch = new FlowBatch();
        for (var i = 0; i < services; i++)
        {
            batch.Add(TestFlows.Connection(Index, Rules, Interlocked.Increment(ref nextId), "10.20.2.10", "10.10.3.10", (ushort)(firstPort + i), start + (span * i / services), durationMs: 100));
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
    }

    private static WorkloadSpec Workload(string name, string address, string app, string env) =>
        new() { Name = name, Addresses = [address], Labels = new Dictionary<string, string> { ["app"] = app, ["env"] = env } };

    private sealed record Message(string Host, long Sequence, string EventId);

    private static Message Parse(string line)
    {
        var match = SyslogLine().Match(line);
        Assert.True(match.Success, $"not an RFC 5424 message: {line}");
        return new Message(match.Groups["host"].Value, long.Parse(match.Groups["seq"].Value, CultureInfo.InvariantCulture),
            JsonDocument.Parse(match.Groups["body"].Value).RootElement.GetProperty("eventId").GetString()!);
    }

    [GeneratedRegex("^<\\d+>1 \\S+ (?<host>\\S+) \\S+ - finding \\[meta sequenceId=\"(?<seq>\\d+)\"\\] (?<body>.*)$")]
    private static partial Regex SyslogLine();

    private sealed class Fence : IExportFence
    {
        public bool MaySend { get; set; } = true;

        public bool MayRecord { get; set; } = true;
    }

    /// <summary>Collects what it is given and confirms at once; <paramref name="sent"/> hears how many batches it has had.</summary>
    private sealed class ListSink(Action<int> sent) : IExportSink
    {
        private int batches;

        public List<ExportItem> Items { get; } = [];

        public string Destination => "list";

        public int Pending => 0;

        public Task SendAsync(IReadOnlyList<ExportItem> items, CancellationToken cancellationToken)
        {
            if (items.Count > 0)
            {
                Items.AddRange(items);
                sent(++batches);
            }

            return Task.CompletedTask;
        }

        public Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken) => Task.FromResult(true);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class NoIngest : IIngestLink
    {
        public IReadOnlyCollection<string> Topics { get; } = [];

        public Func<DateTimeOffset?>? StoredUntil => null;

        public Task<ProducerConfig> BrokersAsync(CancellationToken cancellationToken) => throw new NotSupportedException("no ingest here");
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private sealed class Loggers(ITestOutputHelper output, string prefix) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new TestLogger(output, $"{prefix} {categoryName.Split('.')[^1]}");

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }
    }
}
