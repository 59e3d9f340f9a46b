using System.Globalization;
using System.Text.Json.Serialization;
using Visibility.Flows.Store;

namespace Visibility.Query.Planning;

/// <summary>One table read for one part of a query's time range.</summary>
public sealed record PlanSegment(
    [property: JsonPropertyName("table")] string Table,
    [property: JsonPropertyName("from")] DateTimeOffset From,
    [property: JsonPropertyName("to")] DateTimeOffset To)
{
    [JsonIgnore]
    public bool IsRaw => Table == FlowSchema.FlowsTable;
}

/// <summary>
/// Which tables answer a query: its time range cut into segments, each read from the coarsest table whose buckets
/// fit inside it. <see cref="From"/> and <see cref="To"/> are wider than asked when the finer tables no longer hold
/// the range's start (their retention ended) and the range was widened to whole buckets of a coarser table.
/// </summary>
public sealed record QueryPlan(
    [property: JsonPropertyName("segments")] IReadOnlyList<PlanSegment> Segments,
    [property: JsonPropertyName("from")] DateTimeOffset From,
    [property: JsonPropertyName("to")] DateTimeOffset To)
{
    [JsonIgnore]
    public bool RawOnly => Segments.All(s => s.IsRaw);

    public override string ToString() =>
        string.Join(" + ", Segments.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Table}[{s.From:O}, {s.To:O})")));
}

/// <summary>
/// The query planner: reads the smallest tables able to answer. Rollups hold every measure as a sum, so a range
/// can be split freely: the whole hours inside it come from <c>flows_1h</c>, the whole 5-minute buckets left at
/// either end from <c>flows_5m</c>, then whole minutes from <c>flows_1m</c>, and the seconds at the very ends from
/// <c>flows_raw</c> — the answer is the same as reading <c>flows_raw</c> alone. A query that needs what rollups
/// do not keep (addresses, source ports, free-form labels) reads <c>flows_raw</c> only.
/// </summary>
public static class QueryPlanner
{
    /// <summary>Plans a query that needs raw flows (<paramref name="needsRaw"/>) or only what every rollup keeps.</summary>
    public static QueryPlan Plan(DateTimeOffset from, DateTimeOffset to, bool needsRaw, StoreRetention retention, DateTimeOffset now) =>
        Plan(from, to, needsRaw ? RawOnlyColumns : FlowSchema.Rollups[0].Columns, retention, now);

    /// <summary>The columns only raw flows have: a plan needing one of them reads <c>flows_raw</c> only.</summary>
    public static IReadOnlySet<string> RawOnlyColumns { get; } = FlowColumnTable.All
        .Where(c => c.Tables == FlowTables.Raw).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Plans a query reading <paramref name="columns"/>: only tables keeping all of them take part, and at each bucket
    /// size the smallest of those (the app × env table over the workload-level one when it has what is asked).
    /// With <paramref name="maxGranularity"/>, only rollups whose buckets are no longer than it take part (a query
    /// that needs its rows' times to that precision).
    /// </summary>
    public static QueryPlan Plan(DateTimeOffset from, DateTimeOffset to, IReadOnlySet<string> columns, StoreRetention retention, DateTimeOffset now, TimeSpan? maxGranularity = null)
    {
        using var activity = QueryTelemetry.Source.StartActivity(QueryTelemetry.Plan);
        var plan = PlanTables(from, to, columns, retention, now, maxGranularity);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("visibility.plan", plan.ToString());
        }

        return plan;
    }

    private static QueryPlan PlanTables(DateTimeOffset from, DateTimeOffset to, IReadOnlySet<string> columns, StoreRetention retention, DateTimeOffset now, TimeSpan? maxGranularity)
    {
        var all = Tiers(retention, columns, maxGranularity ?? TimeSpan.MaxValue);
        if (all.Count == 1 || to <= from)
        {
            return new QueryPlan([new PlanSegment(FlowSchema.FlowsTable, from, to)], from, to);
        }

        // Only tables that still hold the range's start take part (every later part of the range is then held too),
        // whatever their order of retention: a minute table kept for less time than raw flows is left out of a range
        // older than it, and raw flows answer the minutes at its ends. Where raw flows have expired, the range widens
        // to whole buckets of the finest table left, so no part of it is silently missing; where every table has, the
        // one kept longest answers what it still holds.
        List<Tier> tiers = [.. all.Where(t => from >= now - t.Retention)];
        if (tiers.Count == 0)
        {
            tiers = [all.MaxBy(t => t.Retention)!];
        }

        var raw = tiers[0].Granularity == TimeSpan.Zero;
        var start = raw ? from : Floor(from, tiers[0].Granularity);
        var end = raw ? to : Ceiling(to, tiers[0].Granularity);
        var segments = new List<PlanSegment>();
        Split(start, end, tiers.Count - 1, 0, tiers, segments);
        return new QueryPlan(segments, start, end);
    }

    private static void Split(DateTimeOffset from, DateTimeOffset to, int tier, int finest, IReadOnlyList<Tier> tiers, List<PlanSegment> segments)
    {
        if (from >= to)
        {
            return;
        }

        if (tier == finest)
        {
            segments.Add(new PlanSegment(tiers[tier].Table, from, to));
            return;
        }

        var g = tiers[tier].Granularity;
        var alignedFrom = Ceiling(from, g);
        var alignedTo = Floor(to, g);
        if (alignedFrom >= alignedTo)
        {
            Split(from, to, tier - 1, finest, tiers, segments);
            return;
        }

        Split(from, alignedFrom, tier - 1, finest, tiers, segments);
        segments.Add(new PlanSegment(tiers[tier].Table, alignedFrom, alignedTo));
        Split(alignedTo, to, tier - 1, finest, tiers, segments);
    }

    /// <summary>Raw first, then per bucket size the last rollup able to answer, finest first, each with its retention.</summary>
    private static List<Tier> Tiers(StoreRetention retention, IReadOnlySet<string> columns, TimeSpan maxGranularity) =>
    [
        new Tier(FlowSchema.FlowsTable, TimeSpan.Zero, retention.Raw),
        .. FlowSchema.AllRollups
            .Where(r => columns.IsSubsetOf(r.Columns) && r.Granularity <= maxGranularity)
            .GroupBy(r => r.Granularity)
            .OrderBy(g => g.Key)
            .Select(g => g.Last())
            .Select(r => new Tier(r.Name, r.Granularity, retention.For(r))),
    ];

    private static DateTimeOffset Floor(DateTimeOffset t, TimeSpan g) =>
        new(t.UtcTicks - (t.UtcTicks % g.Ticks), TimeSpan.Zero);

    private static DateTimeOffset Ceiling(DateTimeOffset t, TimeSpan g)
    {
        var floor = Floor(t, g);
        return floor == t ? t : floor + g;
    }

    private sealed record Tier(string Table, TimeSpan Granularity, TimeSpan Retention);
}
