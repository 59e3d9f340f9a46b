using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Visibility.Ingest.Conntrack;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export.Runtime;

namespace Visibility.Web.Hosting;

/// <summary>The store: open, and ingest's store operations succeeding. Unhealthy (503) otherwise, with the reason.</summary>
public sealed class StoreHealthCheck(Readiness readiness, IngestMetrics ingest) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!readiness.StoreReady)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the store is not open yet"));
        }

        // Ingest keeps running while the store fails (it retries, and pauses reading), but is not ready.
        if (ingest.Writer.CurrentStoreFailure is { } failure)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(
                $"store unavailable since {failure.Since:yyyy-MM-ddTHH:mm:ssZ} ({failure.Attempts} failed {failure.Operation} attempt(s); ingest is retrying): {failure.Reason}"));
        }

        return Task.FromResult(HealthCheckResult.Healthy("open; ingest's store operations succeed"));
    }
}

/// <summary>
/// The Kafka brokers, as the consumers' librdkafka statistics see them: Unhealthy when no consumer has a broker
/// connection up. When the in-process development broker serves, the detail says what it keeps and drops.
/// </summary>
public sealed class BrokerHealthCheck(IngestMetrics ingest, IOptions<IngestOptions> options, IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        if (services.GetService<DevBrokerService>() is not null)
        {
            data["developmentBroker"] = "the in-process development broker (librdkafka's mock cluster) serves: it keeps the newest 5 MiB " +
                "(or 100,000 batches) per partition and drops older records without telling; it is not for production " +
                "(set Visibility:Kafka:BootstrapServers)";
        }

        if (!options.Value.Enabled)
        {
            return Task.FromResult(HealthCheckResult.Healthy("ingest is off: no consumer", data));
        }

        if (ingest.Source.Kafka.Interval <= TimeSpan.Zero)
        {
            return Task.FromResult(HealthCheckResult.Healthy("not checked: librdkafka's statistics are off (Visibility:Kafka:StatisticsInterval=0s)", data));
        }

        var clients = ingest.Source.Kafka.Current();
        if (clients.Count == 0)
        {
            return Task.FromResult(ingest.Source.Kafka.Reported
                ? HealthCheckResult.Degraded($"no consumer statistics for {(3 * ingest.Source.Kafka.Interval).TotalSeconds:0} s", data: data)
                : HealthCheckResult.Healthy($"not known yet (consumers report every {ingest.Source.Kafka.Interval.TotalSeconds:0} s)", data));
        }

        var brokers = clients.SelectMany(c => c.Brokers).GroupBy(b => b.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Any(b => b.Up) ? "UP" : g.First().State, StringComparer.Ordinal);
        data["brokers"] = brokers;
        return Task.FromResult(brokers.ContainsValue("UP")
            ? HealthCheckResult.Healthy("reachable", data)
            : HealthCheckResult.Unhealthy("no broker reachable from the consumers", data: data));
    }
}

/// <summary>Ingest caught up: the consumers' lag (librdkafka's, summed) at most <see cref="ManagementOptions.MaxReadyLag"/>; Degraded beyond it.</summary>
public sealed class IngestHealthCheck(IngestMetrics ingest, IOptions<IngestOptions> options, IOptions<ManagementOptions> management) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!options.Value.Enabled)
        {
            return Task.FromResult(HealthCheckResult.Healthy("ingest is off"));
        }

        var partitions = ingest.Source.Kafka.Current().SelectMany(c => c.Partitions).ToList();
        var lag = partitions.Sum(p => p.Lag);
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["lag"] = lag,
            ["partitions"] = partitions.Count,
            ["stored"] = ingest.Writer.Stored,
            ["pausedConsumers"] = ingest.Source.PausedConsumers,
        };
        var limit = management.Value.MaxReadyLag;
        return Task.FromResult(lag <= limit
            ? HealthCheckResult.Healthy(partitions.Count == 0 ? "no partition fetched yet" : "caught up", data)
            : HealthCheckResult.Degraded(
                string.Create(CultureInfo.InvariantCulture, $"{lag} records behind, more than {ManagementOptions.Section}:MaxReadyLag ({limit})"), data: data));
    }
}

/// <summary>The export sinks: Degraded while one retries (its last error in the detail); none configured is healthy.</summary>
public sealed class ExportHealthCheck(IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var export = services.GetService<ExportService>();
        var sinks = export?.Statuses() ?? [];
        if (sinks.Count == 0)
        {
            // Not holding the export lease is no reason to take this process out of service: it stands by.
            return Task.FromResult(HealthCheckResult.Healthy(export is { LeaseHeld: false, LeaseHolder: { } holder }
                ? $"no export sink in this process; the export lease is held by {holder}"
                : "no export sink in this process"));
        }

        var data = sinks.ToDictionary(
            s => s.Name,
            s => (object)(s.LastError is { } error && s.State == "retrying"
                ? $"{s.State}, {s.LagSeconds:0} s behind; last error: {error}"
                : $"{s.State}, {s.LagSeconds:0} s behind"),
            StringComparer.Ordinal);
        var retrying = sinks.Where(s => s.State == "retrying").Select(s => s.Name).ToList();
        return Task.FromResult(retrying.Count == 0
            ? HealthCheckResult.Healthy($"{sinks.Count} sink(s) streaming", data)
            : HealthCheckResult.Degraded($"retrying: {string.Join(", ", retrying)}", data: data));
    }
}

/// <summary>
/// The flow sources: connections opened and never closed although their protocol's conntrack timeout has passed (their
/// end was probably lost at the source, see README "Losing conntrack events"). Healthy all the same, with the counts
/// in the detail: records lost at the source are a finding about the sources, not about this process.
/// </summary>
public sealed class SourceHealthCheck(IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<UnclosedConnections>() is not { CheckedAt: { } checkedAt } unclosed)
        {
            return Task.FromResult(HealthCheckResult.Healthy("connections open past their conntrack timeout: not counted yet"));
        }

        var data = unclosed.ByProtocol.ToDictionary(kv => kv.Key, kv => (object)kv.Value, StringComparer.Ordinal);
        data["checkedAt"] = checkedAt.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        return Task.FromResult(HealthCheckResult.Healthy(
            unclosed.Total == 0
                ? "no connection open past its conntrack timeout"
                : $"{unclosed.Total} connection(s) open past their conntrack timeout: their end was probably lost at the source",
            data));
    }
}

/// <summary><c>/readyz</c>'s body: the overall status and each check's status, description and data, as JSON.</summary>
public static class HealthReportJson
{
    private static readonly JsonWriterOptions Options = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";

        // Written whole, then sent: the serializer flushes synchronously, which Kestrel refuses.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        await using var json = new Utf8JsonWriter(buffer, Options);
        json.WriteStartObject();
        json.WriteString("status", report.Status.ToString());
        json.WriteNumber("durationSeconds", Math.Round(report.TotalDuration.TotalSeconds, 6));
        json.WriteStartObject("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteStartObject(name);
            json.WriteString("status", entry.Status.ToString());
            json.WriteString("description", entry.Description ?? entry.Exception?.Message ?? "");
            if (entry.Data.Count > 0)
            {
                json.WritePropertyName("data");
                JsonSerializer.Serialize(json, entry.Data);
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();
        await json.FlushAsync();
        await context.Response.Body.WriteAsync(buffer.WrittenMemory);
    }
}
