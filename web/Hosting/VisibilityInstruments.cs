using System.Diagnostics.Metrics;
using Visibility.Ingest.Conntrack;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export.Runtime;
using Visibility.Query.Export.Streams;
using Visibility.Web.Http;

namespace Visibility.Web.Hosting;

/// <summary>
/// The program's own instruments. The stages keep their counters as plain fields (<see cref="SourceMetrics"/>,
/// <see cref="PipelineMetrics"/>, <see cref="WriterMetrics"/>, the export sinks' status, <see cref="HttpLimitMetrics"/>);
/// observable instruments read them when a scrape collects, so the hot path is what it was. Names are the Prometheus
/// names (the exporter adds no suffix to them).
/// </summary>
public sealed class VisibilityInstruments
{
    public const string Ingest = "Visibility.Ingest";

    /// <summary>The store's availability as ingest sees it (its insert and query latencies: <see cref="Flows.Store.StoreTelemetry"/>).</summary>
    public const string Store = "Visibility.Store";

    public const string Export = "Visibility.Export";

    public const string Http = "Visibility.Http";

    public static readonly string[] MeterNames = [Ingest, Store, Export, Http];

    public VisibilityInstruments(IMeterFactory meters, IngestMetrics ingest, IServiceProvider services)
    {
        AddIngest(meters.Create(Ingest), ingest, () => services.GetService<UnclosedConnections>());
        AddStore(meters.Create(Store), ingest.Writer);
        AddExport(meters.Create(Export), () => services.GetService<ExportService>()?.Statuses() ?? [], () => services.GetService<ExportService>()?.LeaseHeld == true);
        AddHttp(meters.Create(Http), () => services.GetService<HttpLimitMetrics>());
    }

    private static void AddIngest(Meter meter, IngestMetrics m, Func<UnclosedConnections?> unclosed)
    {
        Counter(meter, "visibility_ingest_records_total", "Records consumed from Kafka.", () => m.Pipeline.RecordsIn);
        Counter(meter, "visibility_ingest_decoded_total", "Records decoded into flows.", () => m.Pipeline.Decoded);
        Counter(meter, "visibility_ingest_enriched_total", "Flows enriched with workload labels.", () => m.Pipeline.Enriched);
        Counter(meter, "visibility_ingest_skipped_total", "Well-formed records without a flow.", () => m.Pipeline.Skipped);
        Counter(meter, "visibility_ingest_stored_total", "Records stored (insert acknowledged and progress recorded).", () => m.Writer.Stored);
        Counter(meter, "visibility_ingest_batches_total", "Batches stored and committed.", () => m.Writer.Batches);
        Counter(meter, "visibility_ingest_store_retries_total", "Failed store operations that were retried.", () => m.Writer.InsertRetries);
        Counter(meter, "visibility_ingest_commit_errors_total", "Offset commits to Kafka that failed.", () => m.Source.CommitErrors);
        Counter(meter, "visibility_ingest_dead_letter_errors_total", "Dead-letter deliveries that failed.", () => m.Source.DeadLetterErrors);
        Counter(meter, "visibility_ingest_already_stored_total", "Records skipped on resume because an unacknowledged insert had already stored them.", () => m.Pipeline.AlreadyStored);
        Counter(meter, "visibility_ingest_assignments_total", "Partition assignments received.", () => m.Source.Assignments);
        Counter(meter, "visibility_ingest_revocations_total", "Partition revocations received.", () => m.Source.Revocations);
        Counter(meter, "visibility_ingest_partitions_lost_total", "Times partitions were lost without a revocation.", () => m.Source.Losses);
        Gauge(meter, "visibility_ingest_buffered_records", "Records read from Kafka and held until their batch is stored.", () => m.Pipeline.Buffered);
        Gauge(meter, "visibility_ingest_paused_consumers", "Consumers with their partitions paused because the store takes no batches.", () => m.Source.PausedConsumers);
        meter.CreateObservableCounter(
            "visibility_ingest_dead_lettered_total",
            () => m.Pipeline.Invalid.Select(kv => new Measurement<long>(kv.Value, Tag("reason", kv.Key))),
            unit: null, description: "Malformed records sent to the dead-letter topic, by reason.");
        meter.CreateObservableGauge(
            "visibility_ingest_consumer_lag",
            () => m.Source.Lag.Select(kv => new Measurement<long>(kv.Value, Tag("topic", kv.Key.Topic), Tag("partition", Partition(kv.Key.Partition)))),
            unit: null, description: "Records behind the end of each assigned partition, as of its last stored batch.");
        meter.CreateObservableCounter(
            "visibility_ingest_records_lost_total",
            () => m.Source.RecordsLost.Select(kv => new Measurement<long>(kv.Value, Tag("topic", kv.Key.Topic), Tag("partition", Partition(kv.Key.Partition)))),
            unit: null, description: "Records retention deleted from a partition before they were read (its log start passed the group's position), by partition.");
        meter.CreateObservableGauge(
            "visibility_source_connections_unclosed",
            () => (unclosed()?.ByProtocol ?? new Dictionary<string, long>()).Select(kv => new Measurement<long>(kv.Value, Tag("protocol", kv.Key))),
            unit: null, description: "Connections opened and never closed although their protocol's conntrack timeout has passed (their end was probably lost at the source), by protocol.");
        m.Writer.Publish(meter);

        // librdkafka's own view, from its statistics: parsed here, when collected, never on the consuming thread.
        meter.CreateObservableGauge(
            "visibility_kafka_consumer_lag",
            () => m.Source.Kafka.Current().SelectMany(c => c.Partitions.Select(p =>
                new Measurement<long>(p.Lag, Tag("client", c.Client), Tag("topic", p.Topic), Tag("partition", Partition(p.Partition))))),
            unit: null, description: "Records between each fetched partition's high watermark and the group's committed offset, per librdkafka's statistics.");
        meter.CreateObservableGauge(
            "visibility_kafka_broker_rtt_seconds",
            () => m.Source.Kafka.Current().SelectMany(c => c.Brokers.Where(b => b.RoundTripSeconds is not null).Select(b =>
                new Measurement<double>(b.RoundTripSeconds!.Value, Tag("client", c.Client), Tag("broker", b.Name)))),
            unit: null, description: "Average request round trip to each broker over the last statistics interval, per librdkafka.");
        meter.CreateObservableGauge(
            "visibility_kafka_broker_up",
            () => m.Source.Kafka.Current().SelectMany(c => c.Brokers.Select(b =>
                new Measurement<int>(b.Up ? 1 : 0, Tag("client", c.Client), Tag("broker", b.Name)))),
            unit: null, description: "1 when the client's connection to the broker is up, per librdkafka's statistics.");
    }

