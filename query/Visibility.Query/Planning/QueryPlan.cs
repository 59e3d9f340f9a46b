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
/// fit inside it. <see cref="From"/> is earlier than the asked start when the finer tables no longer hold the
/// range's first minutes (their retention ended) and the range was widened to a coarser bucket.
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
    public static QueryPlan Plan(DateTimeOffset from, DateTimeOffset to, bool needsRaw, StoreRetention retention, DateTimeOffset now)
    {
        if (needsRaw || to <= from)
        {
            return new QueryPlan([new PlanSegment(FlowSchema.FlowsTable, from, to)], from, to);
        }

        var segments = new List<PlanSegment>();
        var start = from;

        // Where the finer tables have expired at the range's start, begin at the start of a bucket of the finest
        // table that still holds it, so the first minutes are not silently missing.
        var tiers = Tiers(retention);
        for (var i = 0; i < tiers.Count - 1; i++)
        {
            if (from < now - tiers[i].Retention && from >= now - tiers[i + 1].Retention)
            {
                start = Floor(from, tiers[i + 1].Granularity);
            }
        }

        Split(start, to, tiers.Count - 1, tiers, segments);
        return new QueryPlan(segments, start, to);
    }

    private static void Split(DateTimeOffset from, DateTimeOffset to, int tier, IReadOnlyList<Tier> tiers, List<PlanSegment> segments)
    {
        if (from >= to)
        {
            return;
        }

        if (tier == 0)
        {
            segments.Add(new PlanSegment(tiers[0].Table, from, to));
            return;
        }

        var g = tiers[tier].Granularity;
        var alignedFrom = Ceiling(from, g);
        var alignedTo = Floor(to, g);
        if (alignedFrom >= alignedTo)
        {
            Split(from, to, tier - 1, tiers, segments);
            return;
        }

        Split(from, alignedFrom, tier - 1, tiers, segments);
        segments.Add(new PlanSegment(tiers[tier].Table, alignedFrom, alignedTo));
        Split(alignedTo, to, tier - 1, tiers, segments);
    }

    /// <summary>Raw first, then the rollups from finest to coarsest, each with its retention.</summary>
    private static List<Tier> Tiers(StoreRetention retention) =>
    [
        new Tier(FlowSchema.FlowsTable, TimeSpan.Zero, retention.Raw),
        .. FlowSchema.Rollups.Select(r => new Tier(r.Name, r.Granularity, retention.For(r))),
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
