using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The whole slice through the real program: Confluent.Kafka → the dev broker over TCP → ingest → chDB on disk →
/// <c>GET /api/v1/graph</c> over HTTP.
/// </summary>
public sealed class PipelineEndToEndTests : IDisposable
{
    private const int ConnectionsPerConversation = 20;
    private readonly TempDirectory data = new("visibility-e2e");

    private string DataPath => data.Path;

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task Pipeline_RecordsFromKafka_AppearOnceInGraph_MalformedRecordCounted_DataSurvivesRestart()
    {
        Dictionary<(string, string), EdgeTotals> before;
        await using (var service = VisibilityProcess.Start(DataPath))
        {
            await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
            using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
            {
                Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            }

            var expected = ProduceConversations(service.Bootstrap, malformedAfter: 40);
            var expectedFlows = expected.Values.Sum(e => e.Flows);

            // Wait for the whole answer, not a partial one: a graph may count a connection from its NEW record
            // before its DESTROY record (with the bytes) is stored.
            var graph = await WaitForGraphAsync(service.Http, g => Edges(g).Values.Sum(e => e.Flows) >= expectedFlows
                && Edges(g).Values.Sum(e => e.Bytes) >= expected.Values.Sum(e => e.Bytes), TimeSpan.FromSeconds(60));
            var edges = Edges(graph);
            Assert.Equal(expected.Keys.OrderBy(k => k), edges.Keys.OrderBy(k => k));
            foreach (var (key, want) in expected)
            {
                Assert.Equal(want, edges[key]);
            }

            Assert.True(edges[("app=api,env=dev", "app=db,env=prod")].CrossEnv);
            Assert.Equal(1, edges.Values.Count(e => e.CrossEnv));
            Assert.Contains(graph.RootElement.GetProperty("nodes").EnumerateArray(),
                n => n.GetProperty("id").GetString() == "unknown" && n.GetProperty("labels").GetProperty("kind").GetString() == "unknown");

            // The counters move after a batch's progress is committed, a moment after its rows become queryable.
            var stored = expectedFlows * 2;
            var metrics = await WaitForMetricsAsync(service.Http, m => IngestRig.Metric(m, "visibility_ingest_stored_total") == stored, TimeSpan.FromSeconds(30));
            Assert.Contains("visibility_ingest_dead_lettered_total{reason=\"malformed JSON\"} 1", metrics, StringComparison.Ordinal);
            Assert.Equal(stored, IngestRig.Metric(metrics, "visibility_ingest_stored_total"));

            // One process owns a data directory: a second one is refused, naming it.
            await using (var second = VisibilityProcess.Start(DataPath))
            {
                var code = await second.WaitForExitAsync(TimeSpan.FromSeconds(60));
                Assert.NotEqual(0, code);
                Assert.Contains($"'{DataPath}' is in use by another process", second.Output, StringComparison.Ordinal);
            }

            before = edges;
            await service.StopAsync();
        }

        await using (var restarted = VisibilityProcess.Start(DataPath))
        {
            await restarted.WaitReadyAsync(TimeSpan.FromSeconds(90));
            var graph = await WaitForGraphAsync(restarted.Http, g => g.RootElement.GetProperty("edges").GetArrayLength() > 0, TimeSpan.FromSeconds(30));
            Assert.Equal(before, Edges(graph));
            var workloads = await restarted.Http.GetFromJsonAsync<JsonElement>("/api/v1/workloads");
            Assert.Equal(DemoEstate.Workloads.Count, workloads.GetArrayLength());
        }
    }