    private static void AddStore(Meter meter, WriterMetrics writer)
    {
        Gauge(meter, "visibility_store_available", "1 when the ingest writers' last store operations succeeded, 0 while one is failing and retrying.", () => writer.StoreAvailable ? 1 : 0);
        meter.CreateObservableCounter(
            "visibility_store_errors_total",
            () => writer.StoreErrors.Select(kv => new Measurement<long>(kv.Value, Tag("operation", kv.Key))),
            unit: null, description: "Store operations that failed, by operation.");
    }

    private static void AddExport(Meter meter, Func<IReadOnlyList<ExportStreamStatus>> sinks, Func<bool> leaseHeld)
    {
        Gauge(meter, "visibility_export_lease_held", "1 while this process holds the store's export lease and streams to the sinks, else 0.", () => leaseHeld() ? 1 : 0);
        ExportCounter(meter, sinks, "visibility_export_records_sent_total", "Records handed to the sink's destination.", s => s.RecordsSent);
        ExportCounter(meter, sinks, "visibility_export_records_confirmed_total", "Records the destination confirmed (checkpointed).", s => s.RecordsConfirmed);
        ExportCounter(meter, sinks, "visibility_export_bytes_sent_total", "Record bytes handed to the destination (before framing).", s => s.BytesSent);
        ExportCounter(meter, sinks, "visibility_export_retries_total", "Failed sends, confirmations or store operations that were retried.", s => s.Retries);
        ExportCounter(meter, sinks, "visibility_export_dropped_total", "Records beyond the per-interval bound, not exported.", s => s.Dropped);
        meter.CreateObservableGauge("visibility_export_pending", () => sinks().Select(s => new Measurement<long>(s.Pending, SinkTags(s))),
            unit: null, description: "Records sent and not yet confirmed.");
        meter.CreateObservableGauge("visibility_export_lag_seconds", () => sinks().Select(s => new Measurement<double>(s.LagSeconds, SinkTags(s))),
            unit: null, description: "How far the stream is behind (now minus the next interval's due time).");
        meter.CreateObservableGauge("visibility_export_sequence", () => sinks().Select(s => new Measurement<long>(s.Sequence, SinkTags(s))),
            unit: null, description: "Sequence number of the last confirmed record.");
    }

    private static void AddHttp(Meter meter, Func<HttpLimitMetrics?> limits) =>
        meter.CreateObservableCounter<long>(
            "visibility_http_rejected_total",
            () => limits() is { } l
                ? [new Measurement<long>(l.RateLimitedCount, Tag("reason", "rate_limit")), new Measurement<long>(l.BodyTooLargeCount, Tag("reason", "body_too_large"))]
                : [],
            unit: null, description: "Requests refused by an HTTP limit, by reason.");

    private static void Counter(Meter meter, string name, string description, Func<long> value) =>
        meter.CreateObservableCounter(name, value, unit: null, description: description);

    private static void Gauge(Meter meter, string name, string description, Func<long> value) =>
        meter.CreateObservableGauge(name, value, unit: null, description: description);

    private static void ExportCounter(Meter meter, Func<IReadOnlyList<ExportStreamStatus>> sinks, string name, string description, Func<ExportStreamStatus, long> value) =>
        meter.CreateObservableCounter(name, () => sinks().Select(s => new Measurement<long>(value(s), SinkTags(s))), unit: null, description: description);

    private static KeyValuePair<string, object?>[] SinkTags(ExportStreamStatus s) => [Tag("sink", s.Name), Tag("format", s.Format)];

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    private static string Partition(int partition) => partition.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
