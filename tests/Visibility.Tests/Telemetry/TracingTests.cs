using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Trace;
using Visibility.Flows;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Demo;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;
using Visibility.Query;
using Visibility.Query.Security;
using Visibility.Tests.Support;
using Visibility.Web.Api;
using Visibility.Web.Auth;
using Visibility.Web.Hosting;

namespace Visibility.Tests.Telemetry;

/// <summary>
/// The documented spans, caught by OpenTelemetry's in-memory exporter as <c>serve</c> registers tracing
/// (<see cref="TracingServices"/>): an ingest batch through the real pipeline (development broker, chDB) is one trace
/// from read to commit, and a graph request on a Kestrel listener runs through planner and store under the HTTP span.
/// Tracer providers listen process-wide, so each test picks its own spans by its store's database.
/// </summary>
public sealed class TracingTests
{
    [Fact]
    public async Task IngestBatch_OneTrace_ReadStoreAndCommitUnderTheBatch_StoreSpansUnderStore()
    {
        var spans = new SpanLog();
        using var tracing = Tracing(spans);
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "traced-" + Guid.NewGuid().ToString("N")[..8], GroupId = "traced" };
        broker.CreateTopic(kafka.Topic, 1);
        var store = await TestStore.CreateAsync();
        var metrics = new IngestMetrics();
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            var now = DateTimeOffset.UtcNow;
            for (uint i = 1; i <= 30; i++)
            {
                producer.Produce(kafka.Topic, new Message<Null, string> { Value = Ulogd2Writer.Destroy(new(i, "10.1.1.1", "10.2.2.2", 6, 1000, 80, now, now, 1, 1, 1, 1)) });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var consumer = new IngestConsumer(store, new Dictionary<string, IFlowDecoder> { [kafka.Topic] = new Ulogd2JsonDecoder() },
            new WorkloadInventory(Options.Create(new InventoryOptions())), metrics,
            new IngestOptions { BatchSize = 10, BatchLinger = TimeSpan.FromMilliseconds(20) }, kafka, deadLetters, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync(broker.BootstrapServers, stop.Token);
        await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= 30, TimeSpan.FromSeconds(60), "storing every record");
        await stop.CancelAsync();
        await run;

        var all = spans.Snapshot();
        var inserts = all.Where(s => s.Source.Name == StoreTelemetry.SourceName && s.OperationName == StoreTelemetry.Insert && Database(s) == store.Database).ToList();
        Assert.NotEmpty(inserts);
        foreach (var insert in inserts)
        {
            var storing = Parent(all, insert);
            Assert.Equal((IngestTelemetry.SourceName, IngestTelemetry.Store), (storing.Source.Name, storing.OperationName));
            var batch = Parent(all, storing);
            Assert.Equal((IngestTelemetry.SourceName, IngestTelemetry.Batch), (batch.Source.Name, batch.OperationName));
            Assert.Equal(default, batch.ParentSpanId);
            Assert.Equal(ActivityKind.Consumer, batch.Kind);
            Assert.All(new[] { storing, insert }, s => Assert.Equal(batch.TraceId, s.TraceId));

            // One read span and one commit span under the batch; the progress record under the store span.
            var children = all.Where(s => s.ParentSpanId == batch.SpanId && s.TraceId == batch.TraceId).Select(s => s.OperationName).Order().ToList();
            Assert.Equal([IngestTelemetry.Commit, IngestTelemetry.Read, IngestTelemetry.Store], children);
            Assert.Contains(all, s => s.OperationName == StoreTelemetry.Progress && s.ParentSpanId == storing.SpanId);
            var read = all.Single(s => s.ParentSpanId == batch.SpanId && s.OperationName == IngestTelemetry.Read);
            var commit = all.Single(s => s.ParentSpanId == batch.SpanId && s.OperationName == IngestTelemetry.Commit);
            Assert.True(read.StartTimeUtc >= batch.StartTimeUtc && read.StartTimeUtc + read.Duration <= storing.StartTimeUtc, "read before store");
            Assert.True(commit.StartTimeUtc >= storing.StartTimeUtc + storing.Duration && commit.StartTimeUtc + commit.Duration <= batch.StartTimeUtc + batch.Duration, "commit after store, within the batch");
            Assert.True((int)batch.GetTagItem("visibility.records")! > 0);
        }

        // Every stored record belongs to a traced batch: the batches' records add up to what was read.
        var batches = inserts.Select(i => Parent(all, Parent(all, i))).DistinctBy(b => b.SpanId).ToList();
        var grouped = inserts.Select(i => Parent(all, i)).SelectMany(s => s.Links.Select(l => l.Context.SpanId)).ToHashSet();
        var records = batches.Sum(b => (int)b.GetTagItem("visibility.records")!)
            + all.Where(s => s.OperationName == IngestTelemetry.Batch && grouped.Contains(s.SpanId)).Sum(b => (int)b.GetTagItem("visibility.records")!);
        Assert.Equal(30, records);
    }

