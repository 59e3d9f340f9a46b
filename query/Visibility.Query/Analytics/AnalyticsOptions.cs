namespace Visibility.Query.Analytics;

/// <summary>The bounds every analysis runs under, and their defaults, in one place.</summary>
public static class AnalyticsLimits
{
    public const int MaxHops = 10;
    public const int MaxResultNodes = 10_000;
    public const int MaxResultEdges = 50_000;
    public const int MaxPaths = 1_000;

    /// <summary>
    /// Ceiling on edges a path search may examine. Simple paths grow exponentially with hops on dense graphs;
    /// this is what makes the search stop in well under a second whatever the graph.
    /// </summary>
    public const long MaxWork = 10_000_000;

    internal static string? CheckRange(string name, long value, long min, long max) =>
        value < min || value > max ? $"{name} must be between {min} and {max}, was {value}" : null;
}

/// <summary>Blast radius: from a group of nodes, <see cref="Hops"/> hops along edges, or against them.</summary>
public sealed record ReachOptions
{
    public int Hops { get; init; } = 3;

    /// <summary>False: whom the group can reach (it initiates). True: who can reach the group.</summary>
    public bool Reverse { get; init; }

    public int MaxNodes { get; init; } = 1_000;

    public int MaxEdges { get; init; } = 5_000;

    public string? Validate() =>
        AnalyticsLimits.CheckRange("hops", Hops, 1, AnalyticsLimits.MaxHops)
        ?? AnalyticsLimits.CheckRange("maxNodes", MaxNodes, 1, AnalyticsLimits.MaxResultNodes)
        ?? AnalyticsLimits.CheckRange("maxEdges", MaxEdges, 0, AnalyticsLimits.MaxResultEdges);
}

/// <summary>Paths from one group to another.</summary>
public sealed record PathOptions
{
    public int Hops { get; init; } = 4;

    /// <summary>False: one shortest path per (source, target) pair. True: every simple path.</summary>
    public bool AllSimplePaths { get; init; }

    public int MaxPaths { get; init; } = 100;

    /// <summary>Edges the search may examine before it stops and reports <c>truncated</c>.</summary>
    public long MaxWork { get; init; } = 2_000_000;

    public string? Validate() =>
        AnalyticsLimits.CheckRange("hops", Hops, 1, AnalyticsLimits.MaxHops)
        ?? AnalyticsLimits.CheckRange("maxPaths", MaxPaths, 1, AnalyticsLimits.MaxPaths)
        ?? AnalyticsLimits.CheckRange("maxWork", MaxWork, 1, AnalyticsLimits.MaxWork);
}

/// <summary>Cycles: strongly connected components of more than one node.</summary>
public sealed record CycleOptions
{
    public int MaxComponents { get; init; } = 100;

    /// <summary>Nodes listed over all components; sizes stay exact.</summary>
    public int MaxNodes { get; init; } = 1_000;

    public string? Validate() =>
        AnalyticsLimits.CheckRange("maxComponents", MaxComponents, 1, AnalyticsLimits.MaxResultNodes)
        ?? AnalyticsLimits.CheckRange("maxNodes", MaxNodes, 1, AnalyticsLimits.MaxResultNodes);
}
