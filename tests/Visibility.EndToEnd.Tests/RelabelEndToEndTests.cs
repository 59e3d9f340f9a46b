using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Flows.Labels;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>Relabelling through the API reaches ingest without a restart.</summary>
public sealed class RelabelEndToEndTests : IDisposable
{
    private readonly TempDirectory data = new("visibility-relabel");

    public void Dispose() => data.Dispose();

    private static WorkloadSpec Api(string env) => new()
    {
        Name = "api-1",
        Addresses = ["10.30.0.10"],
        Labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = env },
    };

    [Fact]
    public async Task Relabel_ThroughApi_AppliesToRecordsProducedWithinOneSecond()
    {
        await using var service = VisibilityProcess.Start(data.Path);
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = service.Bootstrap, LingerMs = 0 }).Build();
        uint id = 0;
        async Task SendAsync()
        {
            var now = DateTimeOffset.UtcNow;
            var c = new Ulogd2Writer.Connection(++id, "10.30.0.10", "10.40.0.20", 6, (ushort)(30000 + id), 443, now, now, 10, 1, 10, 1);
            await producer.ProduceAsync("flows", new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
        }

        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", new[] { Api("dev") }))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        await SendAsync();
        await PipelineEndToEndTests.WaitForGraphAsync(service.Http, g => Flows(g, "app=api,env=dev") == 1, TimeSpan.FromSeconds(30));

        var clock = Stopwatch.StartNew();
        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", new[] { Api("prod") }))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        // Records produced right after the relabel (well within one second of it) carry the new labels.
        for (var i = 0; i < 3; i++)
        {
            await SendAsync();
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"producing took {clock.Elapsed}");
        using var graph = await PipelineEndToEndTests.WaitForGraphAsync(service.Http, g => Flows(g, "app=api,env=prod") == 3, TimeSpan.FromSeconds(30));
        Assert.Equal(1, Flows(graph, "app=api,env=dev"));
    }

    private static long Flows(JsonDocument graph, string source) =>
        graph.RootElement.GetProperty("edges").EnumerateArray()
            .Where(e => e.GetProperty("source").GetString() == source)
            .Sum(e => e.GetProperty("flows").GetInt64());
}
