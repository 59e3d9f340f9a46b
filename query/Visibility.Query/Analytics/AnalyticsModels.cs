using System.Text.Json.Serialization;

namespace Visibility.Query.Analytics;

/// <summary>
/// Blast radius of a group. <c>nodes</c> are the start nodes (hop 0) and every node reached within
/// <c>hops</c>, nearest first; <c>edges</c> are every edge usable within the hop budget: edges leaving a node at
/// hop &lt; <c>hops</c> (entering it, in reverse), so cross and back edges among reached nodes are listed
/// too, not only the BFS tree, whose shape <c>via</c> gives. Counts are exact even when the lists are cut.
/// </summary>
public sealed record ReachResult(
    [property: JsonPropertyName("selector")] string Selector,
    [property: JsonPropertyName("direction")] string Direction,
    [property: JsonPropertyName("hops")] int Hops,
    [property: JsonPropertyName("startCount")] int StartCount,
    [property: JsonPropertyName("reachedCount")] int ReachedCount,
    [property: JsonPropertyName("countByHop")] IReadOnlyList<int> CountByHop,
    [property: JsonPropertyName("edgeCount")] int EdgeCount,
    [property: JsonPropertyName("nodes")] IReadOnlyList<ReachedNode> Nodes,
    [property: JsonPropertyName("edges")] IReadOnlyList<ReachedEdge> Edges,
    [property: JsonPropertyName("truncated")] bool Truncated);

/// <summary>
/// A reached node: <c>hop</c> is its distance from the group, <c>via</c> the node it was first reached from
/// (forward) or leads to (reverse), null for start nodes.
/// </summary>
public sealed record ReachedNode(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("hop")] int Hop,
    [property: JsonPropertyName("via")] string? Via);

/// <summary>An edge in its own direction; <c>hop</c> is the hop count at which a traversal crosses it.</summary>
public sealed record ReachedEdge(
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("hop")] int Hop,
    [property: JsonPropertyName("flows")] long Flows,
    [property: JsonPropertyName("bytes")] long Bytes);

/// <summary>
/// Paths from the <c>from</c> group to the <c>to</c> group. <c>truncatedBy</c> says which bound stopped the
/// search: <c>maxPaths</c> (a path beyond the cap exists) or <c>maxWork</c> (the edge budget ran out, more paths
/// may exist); null when the list is complete.
/// </summary>
public sealed record PathsResult(
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("to")] string To,
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("hops")] int Hops,
    [property: JsonPropertyName("sourceCount")] int SourceCount,
    [property: JsonPropertyName("targetCount")] int TargetCount,
    [property: JsonPropertyName("paths")] IReadOnlyList<GraphPath> Paths,
    [property: JsonPropertyName("edgesExamined")] long EdgesExamined,
    [property: JsonPropertyName("truncated")] bool Truncated,
    [property: JsonPropertyName("truncatedBy")] string? TruncatedBy);

/// <summary>A path: <c>nodes</c> from source to target, <c>hops</c> edges long.</summary>
public sealed record GraphPath(
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("hops")] int Hops,
    [property: JsonPropertyName("nodes")] IReadOnlyList<string> Nodes);

/// <summary>Strongly connected components of more than one node, largest first.</summary>
public sealed record CyclesResult(
    [property: JsonPropertyName("componentCount")] int ComponentCount,
    [property: JsonPropertyName("nodesInCycles")] int NodesInCycles,
    [property: JsonPropertyName("components")] IReadOnlyList<CycleComponent> Components,
    [property: JsonPropertyName("truncated")] bool Truncated);

/// <summary>
/// One component: <c>size</c> nodes, every one reachable from every other; <c>edgeCount</c> counts the edges
/// inside it. <c>nodes</c> is sorted by id and cut (<c>truncated</c>) when the result's node cap is reached.
/// </summary>
public sealed record CycleComponent(
    [property: JsonPropertyName("size")] int Size,
    [property: JsonPropertyName("edgeCount")] int EdgeCount,
    [property: JsonPropertyName("nodes")] IReadOnlyList<string> Nodes,
    [property: JsonPropertyName("truncated")] bool Truncated);
