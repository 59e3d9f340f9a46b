using System.Diagnostics;

namespace Visibility.Query;

/// <summary>
/// The query trace spans, from the <see cref="ActivitySource"/> <c>Visibility.Query</c>: a graph request
/// (<c>query.graph</c>, under the HTTP request's span when there is one) with the planner's choice of tables
/// (<c>query.plan</c>) and the store's <c>store.query</c> spans as its children. While no tracer listens to the source,
/// nothing is started.
/// </summary>
public static class QueryTelemetry
{
    /// <summary>The name of the query <see cref="ActivitySource"/>.</summary>
    public const string SourceName = "Visibility.Query";

    /// <summary>A graph built from the store.</summary>
    public const string Graph = "query.graph";

    /// <summary>The planner choosing the tables that answer a query.</summary>
    public const string Plan = "query.plan";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>Marks <paramref name="activity"/> failed by <paramref name="exception"/>'s type; false, for use as an exception filter.</summary>
    internal static bool Failed(Activity? activity, Exception exception)
    {
        if (activity is not null && exception is not OperationCanceledException)
        {
            activity.SetStatus(ActivityStatusCode.Error, exception.GetType().Name);
            activity.SetTag("error.type", exception.GetType().FullName);
        }

        return false;
    }
}
