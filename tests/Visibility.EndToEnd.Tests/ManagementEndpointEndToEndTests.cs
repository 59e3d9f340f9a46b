using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Confluent.Kafka;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The management listener (<c>Visibility:Management:Urls</c>): probes and scrapes without a key on a listener of
/// their own; <c>ingest</c> listens nowhere else; <c>/readyz</c> follows the broker; a revoked API key plays no part.
/// </summary>
public sealed class ManagementEndpointEndToEndTests : IDisposable
{
    private readonly TempDirectory data = new("visibility-e2e-management", create: true);

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task Ingest_ListensOnlyOnManagement_ReadyzFollowsTheBroker_WithJsonDetail()
    {
        await using var rig = new IngestRig("management", partitions: 2);
        var apiPort = FreePorts.Tcp();
        await using var worker = rig.StartIngest(Path.Combine(data.Path, "worker"), new Dictionary<string, string>
        {
            ["Visibility__Http__Urls"] = $"http://127.0.0.1:{apiPort}",
        });
        await worker.WaitReadyAsync(TimeSpan.FromSeconds(90));

        // Nothing on the API's address; on the management listener the three routes and nothing else.
        using (var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{apiPort}") })
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => api.GetAsync("/healthz"));
        }

        Assert.Equal(HttpStatusCode.NotFound, (await worker.Management.GetAsync("/api/v1/graph")).StatusCode);
        Assert.Equal("Healthy", await worker.Management.GetStringAsync("/healthz"));
        Assert.Contains("visibility_ingest_records_total", await worker.Management.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // Records stored, statistics in: every check Healthy, the broker UP, ingest caught up.
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap }).Build())
        {
            rig.Produce(producer, 0, 200);
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var ready = await worker.WaitAsync(
            () => ReadyAsync(worker),
            r => r.Status == HttpStatusCode.OK && Check(r.Body, "broker").GetProperty("description").GetString() == "reachable"
                && Check(r.Body, "ingest").GetProperty("data").GetProperty("stored").GetInt64() == 200
                && Check(r.Body, "ingest").GetProperty("data").GetProperty("lag").GetInt64() == 0,
            TimeSpan.FromSeconds(60), "/readyz: broker reachable, 200 records stored, no lag");
        Assert.Equal("Healthy", ready.Body.GetProperty("status").GetString());
        foreach (var name in new[] { "store", "broker", "ingest", "export" })
        {
            Assert.Equal("Healthy", Check(ready.Body, name).GetProperty("status").GetString());
        }

        Assert.Contains(Check(ready.Body, "broker").GetProperty("data").GetProperty("brokers").EnumerateObject(), b => b.Value.GetString() == "UP");

        // The broker down: no consumer has a broker connection up, and the worker is not ready; back up, ready again.
        rig.SetBrokerAvailable(false);
        var down = await worker.WaitAsync(() => ReadyAsync(worker), r => r.Status == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(60), "/readyz 503 with the broker down");
        Assert.Equal("Unhealthy", Check(down.Body, "broker").GetProperty("status").GetString());
        Assert.Equal("no broker reachable from the consumers", Check(down.Body, "broker").GetProperty("description").GetString());
        Assert.Equal("Healthy", Check(down.Body, "store").GetProperty("status").GetString());
        rig.SetBrokerAvailable(true);
        await worker.WaitAsync(() => ReadyAsync(worker), r => r.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(60), "/readyz 200 with the broker back");
    }

    [Fact]
    public async Task Serve_RevokedKey_ProbesUnaffected_DevBrokerDetailSaysWhatItDrops()
    {
        await using var service = VisibilityProcess.Start(Path.Combine(data.Path, "serve"), environment: new Dictionary<string, string>
        {
            ["Visibility__Auth__Disabled"] = "false",
        });
        await service.WaitForPrintedKeyAsync(TimeSpan.FromSeconds(90));
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));

        using var created = await service.Http.PostAsJsonAsync("/api/v1/keys", new { name = "probe", role = "viewer", scope = "" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("key").GetString()!;
        using var viewer = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };
        viewer.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await service.Http.DeleteAsync($"/api/v1/keys/{key.Split('_')[1]}")).StatusCode);
        await service.WaitAsync(async () => (await viewer.GetAsync("/readyz")).StatusCode, s => s == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(30), "the revoked key refused");

        // The management listener never asked for one.
        var ready = await ReadyAsync(service);
        Assert.Equal(HttpStatusCode.OK, ready.Status);
        var devBroker = Check(ready.Body, "broker").GetProperty("data").GetProperty("developmentBroker").GetString()!;
        Assert.Contains("keeps the newest 5 MiB", devBroker, StringComparison.Ordinal);
        Assert.Contains("drops older records", devBroker, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await service.Management.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task Serve_ManagementPortTaken_ExitsNamingTheSetting()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using var service = VisibilityProcess.Start(Path.Combine(data.Path, "taken"), environment: new Dictionary<string, string>
        {
            ["Visibility__Management__Urls"] = $"http://127.0.0.1:{port}",
        });
        Assert.Equal(1, await service.WaitForExitAsync(TimeSpan.FromSeconds(90)));
        Assert.Contains($"the management listener (Visibility:Management:Urls = http://127.0.0.1:{port}) cannot start", service.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_ManagementUrlNotPlainHttp_RefusedAtStart()
    {
        await using var service = VisibilityProcess.Start(Path.Combine(data.Path, "https"), environment: new Dictionary<string, string>
        {
            ["Visibility__Management__Urls"] = "https://127.0.0.1:5081",
        });
        Assert.NotEqual(0, await service.WaitForExitAsync(TimeSpan.FromSeconds(90)));
        Assert.Contains("Visibility:Management:Urls: 'https://127.0.0.1:5081' is not http://HOST:PORT", service.Output, StringComparison.Ordinal);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyAsync(VisibilityProcess process)
    {
        using var response = await process.Management.GetAsync("/readyz");
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static JsonElement Check(JsonElement body, string name) => body.GetProperty("checks").GetProperty(name);
}
