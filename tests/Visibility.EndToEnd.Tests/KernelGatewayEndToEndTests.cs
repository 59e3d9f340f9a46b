using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Real kernel records end to end: hosts in network namespaces talk through a gateway namespace whose kernel tracks
/// the connections, ulogd2 in the gateway writes NFCT JSON as it would on a real gateway, the lines go through Kafka
/// to the real `visibility serve`, and the map's edges must carry exactly what conntrack counted: per edge the
/// connections, and bytes and packets both ways.
/// </summary>
public sealed class KernelGatewayEndToEndTests(ITestOutputHelper log)
{
    [Fact]
    public async Task GatewayConntrack_ThroughKafka_EdgesEqualWhatTheKernelCounted()
    {
        await using var gateway = await KernelGatewayRig.StartAsync("visibility-kernel-e2e", "kernel", partitions: 2, reply: 3000, shipPackets: false);
        var (lab, service) = (gateway.Lab, gateway.Service);
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
        await gateway.EndConnectionsAsync(TimeSpan.FromSeconds(1), () => Destroyed(gateway).Count == 8, "8 DESTROY records from ulogd2");
        var lines = Ulogd2Gateway.Lines(gateway.Ulogd.ConnectionsFile);
        await gateway.ShipAsync();
        var expected = Destroyed(gateway)
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

    private sealed record Destroy(string Src, long Bytes, long Packets);

    /// <summary>ulogd2's DESTROY records of connections to the database, with both directions' counters.</summary>
    private static List<Destroy> Destroyed(KernelGatewayRig gateway) =>
        [.. gateway.Destroyed()
            .Where(r => r.GetProperty("orig.l4.dport").GetInt32() == 5432)
            .Select(r => new Destroy(
                r.GetProperty("src_ip").GetString()!,
                r.GetProperty("orig.raw.pktlen").GetInt64() + r.GetProperty("reply.raw.pktlen").GetInt64(),
                r.GetProperty("orig.raw.pktcount").GetInt64() + r.GetProperty("reply.raw.pktcount").GetInt64()))];
}
