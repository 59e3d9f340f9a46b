using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Visibility.Flows.Store;

/// <summary>
/// The store's telemetry, named <c>Visibility.Store</c> for both its <see cref="ActivitySource"/> and its
/// <see cref="Meter"/>. Spans: each flow insert (<c>store.insert</c>), each progress record (<c>store.progress</c>)
/// and each read query (<c>store.query</c>), as a child of whatever span is current (an ingest batch's store span, a
/// graph request); while no tracer listens, none is started and nothing is allocated for it. Histograms: how long
/// flow inserts and queries take, by backend (embedded, server) and outcome (ok, error). One span and one
/// observation per insert (a batch) or query, never per row.
/// </summary>
public static class StoreTelemetry
{
    /// <summary>The name of the store's <see cref="ActivitySource"/>.</summary>
    public const string SourceName = "Visibility.Store";

    /// <summary>The name of the store's <see cref="Meter"/>.</summary>
    public const string MeterName = "Visibility.Store";

    /// <summary>A flow insert (several batches in one insert when they queued up).</summary>
    public const string Insert = "store.insert";

    /// <summary>The ingest progress recorded after an insert.</summary>
    public const string Progress = "store.progress";

    /// <summary>A read query.</summary>
    public const string Query = "store.query";

    internal static readonly ActivitySource Source = new(SourceName);

    private static readonly double[] Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private static readonly Meter Meter = new(MeterName);

    private static readonly Histogram<double> Inserts = Meter.CreateHistogram(
        "visibility_store_insert_seconds", unit: null, description: "Seconds a flow insert (one batch) took, by backend and outcome.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });

    private static readonly Histogram<double> Queries = Meter.CreateHistogram(
        "visibility_store_query_seconds", unit: null, description: "Seconds a query took until its result was read, by backend and outcome.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });

    /// <summary>An insert of flows into <paramref name="database"/>: its span and its duration.</summary>
    internal static Task InsertAsync(string backend, string database, Func<Task> insert) =>
        ObserveAsync(Insert, Inserts, backend, database, async () =>
        {
            await insert().ConfigureAwait(false);
            return true;
        });

    /// <summary>Recording ingest progress in <paramref name="database"/>: its span.</summary>
    internal static Task ProgressAsync(string database, Func<Task> record) =>
        ObserveAsync(Progress, null, "", database, async () =>
        {
            await record().ConfigureAwait(false);
            return true;
        });

    /// <summary>A query of <paramref name="database"/>, including reading its result: its span and its duration.</summary>
    internal static Task<T> QueryAsync<T>(string backend, string database, Func<Task<T>> query) =>
        ObserveAsync(Query, Queries, backend, database, query);

    private static async Task<T> ObserveAsync<T>(string span, Histogram<double>? duration, string backend, string database, Func<Task<T>> work)
    {
        using var activity = Start(span, database);
        var started = Stopwatch.GetTimestamp();
        var outcome = "error";
        try
        {
            var result = await work().ConfigureAwait(false);
            outcome = "ok";
            return result;
        }
        catch (Exception ex) when (Failed(activity, ex))
        {
            throw;
        }
        finally
        {
            duration?.Record(
                Stopwatch.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("backend", backend), new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    /// <summary>Starts a span of the store's work on <paramref name="database"/>; null while no tracer listens.</summary>
    private static Activity? Start(string name, string database)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity(name, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("db.system.name", "clickhouse");
            activity.SetTag("db.namespace", database);
        }

        return activity;
    }

    /// <summary>
    /// Marks <paramref name="activity"/> failed by <paramref name="exception"/> (its type only: a message may quote
    /// the statement); false, for use as an exception filter that lets the exception go on unchanged.
    /// </summary>
    private static bool Failed(Activity? activity, Exception exception)
    {
        if (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, exception.GetType().Name);
            activity.SetTag("error.type", exception.GetType().FullName);
        }

        return false;
    }
}