    [Fact]
    public async Task GraphRequest_HttpSpan_QueryGraph_PlanAndStoreQueriesBelow()
    {
        var spans = new SpanLog();
        var store = await TestStore.CreateAsync();
        var index = WorkloadIndex.Build([
            new WorkloadSpec { Name = "api", Addresses = ["10.1.1.1"], Labels = new Dictionary<string, string> { ["app"] = "api" } },
            new WorkloadSpec { Name = "db", Addresses = ["10.2.2.2"], Labels = new Dictionary<string, string> { ["app"] = "db" } },
        ]);
        var batch = new FlowBatch();
        batch.Add(TestFlows.Connection(index, FindingRules.Default, 1, "10.1.1.1", "10.2.2.2", 5432, DateTimeOffset.UtcNow.AddMinutes(-5)));
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddVisibilityTracing(builder.Configuration, t => t.AddInMemoryExporter(spans));
        builder.Services.AddProblemDetails();
        builder.Services.AddFlowModel(builder.Configuration);
        builder.Services.AddSingleton<IFlowReader>(store);
        builder.Services.AddSingleton(Options.Create(new StoreOptions { Database = store.Database, Retention = TimeSpan.FromDays(3650) }));
        builder.Services.AddSingleton<IWorkloadCatalog>(new WorkloadInventory(Options.Create(new InventoryOptions())));
        builder.Services.AddQuery(builder.Configuration);
        await using var app = builder.Build();
        app.Use((context, next) =>
        {
            context.User = VisibilityClaims.Create("key:tracing00001", Roles.Viewer, AccessScope.Parse(""), "test");
            return next(context);
        });
        app.MapGroup("/api/v1").MapQueryApi();
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };
            using var response = await http.GetAsync(new Uri("/api/v1/graph?last=1h&groupBy=app", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var graph = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Single(graph.RootElement.GetProperty("edges").EnumerateArray());

            // The server's span ends once the response is written: wait for it rather than race it.
            var all = await Eventually.WaitAsync(
                () => Task.FromResult(spans.Snapshot()), s => s.Any(a => a.Source.Name == "Microsoft.AspNetCore"), TimeSpan.FromSeconds(10), "the request's span");
            var graphSpan = all.Single(s => s.Source.Name == QueryTelemetry.SourceName && s.OperationName == QueryTelemetry.Graph
                && all.Any(q => q.ParentSpanId == s.SpanId && Database(q) == store.Database));
            var request = Parent(all, graphSpan);
            Assert.Equal("Microsoft.AspNetCore", request.Source.Name);
            Assert.Equal(ActivityKind.Server, request.Kind);
            Assert.Equal("GET /api/v1/graph", request.DisplayName);

            var below = all.Where(s => s.ParentSpanId == graphSpan.SpanId).ToList();
            Assert.Contains(below, s => s.Source.Name == QueryTelemetry.SourceName && s.OperationName == QueryTelemetry.Plan && s.GetTagItem("visibility.plan") is string);
            Assert.Contains(below, s => s.Source.Name == StoreTelemetry.SourceName && s.OperationName == StoreTelemetry.Query && s.Kind == ActivityKind.Client);
            Assert.All(below, s => Assert.Equal(request.TraceId, s.TraceId));
            Assert.Equal(1, graphSpan.GetTagItem("visibility.edges"));
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public void OtlpSwitch_OffByDefault_OnByEndpointOrExporter_OffWhenDisabledOrNone()
    {
        Assert.False(TracingServices.OtlpExportEnabled(Configuration()));
        Assert.True(TracingServices.OtlpExportEnabled(Configuration(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"))));
        Assert.True(TracingServices.OtlpExportEnabled(Configuration(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces"))));
        Assert.True(TracingServices.OtlpExportEnabled(Configuration(("OTEL_TRACES_EXPORTER", "otlp"))));
        Assert.True(TracingServices.OtlpExportEnabled(Configuration(("OTEL_TRACES_EXPORTER", "console, otlp"))));
        Assert.False(TracingServices.OtlpExportEnabled(Configuration(("OTEL_TRACES_EXPORTER", "none"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"))));
        Assert.False(TracingServices.OtlpExportEnabled(Configuration(("OTEL_TRACES_EXPORTER", "zipkin"))));
        Assert.False(TracingServices.OtlpExportEnabled(Configuration(("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "otlp"))));

        // The start log says where traces go (never the endpoint's user information), or why an exporter is not used.
        Assert.Null(TracingServices.StartNotice(Configuration(), otlp: false));
        var on = TracingServices.StartNotice(Configuration(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:secret@collector:4318")), otlp: true);
        Assert.Equal(LogLevel.Information, on?.Level);
        Assert.Contains("over OTLP to http://collector:4318/", on?.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", on?.Text, StringComparison.Ordinal);
        var zipkin = TracingServices.StartNotice(Configuration(("OTEL_TRACES_EXPORTER", "zipkin")), otlp: false);
        Assert.Equal((LogLevel.Warning, "Tracing is off: OTEL_TRACES_EXPORTER names zipkin, and this build exports traces over OTLP only (OTEL_TRACES_EXPORTER=otlp)"), zipkin);

        // Off, no tracer provider is registered at all: nothing listens to the stages' sources.
        using var off = new ServiceCollection().AddVisibilityTracing(Configuration()).BuildServiceProvider();
        Assert.Null(off.GetService<TracerProvider>());
    }

    [Fact]
    public async Task OtlpSwitch_EndpointSet_SpansReachTheCollectorOverOtlpHttp()
    {
        var received = new TaskCompletionSource<(string Path, string ContentType, byte[] Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var collector = builder.Build();
        collector.MapPost("/v1/traces", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            received.TrySetResult((context.Request.Path, context.Request.ContentType ?? "", body.ToArray()));
            context.Response.ContentType = "application/x-protobuf";
        });
        await collector.StartAsync();
        try
        {
            var configuration = Configuration(("OTEL_EXPORTER_OTLP_ENDPOINT", collector.Urls.Single()), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"));
            await using var services = new ServiceCollection().AddSingleton(configuration).AddVisibilityTracing(configuration).BuildServiceProvider();
            using var provider = services.GetRequiredService<TracerProvider>();
            var marker = "otlp-" + Guid.NewGuid().ToString("N");
            using (var source = new ActivitySource(IngestTelemetry.SourceName))
            {
                // The stage's own source name: what the provider subscribes to.
                using var activity = source.StartActivity(marker);
                Assert.NotNull(activity);
            }

            Assert.True(provider.ForceFlush(10_000));
            var (path, contentType, body) = await received.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("/v1/traces", path);
            Assert.Equal("application/x-protobuf", contentType);
            Assert.Contains(marker, System.Text.Encoding.UTF8.GetString(body), StringComparison.Ordinal);
        }
        finally
        {
            await collector.StopAsync();
        }
    }

    /// <summary>Tracing as <c>serve</c> registers it, exporting to <paramref name="spans"/>; listening until disposed.</summary>
    private static ServiceProvider Tracing(SpanLog spans)
    {
        var services = new ServiceCollection().AddVisibilityTracing(Configuration(), t => t.AddInMemoryExporter(spans)).BuildServiceProvider();
        services.GetRequiredService<TracerProvider>();
        return services;
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    private static string? Database(Activity span) => span.GetTagItem("db.namespace") as string;

    private static Activity Parent(IReadOnlyList<Activity> all, Activity span)
    {
        var parent = all.SingleOrDefault(s => s.SpanId == span.ParentSpanId && s.TraceId == span.TraceId);
        Assert.True(parent is not null, $"{span.OperationName}: no exported parent span {span.ParentSpanId}");
        return parent;
    }

    /// <summary>The exporter's collection, safe to read while spans from other threads are exported into it.</summary>
    private sealed class SpanLog : ICollection<Activity>
    {
        private readonly List<Activity> spans = [];
        private readonly Lock gate = new();

        public int Count
        {
            get
            {
                lock (gate)
                {
                    return spans.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public IReadOnlyList<Activity> Snapshot()
        {
            lock (gate)
            {
                return [.. spans];
            }
        }

        public void Add(Activity item)
        {
            lock (gate)
            {
                spans.Add(item);
            }
        }

        public void Clear()
        {
            lock (gate)
            {
                spans.Clear();
            }
        }

        public bool Contains(Activity item) => Snapshot().Contains(item);

        public void CopyTo(Activity[] array, int arrayIndex) => Snapshot().ToList().CopyTo(array, arrayIndex);

        public bool Remove(Activity item)
        {
            lock (gate)
            {
                return spans.Remove(item);
            }
        }

        public IEnumerator<Activity> GetEnumerator() => Snapshot().GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