    [Fact]
    public async Task Api_BadRequests_Get4xxNamingTheProblem()
    {
        await using var service = VisibilityProcess.Start(DataPath);
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));

        var cases = new (string Url, string Expected)[]
        {
            ("/api/v1/graph?last=banana", "last 'banana'"),
            ("/api/v1/graph?groupBy=app;drop", "not a valid label key"),
            ("/api/v1/graph?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from must be before to"),
            ("/api/v1/graph?limit=0", "limit must be"),
        };
        foreach (var (url, expected) in cases)
        {
            using var response = await service.Http.GetAsync(url);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(expected, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var badJson = await service.Http.PutAsync("/api/v1/workloads", new StringContent("[{", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badJson.StatusCode);
        Assert.Contains("JSON array of workloads", await badJson.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var badWorkload = await service.Http.PutAsJsonAsync("/api/v1/workloads", new[] { new { name = "w", addresses = new[] { "10.0.0.1/8" } } });
        Assert.Equal(HttpStatusCode.BadRequest, badWorkload.StatusCode);
        Assert.Contains("host bits set", await badWorkload.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        const string kubectl = """
            {"kind": "List", "items": [
              {"kind": "Namespace", "metadata": {"name": "shop", "annotations": {"visibility.io/env": "prod"}}},
              {"kind": "Pod", "metadata": {"name": "cart-1", "namespace": "shop", "labels": {"app": "cart"}},
               "status": {"phase": "Running", "podIP": "10.244.3.3", "startTime": "2026-11-26T10:00:00Z"}}]}
            """;
        using (var imported = await service.Http.PutAsync("/api/v1/workloads/kubernetes", new StringContent(kubectl, System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, imported.StatusCode);
        }

        var listed = await service.Http.GetFromJsonAsync<JsonElement>("/api/v1/workloads");
        var cart = Assert.Single(listed.EnumerateArray(), w => w.GetProperty("name").GetString() == "shop/cart-1");
        Assert.Equal("prod", cart.GetProperty("labels").GetProperty("env").GetString());
        Assert.Equal("pod", cart.GetProperty("kind").GetString());

        using (var notKubectl = await service.Http.PutAsync("/api/v1/workloads/kubernetes", new StringContent("{\"items\": 5}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, notKubectl.StatusCode);
        }

        using var openApi = await service.Http.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, openApi.StatusCode);
        Assert.Contains("/api/v1/graph", await openApi.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Views_SavedListedReplacedDeleted_BadOnesRefusedByName_LabelsListTheInventory()
    {
        await using var service = VisibilityProcess.Start(DataPath);
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using var created = await service.Http.PostAsJsonAsync("/api/v1/views", new { name = "dev → prod", query = "?groupBy=app,env&last=24h&filter=src.env = dev&width=" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var view = await created.Content.ReadFromJsonAsync<JsonElement>();
        var id = view.GetProperty("id").GetString()!;
        Assert.Equal($"/api/v1/views/{id}", created.Headers.Location?.ToString());
        Assert.Equal("last=24h&groupBy=app%2Cenv&filter=src.env%20%3D%20dev", view.GetProperty("query").GetString());

        var listed = await service.Http.GetFromJsonAsync<JsonElement>("/api/v1/views");
        Assert.Equal(id, Assert.Single(listed.EnumerateArray()).GetProperty("id").GetString());
        using (var replaced = await service.Http.PutAsJsonAsync($"/api/v1/views/{id}", new { name = "renamed", query = "last=7d" }))
        {
            Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        }

        var got = await service.Http.GetFromJsonAsync<JsonElement>($"/api/v1/views/{id}");
        Assert.Equal(("renamed", "last=7d"), (got.GetProperty("name").GetString(), got.GetProperty("query").GetString()));

        var bad = new (HttpMethod Method, string Url, object? Body, HttpStatusCode Status, string Expected)[]
        {
            (HttpMethod.Post, "/api/v1/views", new { name = "", query = "last=1h" }, HttpStatusCode.BadRequest, "name must be 1 to 200 characters"),
            (HttpMethod.Post, "/api/v1/views", new { name = "v", query = "last=1h&evil=1" }, HttpStatusCode.BadRequest, "'evil' is not a view parameter"),
            (HttpMethod.Post, "/api/v1/views", new { name = "v", query = "filter=src.env = = dev" }, HttpStatusCode.BadRequest, "position 11"),
            (HttpMethod.Post, "/api/v1/views", new { name = "v", query = "groupBy=app;drop" }, HttpStatusCode.BadRequest, "not a valid label key"),
            (HttpMethod.Get, "/api/v1/views/not-an-id", null, HttpStatusCode.BadRequest, "'not-an-id' is not a view id"),
            (HttpMethod.Get, "/api/v1/views/aaaaaaaaaaaaaaaa", null, HttpStatusCode.NotFound, "no saved view 'aaaaaaaaaaaaaaaa'"),
            (HttpMethod.Put, "/api/v1/views/aaaaaaaaaaaaaaaa", new { name = "v", query = "" }, HttpStatusCode.NotFound, "no saved view"),
        };
        foreach (var (method, url, body, status, expected) in bad)
        {
            using var request = new HttpRequestMessage(method, url) { Content = body is null ? null : JsonContent.Create(body) };
            using var response = await service.Http.SendAsync(request);
            Assert.Equal(status, response.StatusCode);
            Assert.Contains(expected, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var deleted = await service.Http.DeleteAsync($"/api/v1/views/{id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        using (var gone = await service.Http.GetAsync($"/api/v1/views/{id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        var vocabulary = await service.Http.GetFromJsonAsync<JsonElement>("/api/v1/labels");
        Assert.Equal(["dev", "prod"], vocabulary.GetProperty("labels").GetProperty("env").EnumerateArray().Select(v => v.GetString()));
        Assert.Contains("prod-db-1", vocabulary.GetProperty("workloads").EnumerateArray().Select(v => v.GetString()));
        Assert.Contains("cross_env", vocabulary.GetProperty("findings").EnumerateArray().Select(v => v.GetString()));
    }

    [Fact]
    public async Task Serve_InventoryFile_LoadedAtStartAndListed()
    {
        Directory.CreateDirectory(DataPath);
        var inventory = Path.Combine(DataPath, "inventory.json");
        await File.WriteAllTextAsync(inventory, JsonSerializer.Serialize(DemoEstate.Workloads));
        await using var service = VisibilityProcess.Start(Path.Combine(DataPath, "store"), environment: new Dictionary<string, string>
        {
            ["Visibility__Inventory__Path"] = inventory,
        });
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        var workloads = await service.Http.GetFromJsonAsync<JsonElement>("/api/v1/workloads");
        Assert.Equal(
            DemoEstate.Workloads.Select(w => w.Name).Order(StringComparer.Ordinal),
            workloads.EnumerateArray().Select(w => w.GetProperty("name").GetString()!));
    }

    [Fact]
    public async Task Serve_NonLoopbackAddressWithoutAuthentication_IsRefused()
    {
        await using var service = VisibilityProcess.Start(DataPath, environment: new Dictionary<string, string>
        {
            ["Visibility__Http__Urls"] = $"http://0.0.0.0:{FreePorts.Tcp()}",
        });
        var code = await service.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, code);
        Assert.Contains("authentication may be off only when every listen address is loopback", service.Output, StringComparison.Ordinal);
    }

    internal sealed record EdgeTotals(long Flows, long Bytes, long Packets, bool CrossEnv);

    /// <summary>Produces every demo conversation <see cref="ConnectionsPerConversation"/> times (NEW and DESTROY) and returns the expected edges.</summary>
    private static Dictionary<(string, string), EdgeTotals> ProduceConversations(string bootstrap, int malformedAfter)
    {
        var expected = new Dictionary<(string, string), EdgeTotals>();
        var start = DateTimeOffset.UtcNow.AddMinutes(-2);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        var n = 0;
        for (var round = 0; round < ConnectionsPerConversation; round++)
        {
            foreach (var (src, dst, proto, port) in DemoEstate.Conversations)
            {
                n++;
                var c = new Ulogd2Writer.Connection((uint)n, src, dst, proto, (ushort)(20000 + n), port, start.AddMilliseconds(n), start.AddMilliseconds(n + 500),
                    (ulong)(100 + n), 2, (ulong)(1000 + n), 3);
                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.New(c) });
                if (n == malformedAfter)
                {
                    // A record cut short in transit: recognisably ulogd2, but not complete JSON.
                    producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.New(c)[..200] });
                }

                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
                var key = (NodeOf(src), NodeOf(dst));
                var cross = Env(src) is { } a && Env(dst) is { } b && a != b;
                expected[key] = expected.TryGetValue(key, out var t)
                    ? t with { Flows = t.Flows + 1, Bytes = t.Bytes + 1100 + (2 * n), Packets = t.Packets + 5 }
                    : new EdgeTotals(1, 1100 + (2 * n), 5, cross);
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        return expected;
    }

    private static string NodeOf(string address)
    {
        var workload = DemoEstate.Workloads.SingleOrDefault(w => w.Addresses.Contains(address));
        if (workload is null)
        {
            return address == DemoEstate.InternetSource ? "internet" : "unknown";
        }

        return $"app={workload.Labels["app"]},env={workload.Labels["env"]}";
    }

    private static string? Env(string address) =>
        DemoEstate.Workloads.SingleOrDefault(w => w.Addresses.Contains(address))?.Labels["env"];

    internal static Task<JsonDocument> WaitForGraphAsync(HttpClient http, Func<JsonDocument, bool> done, TimeSpan timeout) =>
        Eventually.WaitAsync(
            async () => JsonDocument.Parse(await http.GetStringAsync("/api/v1/graph?last=1h&groupBy=app,env")), done, timeout, "the graph complete",
            interval: TimeSpan.FromMilliseconds(200));

    /// <summary>The metrics once they satisfy <paramref name="done"/>, or the last ones read when time runs out (the caller asserts on them).</summary>
    private static Task<string> WaitForMetricsAsync(HttpClient http, Func<string, bool> done, TimeSpan timeout) =>
        Eventually.LastAsync(() => http.GetStringAsync("/metrics"), done, timeout, TimeSpan.FromMilliseconds(200));

    internal static Dictionary<(string, string), EdgeTotals> Edges(JsonDocument graph) =>
        graph.RootElement.GetProperty("edges").EnumerateArray().ToDictionary(
            e => (e.GetProperty("source").GetString()!, e.GetProperty("target").GetString()!),
            e => new EdgeTotals(e.GetProperty("flows").GetInt64(), e.GetProperty("bytes").GetInt64(), e.GetProperty("packets").GetInt64(), e.GetProperty("crossEnv").GetBoolean()));
}
