using System.Globalization;
using System.Text;
using Visibility.Ingest.Conntrack;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export.Streams;

namespace Visibility.Web.Api;

/// <summary>Renders <see cref="IngestMetrics"/> in Prometheus' text exposition format (version 0.0.4).</summary>
public static class MetricsText
{
    public static string Render(IngestMetrics m, UnclosedConnections? unclosed = null)
    {
        var sb = new StringBuilder();
        Counter(sb, "visibility_ingest_records_total", "Records consumed from Kafka.", m.Pipeline.RecordsIn);
        Counter(sb, "visibility_ingest_decoded_total", "Records decoded into flows.", m.Pipeline.Decoded);
        Counter(sb, "visibility_ingest_enriched_total", "Flows enriched with workload labels.", m.Pipeline.Enriched);
        Counter(sb, "visibility_ingest_skipped_total", "Well-formed records without a flow.", m.Pipeline.Skipped);
        Counter(sb, "visibility_ingest_stored_total", "Records stored (insert acknowledged and progress recorded).", m.Writer.Stored);
        Counter(sb, "visibility_ingest_batches_total", "Batches stored and committed.", m.Writer.Batches);
        Counter(sb, "visibility_ingest_store_retries_total", "Failed store operations that were retried.", m.Writer.InsertRetries);
        Counter(sb, "visibility_ingest_commit_errors_total", "Offset commits to Kafka that failed.", m.Source.CommitErrors);
        Counter(sb, "visibility_ingest_dead_letter_errors_total", "Dead-letter deliveries that failed.", m.Source.DeadLetterErrors);
        Counter(sb, "visibility_ingest_already_stored_total", "Records skipped on resume because an unacknowledged insert had already stored them.", m.Pipeline.AlreadyStored);
        Counter(sb, "visibility_ingest_assignments_total", "Partition assignments received.", m.Source.Assignments);
        Counter(sb, "visibility_ingest_revocations_total", "Partition revocations received.", m.Source.Revocations);
        Counter(sb, "visibility_ingest_partitions_lost_total", "Times partitions were lost without a revocation.", m.Source.Losses);
        Counter(sb, "visibility_ingest_landed_unacknowledged_total", "Batches an insert stored although it reported a failure; found on retry and not inserted again.", m.Writer.LandedUnacknowledged);
        Gauge(sb, "visibility_ingest_buffered_records", "Records read from Kafka and held until their batch is stored.", m.Pipeline.Buffered);
        Gauge(sb, "visibility_ingest_paused_consumers", "Consumers with their partitions paused because the store takes no batches.", m.Source.PausedConsumers);
        Gauge(sb, "visibility_store_available", "1 when the ingest writers' last store operations succeeded, 0 while one is failing and retrying.", m.Writer.StoreAvailable ? 1 : 0);
        Labelled(sb, "visibility_ingest_dead_lettered_total", "Malformed records sent to the dead-letter topic, by reason.", "counter",
            m.Pipeline.Invalid.Select(kv => ($"reason=\"{Escape(kv.Key)}\"", kv.Value)));
        Labelled(sb, "visibility_store_errors_total", "Store operations that failed, by operation.", "counter",
            m.Writer.StoreErrors.Select(kv => ($"operation=\"{Escape(kv.Key)}\"", kv.Value)));
        Labelled(sb, "visibility_ingest_consumer_lag", "Records behind the end of each assigned partition, as of its last stored batch.", "gauge",
            m.Source.Lag.Select(kv => ($"topic=\"{Escape(kv.Key.Topic)}\",partition=\"{kv.Key.Partition.ToString(CultureInfo.InvariantCulture)}\"", kv.Value)));
        Labelled(sb, "visibility_ingest_records_lost_total", "Records retention deleted from a partition before they were read (its log start passed the group's position), by partition.", "counter",
            m.Source.RecordsLost.Select(kv => ($"topic=\"{Escape(kv.Key.Topic)}\",partition=\"{kv.Key.Partition.ToString(CultureInfo.InvariantCulture)}\"", kv.Value)));
        if (unclosed is not null)
        {
            Labelled(sb, "visibility_source_connections_unclosed", "Connections opened and never closed although their protocol's conntrack timeout has passed (their end was probably lost at the source), by protocol.", "gauge",
                unclosed.ByProtocol.Select(kv => ($"protocol=\"{Escape(kv.Key)}\"", kv.Value)));
        }

        Histogram(sb, "visibility_ingest_batch_rows", "Rows per stored batch.", m.Writer.BatchRows);
        Histogram(sb, "visibility_ingest_batch_store_seconds", "Seconds from a batch's hand-over to the writer until it was stored.", m.Writer.BatchSeconds);
        return sb.ToString();
    }

    /// <summary>The export sinks' series, one per sink (none when this process does not export).</summary>
    public static string RenderExport(IReadOnlyList<ExportStreamStatus> sinks)
    {
        if (sinks.Count == 0)
        {
            return "";
        }

        var sb = new StringBuilder();
        Series(sb, "visibility_export_records_sent_total", "Records handed to the sink's destination.", "counter", sinks, s => s.RecordsSent);
        Series(sb, "visibility_export_records_confirmed_total", "Records the destination confirmed (checkpointed).", "counter", sinks, s => s.RecordsConfirmed);
        Series(sb, "visibility_export_bytes_sent_total", "Record bytes handed to the destination (before framing).", "counter", sinks, s => s.BytesSent);
        Series(sb, "visibility_export_retries_total", "Failed sends, confirmations or store operations that were retried.", "counter", sinks, s => s.Retries);
        Series(sb, "visibility_export_dropped_total", "Records beyond the per-interval bound, not exported.", "counter", sinks, s => s.Dropped);
        Series(sb, "visibility_export_pending", "Records sent and not yet confirmed.", "gauge", sinks, s => s.Pending);
        Series(sb, "visibility_export_lag_seconds", "How far the stream is behind (now minus the next interval's due time).", "gauge", sinks, s => (long)s.LagSeconds);
        Series(sb, "visibility_export_sequence", "Sequence number of the last confirmed record.", "gauge", sinks, s => s.Sequence);
        return sb.ToString();
    }

    private static void Series(StringBuilder sb, string name, string help, string type, IReadOnlyList<ExportStreamStatus> sinks, Func<ExportStreamStatus, long> value) =>
        Labelled(sb, name, help, type, sinks.Select(s => ($"sink=\"{Escape(s.Name)}\",format=\"{Escape(s.Format)}\"", value(s))));

    private static void Counter(StringBuilder sb, string name, string help, long value) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");

    private static void Gauge(StringBuilder sb, string name, string help, long value) =>
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");

    private static void Labelled(StringBuilder sb, string name, string help, string type, IEnumerable<(string Labels, long Value)> series)
    {
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
        foreach (var (labels, value) in series.OrderBy(s => s.Labels, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"{name}{{{labels}}} {value}\n");
        }
    }

    private static void Histogram(StringBuilder sb, string name, string help, Histogram histogram)
    {
        sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} histogram\n");
        var cumulative = histogram.Cumulative();
        for (var i = 0; i < histogram.UpperBounds.Count; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"{histogram.UpperBounds[i]}\"}} {cumulative[i]}\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"+Inf\"}} {cumulative[^1]}\n");
        sb.Append(CultureInfo.InvariantCulture, $"{name}_sum {histogram.Sum}\n{name}_count {cumulative[^1]}\n");
    }

    /// <summary>Label values escape backslash, double quote and line feed.</summary>
    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
