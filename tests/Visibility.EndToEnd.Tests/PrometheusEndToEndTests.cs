using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Ingest.Demo;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// A real Prometheus (Debian's package, installed by infra/setup/install-deps.sh) scrapes the management listener of
/// a running <c>serve</c> with authentication on, without a key, while records stream through its development
/// broker; its HTTP API then holds the documented series. <c>promtool check metrics</c> accepts the exposition.
/// </summary>
public sealed class PrometheusEndToEndTests(ITestOutputHelper log) : IDisposable
{
    private const int Records = 6_000;
    private readonly TempDirectory data = new("visibility-e2e-prometheus", create: true);

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task Prometheus_ScrapesManagementListenerWithoutKey_DuringIngest_FindsDocumentedSeries()
    {
        await using var service = VisibilityProcess.Start(Path.Combine(data.Path, "store"), environment: new Dictionary<string, string>
        {
            ["Visibility__Auth__Disabled"] = "false",

            // A sink, so that the export series are there too.
            ["Visibility__Export__Sinks__e2e__Type"] = "file",
            ["Visibility__Export__Sinks__e2e__Path"] = "e2e.jsonl",
            ["Visibility__Export__Sinks__e2e__Content"] = "summaries",
            ["Visibility__Export__Sinks__e2e__Format"] = "json",
            ["Visibility__Export__Sinks__e2e__Interval"] = "1s",
            ["Visibility__Export__Sinks__e2e__Delay"] = "1s",
        });
        var key = await service.WaitForPrintedKeyAsync(TimeSpan.FromSeconds(90));
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));

        // The API listener wants a key for all three; the management listener none, and it knows no API route.
        using (var anonymous = new HttpClient { BaseAddress = new Uri(service.BaseUrl) })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/readyz")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await service.Management.GetAsync("/api/v1/workloads")).StatusCode);
        using (var ready = await service.Management.GetAsync("/readyz"))
        {
            var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("Healthy", body.GetProperty("checks").GetProperty("store").GetProperty("status").GetString());
            Assert.Contains("5 MiB", body.GetProperty("checks").GetProperty("broker").GetProperty("data").GetProperty("developmentBroker").GetString(), StringComparison.Ordinal);
        }

        await using var prometheus = await PrometheusServer.StartAsync(data.Path, service.ManagementPort, log);

        // An ingest run: records arrive over several scrapes (one malformed); API requests give the HTTP histogram
        // API routes, and a policy draft and simulation the policy series.
        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var produced = Task.Run(() => Produce(service.Bootstrap));
        Assert.Equal(HttpStatusCode.OK, (await service.Http.GetAsync("/api/v1/graph?last=15m")).StatusCode);
        await produced;
        await service.WaitAsync(
            async () => IngestRig.Metric(await service.Management.GetStringAsync("/metrics"), "visibility_ingest_stored_total"),
            stored => stored >= Records, TimeSpan.FromSeconds(90), $"{Records} records stored");
        var draft = await service.Http.GetFromJsonAsync<JsonElement>("/api/v1/policy/draft?last=15m");
        using (var simulated = await service.Http.PostAsJsonAsync("/api/v1/policy/simulate", new { ruleset = draft.GetProperty("ruleset"), last = "15m" }))
        {
            Assert.True(simulated.IsSuccessStatusCode, await simulated.Content.ReadAsStringAsync());
        }

        // What Prometheus scraped: the target up, the ingest counters at the end of the run, lag per partition,
        // the HTTP request duration histogram by route and status, the runtime's memory.
        await prometheus.WaitForAsync("up{job=\"visibility\"}", r => r.Count == 1 && r[0].Value == 1);
        await prometheus.WaitForAsync("visibility_ingest_records_total", r => r.Count == 1 && r[0].Value == Records + 1);
        await prometheus.WaitForAsync("visibility_ingest_dead_lettered_total", r => r.Count == 1 && r[0].Value == 1);
        await prometheus.WaitForAsync("visibility_ingest_stored_total", r => r.Count == 1 && r[0].Value == Records);
        await prometheus.WaitForAsync("visibility_ingest_batches_total", r => r.Count == 1 && r[0].Value > 0);
        var lag = await prometheus.WaitForAsync("visibility_kafka_consumer_lag{topic=\"flows\"}", r => r.Count > 1);
        Assert.All(lag, s => Assert.True(int.TryParse(s.Labels["partition"], CultureInfo.InvariantCulture, out _), s.ToString()));
        await prometheus.WaitForAsync("visibility_ingest_consumer_lag{topic=\"flows\"}", r => r.Count > 1);
        await prometheus.WaitForAsync("visibility_kafka_broker_rtt_seconds", r => r.Count > 0);
        await prometheus.WaitForAsync(
            "http_server_request_duration_seconds_count{http_route=\"/api/v1/graph\",http_response_status_code=\"200\"}", r => r.Count == 1 && r[0].Value >= 1);
        await prometheus.WaitForAsync("http_server_request_duration_seconds_bucket{http_route=\"/metrics\",le=\"+Inf\"}", r => r.Count >= 1 && r[0].Value >= 1);
        await prometheus.WaitForAsync("dotnet_process_memory_working_set_bytes", r => r.Count == 1 && r[0].Value > 10_000_000);
        await prometheus.WaitForAsync("dotnet_gc_heap_total_allocated_bytes_total", r => r.Count == 1 && r[0].Value > 0);
        await prometheus.WaitForAsync("dotnet_thread_pool_threads", r => r.Count == 1 && r[0].Value > 0);
        await prometheus.WaitForAsync("visibility_store_insert_seconds_count{backend=\"embedded\",outcome=\"ok\"}", r => r.Count == 1 && r[0].Value > 0);
        await prometheus.WaitForAsync("visibility_store_query_seconds_count{backend=\"embedded\",outcome=\"ok\"}", r => r.Count == 1 && r[0].Value > 0);
        await prometheus.WaitForAsync("visibility_ingest_batch_store_seconds_count", r => r.Count == 1 && r[0].Value > 0);
        await prometheus.WaitForAsync("visibility_policy_operation_seconds_count{operation=\"simulate\"}", r => r.Count == 1 && r[0].Value == 1);
        await prometheus.WaitForAsync("visibility_policy_simulated_flows_total{verdict=\"allowed\"}", r => r.Count == 1 && r[0].Value > 0);
        await prometheus.WaitForAsync("visibility_export_sequence{sink=\"e2e\",format=\"json\"}", r => r.Count == 1);

        // Every series docs/metrics.md documents is there, but those that appear with their first event: store errors,
        // records lost to retention (LogRetentionLossEndToEndTests) and unclosed connections (UnclosedConnectionsEndToEndTests).
        string[] eventual = ["visibility_store_errors_total", "visibility_ingest_records_lost_total", "visibility_source_connections_unclosed"];
        var names = await prometheus.WaitForNamesAsync(Documented().Except(eventual).ToList());
        log.WriteLine($"{names.Count} metric names in Prometheus");

        // promtool lints the exposition as Prometheus reads it.
        var exposition = await service.Management.GetStringAsync("/metrics");
        var (exit, stdout, stderr) = await ProcessRunner.RunAsync("promtool", ["check", "metrics"], stdin: exposition);
        Assert.True(exit == 0, $"promtool check metrics exited {exit}:\n{stdout}{stderr}");

        // The key plays no part in probes: the API is used with it, the management listener never.
        Assert.Equal(HttpStatusCode.OK, (await service.Management.GetAsync("/readyz")).StatusCode);
        Assert.StartsWith("vis_", key, StringComparison.Ordinal);
    }

    /// <summary>The series names in docs/metrics.md's tables (the first column's code spans).</summary>
    private static IEnumerable<string> Documented() =>
        File.ReadLines(Path.Combine(Repository.Root, "docs", "metrics.md"))
            .Where(l => l.StartsWith("| `", StringComparison.Ordinal))
            .SelectMany(l => System.Text.RegularExpressions.Regex.Matches(l.Split('|')[1], "`([a-z_]+)`").Select(m => m.Groups[1].Value))
            .Where(n => n.Contains('_', StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal);

    /// <summary>Produces <see cref="Records"/> flow records (DESTROY events), and one malformed, to the <c>flows</c> topic, spread over a few seconds.</summary>
    private static void Produce(string bootstrap)
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap, LingerMs = 5 }).Build();
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < Records; i++)
        {
            var (src, dst, proto, port) = DemoEstate.Conversations[i % DemoEstate.Conversations.Count];
            var connection = new Ulogd2Writer.Connection((uint)i + 1, src, dst, proto, (ushort)(1024 + i), port, now, now, 100, 2, 1000, 3);
            producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.Destroy(connection) });
            if (i == Records / 2)
            {
                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.Destroy(connection)[..40] });
            }

            if (i % 500 == 499)
            {
                producer.Flush(TimeSpan.FromSeconds(30));
                Thread.Sleep(250);
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }
}
