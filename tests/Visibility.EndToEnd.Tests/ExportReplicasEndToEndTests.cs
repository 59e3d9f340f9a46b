using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Visibility.Ingest.Demo;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Two API replicas (`visibility serve`, ingest off) and one `visibility ingest` worker share one store (server
/// transport, the test ClickHouse HTTP endpoint over chDB); both replicas have the same syslog sink to a real rsyslog.
/// Only the holder of the store's export lease streams: each finding reaches rsyslog once. The holder is stopped
/// while findings keep coming; the other replica takes over from the checkpoint, with no finding twice and none missed.
/// Then a new replica stands by and the holder is killed (SIGKILL) while idle: the new one takes over once the dead
/// holder's lease has run out, and sends what came meanwhile, once.
/// </summary>
[Collection(FaultTests.Collection)]
public sealed partial class ExportReplicasEndToEndTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDirectory data = new("visibility-replicas-e2e");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task TwoApiReplicas_OneStore_EachFindingReachesTheSiemOnce_HolderStoppedOrKilled_OtherTakesOverFromTheCheckpoint()
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        await using var endpoint = await ChdbHttpProcess.StartAsync(Path.Combine(data.Path, "store"), TimeSpan.FromSeconds(60));
        await using var rig = new IngestRig("replicas", partitions: 4);
        Dictionary<string, string> Environment(string name) => new(rig.Environment())
        {
            ["Visibility__Store__Mode"] = "server",
            ["Visibility__Store__ConnectionString"] = endpoint.ConnectionString(name),
            ["Visibility__Store__Database"] = "export_replicas",
            ["Visibility__Export__Sinks__soc__Type"] = "syslog",
            ["Visibility__Export__Sinks__soc__Protocol"] = "tcp",
            ["Visibility__Export__Sinks__soc__Host"] = "127.0.0.1",
            ["Visibility__Export__Sinks__soc__Port"] = receiver.TcpPort.ToString(CultureInfo.InvariantCulture),
            ["Visibility__Export__Sinks__soc__Format"] = "cef",
            ["Visibility__Export__Sinks__soc__Interval"] = "1s",

            // Ingest runs in another process: the delay alone covers its lag.
            ["Visibility__Export__Sinks__soc__Delay"] = "3s",
            ["Visibility__Export__LeaseDuration"] = "10s",
            ["Visibility__Export__HostName"] = name,
            ["Visibility__Export__BatchSize"] = "5",
            ["Visibility__Export__MaxBackoff"] = "00:00:01",
            ["Visibility__Export__ConfirmTimeout"] = "00:00:02",
        };
        Dictionary<string, string> Replica(string name) => new(Environment(name)) { ["Visibility__Ingest__Enabled"] = "false" };
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build();
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);

        // The schema first (`visibility migrate`, as a deployment runs it); then the first replica alone, then the
        // ingest worker and the second.
        var (migrated, migrateOut, migrateErr) = await VisibilityProcess.RunCommandAsync(["migrate"], Environment("migrate"));
        Assert.True(migrated == 0, migrateOut + migrateErr);
        await using var a = VisibilityProcess.Start(Path.Combine(data.Path, "a"), environment: Replica("replica-a"));
        await a.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using (var put = await a.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        await using var worker = rig.StartIngest(Path.Combine(data.Path, "ingest"), Environment("worker"));
        await using var b = VisibilityProcess.Start(Path.Combine(data.Path, "b"), environment: Replica("replica-b"));
        await Task.WhenAll(worker.WaitReadyAsync(TimeSpan.FromSeconds(90)), b.WaitReadyAsync(TimeSpan.FromSeconds(90)));
        await a.WaitAsync(() => LeaseHeldAsync(a), held => held == 1, TimeSpan.FromSeconds(30), "A holding the export lease");

        // B stands by, and is ready all the same.
        Assert.Equal(0, await LeaseHeldAsync(b));
        var ready = await b.Management.GetFromJsonAsync<JsonElement>("/readyz");
        Assert.Contains("the export lease is held by export@", ready.GetProperty("checks").GetProperty("export").GetProperty("description").GetString(), StringComparison.Ordinal);

        // dev-api-1 → prod-db-1 on a new port every record: a cross_env finding each.
        for (var round = 0; round < 6; round++)
        {
            rig.ProduceCrossEnv(producer, 20_000 + (round * 10), 10);
            await Task.Delay(500);
        }

        var first = await FindingsAsync(a, started, 60);
        await receiver.WaitForAsync("tcp", first.Count, TimeSpan.FromSeconds(60));
        Assert.Equal(0, await LeaseHeldAsync(b));

        // Findings keep coming; A is stopped (SIGTERM) in the middle of them and B takes over.
        var producing = Task.Run(async () =>
        {
            for (var round = 0; round < 40; round++)
            {
                rig.ProduceCrossEnv(producer, 20_060 + (round * 10), 10);
                await Task.Delay(500);
            }
        });
        // A has sent some of them (past the sink's delay of 3 s; on a loaded machine it takes longer, so wait for it).
        var resumed = DateTimeOffset.UtcNow;
        await receiver.WaitForAsync("tcp", first.Count + 1, TimeSpan.FromSeconds(20));
        log.WriteLine($"A sent the first of the later findings {(DateTimeOffset.UtcNow - resumed).TotalSeconds:0.0} s after they started coming");
        var stopping = DateTimeOffset.UtcNow;
        await a.StopAsync();
        Assert.Equal(0, a.ExitCode);
        log.WriteLine($"A stopped in {(DateTimeOffset.UtcNow - stopping).TotalSeconds:0.0} s");
        await b.WaitAsync(() => LeaseHeldAsync(b), held => held == 1, TimeSpan.FromSeconds(30), "B taking the export lease over");
        log.WriteLine($"B holds the lease {(DateTimeOffset.UtcNow - stopping).TotalSeconds:0.0} s after A was told to stop");
        Assert.False(producing.IsCompleted, "findings should still be coming when B takes over");
        await producing;

        var expected = await FindingsAsync(b, started, 460);
        await receiver.WaitForAsync("tcp", expected.Count, TimeSpan.FromSeconds(90));
        await b.WaitAsync(
            () => b.Http.GetFromJsonAsync<JsonElement>("/api/v1/export/sinks/soc"),
            s => s.GetProperty("status").ValueKind == JsonValueKind.Object
                && s.GetProperty("status").GetProperty("pending").GetInt32() == 0
                && s.GetProperty("status").GetProperty("position").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddSeconds(-6),
            TimeSpan.FromSeconds(60), "B's stream past the findings");

        var messages = receiver.Received("tcp").Select(CefSyslogFinding.Parse).ToList();
        var fromA = messages.Count(m => m.Host == "replica-a");
        var fromB = messages.Count(m => m.Host == "replica-b");
        log.WriteLine($"{expected.Count} findings; rsyslog received {messages.Count} ({messages.Select(m => m.EventId).Distinct().Count()} distinct): {fromA} from A, {fromB} from B");
        AssertOnce(expected, messages);
        Assert.True(fromA > first.Count, $"A sent {fromA}, nothing of the findings that came after the first {first.Count}");
        Assert.True(fromB > 0, "B sent nothing after taking over");
        Assert.All(messages.Skip(fromA), m => Assert.Equal("replica-b", m.Host));
        Assert.Contains("holds the export lease", b.Output, StringComparison.Ordinal);

        // A new replica stands by; the holder dies while idle (nothing pending, its checkpoint written).
        await using var c = VisibilityProcess.Start(Path.Combine(data.Path, "c"), environment: Replica("replica-c"));
        await c.WaitReadyAsync(TimeSpan.FromSeconds(90));
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(0, await LeaseHeldAsync(c));
        await b.KillAsync();
        var killed = DateTimeOffset.UtcNow;
        for (var round = 0; round < 6; round++)
        {
            rig.ProduceCrossEnv(producer, 20_460 + (round * 10), 10);
            await Task.Delay(500);
        }

        await c.WaitAsync(() => LeaseHeldAsync(c), held => held == 1, TimeSpan.FromSeconds(40), "C taking the export lease over");
        log.WriteLine($"C holds the lease {(DateTimeOffset.UtcNow - killed).TotalSeconds:0.0} s after B was killed (lease 10 s)");
        var all = await FindingsAsync(c, started, 520);
        await receiver.WaitForAsync("tcp", all.Count, TimeSpan.FromSeconds(90));
        await Task.Delay(TimeSpan.FromSeconds(5));
        messages = receiver.Received("tcp").Select(CefSyslogFinding.Parse).ToList();
        var fromC = messages.Count(m => m.Host == "replica-c");
        log.WriteLine($"{all.Count} findings; rsyslog received {messages.Count} ({messages.Select(m => m.EventId).Distinct().Count()} distinct): {fromC} from C");
        AssertOnce(all, messages);
        Assert.Equal(all.Count - expected.Count, fromC);
        Assert.All(messages.Skip(expected.Count), m => Assert.Equal("replica-c", m.Host));
    }

    /// <summary>Each finding once, none missing, sequence numbers 1… in order without a gap.</summary>
    private static void AssertOnce(List<(string Kind, string Service)> expected, List<CefSyslogFinding> messages)
    {
        Assert.Equal(expected.Count, messages.Count);
        Assert.Equal(expected.Count, messages.Select(m => m.EventId).Distinct().Count());
        Assert.Equal(expected.Order(), messages.Select(m => (m.Kind, m.Service)).Order());
        Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), messages.Select(m => m.Sequence));
    }

    /// <summary>The findings the API lists since <paramref name="from"/>, once it lists <paramref name="crossEnv"/> cross_env ones.</summary>
    private static async Task<List<(string Kind, string Service)>> FindingsAsync(VisibilityProcess service, DateTimeOffset from, int crossEnv)
    {
        var findings = await service.WaitAsync(
            () => service.Http.GetFromJsonAsync<JsonElement>($"/api/v1/findings?from={from.ToUnixTimeSeconds()}&limit=10000"),
            f => f.GetProperty("findings").EnumerateArray().Count(x => x.GetProperty("kind").GetString() == "cross_env") >= crossEnv,
            TimeSpan.FromSeconds(60), $"{crossEnv} cross_env findings");
        var list = findings.GetProperty("findings").EnumerateArray().Select(f => (f.GetProperty("kind").GetString()!, f.GetProperty("service").GetString()!)).ToList();
        Assert.Equal(crossEnv, list.Count(f => f.Item1 == "cross_env"));
        return list;
    }

    private static async Task<long> LeaseHeldAsync(VisibilityProcess service) =>
        IngestRig.Metric(await service.Management.GetStringAsync("/metrics"), "visibility_export_lease_held");
}
