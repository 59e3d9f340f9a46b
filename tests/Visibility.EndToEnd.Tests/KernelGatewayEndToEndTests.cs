using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Real kernel records end to end: hosts in network namespaces talk through a gateway namespace whose kernel tracks
/// the connections, ulogd2 in the gateway writes NFCT JSON as it would on a real gateway, the lines go through Kafka
/// to the real `visibility serve`, and the map's edges must carry exactly what conntrack counted: per edge the
/// connections, and bytes and packets both ways.
/// </summary>
public sealed class KernelGatewayEndToEndTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDirectory data = new("visibility-kernel-e2e");

    [Fact]
    public async Task GatewayConntrack_ThroughKafka_EdgesEqualWhatTheKernelCounted()
    {
        using var lab = NetworkLab.Create("dev", "prod", "db");
        await using var ulogd = await Ulogd2Gateway.StartAsync(lab, Path.Combine(data.Path, "ulogd"));
        lab.Listen("db", 5432, reply: 3000);
        await using var rig = new IngestRig("kernel", partitions: 2);
        await using var service = VisibilityProcess.Start(Path.Combine(data.Path, "store"), environment: rig.Environment());
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", new[]
        {
            Workload("api-dev", lab.Address("dev"), "api", "dev"),
            Workload("api-prod", lab.Address("prod"), "api", "prod"),
            Workload("db", lab.Address("db"), "db", "prod"),
        }))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var timeout = TimeSpan.FromSeconds(5);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("dev", lab.Address("db"), 5432, timeout, send: 1000));
        }

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("prod", lab.Address("db"), 5432, timeout, send: 2000 + i));
        }

        // Every connection ends (its DESTROY record carries the final counters) once the gateway forgets them.
        await Task.Delay(TimeSpan.FromSeconds(1));
        ulogd.EndConnections();
        await Eventually.TrueAsync(() => Destroyed(ulogd).Count == 8, TimeSpan.FromSeconds(15), "8 DESTROY records from ulogd2",
            () => string.Join('\n', Ulogd2Gateway.Lines(ulogd.ConnectionsFile)), TimeSpan.FromMilliseconds(100));

        var lines = Ulogd2Gateway.Lines(ulogd.ConnectionsFile);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap }).Build())
        {
            foreach (var line in lines)
            {
                producer.Produce(rig.Topic, new Message<Null, string> { Value = line });
            }

            producer.Flush(TimeSpan.FromSeconds(10));
        }

        await rig.WaitCommittedToEndAsync(service, TimeSpan.FromSeconds(60));
        var expected = Destroyed(ulogd)
            .GroupBy(r => (Source: r.Src == lab.Address("dev") ? "app=api,env=dev" : "app=api,env=prod", Target: "app=db,env=prod"))
            .ToDictionary(g => g.Key, g => (Flows: (long)g.Count(), Bytes: g.Sum(r => r.Bytes), Packets: g.Sum(r => r.Packets)));
        log.WriteLine($"{lines.Count} NFCT records; conntrack counted {string.Join("; ", expected.Select(e => $"{e.Key.Source} → {e.Key.Target}: {e.Value}"))}");

        var graph = await service.WaitAsync(
            () => service.Http.GetFromJsonAsync<JsonElement>("/api/v1/graph?last=1h&groupBy=app,env"),
            g => g.GetProperty("edges").GetArrayLength() == 2, TimeSpan.FromSeconds(30), "two edges on the map");
        var edges = graph.GetProperty("edges").EnumerateArray().ToDictionary(
            e => (e.GetProperty("source").GetString()!, e.GetProperty("target").GetString()!),
            e => (e.GetProperty("flows").GetInt64(), e.GetProperty("bytes").GetInt64(), e.GetProperty("packets").GetInt64()));
        Assert.Equal(expected.OrderBy(e => e.Key), edges.OrderBy(e => e.Key));
        Assert.Equal(3, expected[("app=api,env=dev", "app=db,env=prod")].Flows);
        Assert.True(expected.Values.All(v => v.Bytes > 0 && v.Packets > 0), "conntrack accounting counted nothing");
    }

    public void Dispose() => data.Dispose();

    private sealed record Destroy(string Src, long Bytes, long Packets);

    /// <summary>ulogd2's DESTROY records (<c>ct.event</c> 4) of connections to the database, with both directions' counters.</summary>
    private static List<Destroy> Destroyed(Ulogd2Gateway ulogd) =>
        [.. Ulogd2Gateway.Lines(ulogd.ConnectionsFile)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.GetProperty("ct.event").GetInt32() == 4 && r.GetProperty("orig.l4.dport").GetInt32() == 5432)
            .Select(r => new Destroy(
                r.GetProperty("src_ip").GetString()!,
                r.GetProperty("orig.raw.pktlen").GetInt64() + r.GetProperty("reply.raw.pktlen").GetInt64(),
                r.GetProperty("orig.raw.pktcount").GetInt64() + r.GetProperty("reply.raw.pktcount").GetInt64()))];

    private static object Workload(string name, string address, string app, string env) =>
        new { name, addresses = new[] { address }, labels = new Dictionary<string, string> { ["app"] = app, ["env"] = env } };
}
