using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Visibility.Flows.Store;

/// <summary>
/// The store's meter (<c>Visibility.Store</c>): how long flow inserts and queries take, by backend (embedded, server)
/// and outcome (ok, error). One observation per insert (a batch) or query, never per row.
/// </summary>
public static class StoreTelemetry
{
    public const string MeterName = "Visibility.Store";

    private static readonly double[] Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private static readonly Meter Meter = new(MeterName);

    private static readonly Histogram<double> Inserts = Meter.CreateHistogram(
        "visibility_store_insert_seconds", unit: null, description: "Seconds a flow insert (one batch) took, by backend and outcome.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });

    private static readonly Histogram<double> Queries = Meter.CreateHistogram(
        "visibility_store_query_seconds", unit: null, description: "Seconds a query took until its result was read, by backend and outcome.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });

    /// <summary>Times an insert of flows, from the call to its completion.</summary>
    public static async Task TimeInsertAsync(string backend, Func<Task> insert)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            await insert().ConfigureAwait(false);
            outcome = "ok";
        }
        finally
        {
            Record(Inserts, backend, outcome, started);
        }
    }

    /// <summary>Times a query, including reading its result.</summary>
    public static async Task<T> TimeQueryAsync<T>(string backend, Func<Task<T>> query)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            var result = await query().ConfigureAwait(false);
            outcome = "ok";
            return result;
        }
        finally
        {
            Record(Queries, backend, outcome, started);
        }
    }

    private static void Record(Histogram<double> histogram, string backend, string outcome, long started) =>
        histogram.Record(
            Stopwatch.GetElapsedTime(started).TotalSeconds,
            new KeyValuePair<string, object?>("backend", backend), new KeyValuePair<string, object?>("outcome", outcome));
}
