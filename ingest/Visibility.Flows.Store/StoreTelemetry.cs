using System.Diagnostics;

namespace Visibility.Flows.Store;

/// <summary>
/// The store's trace spans, from the <see cref="ActivitySource"/> <c>Visibility.Store</c>: each flow insert
/// (<c>store.insert</c>), each progress record (<c>store.progress</c>) and each read query (<c>store.query</c>), as a
/// child of whatever span is current (an ingest batch's store span, a graph request). While no tracer listens to the
/// source, <see cref="Start"/> returns null and nothing is allocated.
/// </summary>
public static class StoreTelemetry
{
    /// <summary>The name of the store's <see cref="ActivitySource"/>.</summary>
    public const string SourceName = "Visibility.Store";

    /// <summary>A flow insert (several batches in one insert when they queued up).</summary>
    public const string Insert = "store.insert";

    /// <summary>The ingest progress recorded after an insert.</summary>
    public const string Progress = "store.progress";

    /// <summary>A read query.</summary>
    public const string Query = "store.query";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts a span of the store's work on <paramref name="database"/>; null while no tracer listens.</summary>
    internal static Activity? Start(string name, string database)
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
    internal static bool Failed(Activity? activity, Exception exception)
    {
        if (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, exception.GetType().Name);
            activity.SetTag("error.type", exception.GetType().FullName);
        }

        return false;
    }
}
