using System.Text.Json.Serialization;
using Visibility.Query.Planning;

namespace Visibility.Query.Graph;

/// <summary>What to draw: a time range, the label keys that make a node, a filter and a result limit.</summary>
public sealed record GraphRequest(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<GroupKey> Keys, FilterClause Filter, int Limit)
{
    /// <summary>Read raw flows only, whatever the planner would pick (to compare, or to debug a rollup).</summary>
    public bool RawOnly { get; init; }
}

/// <summary>The dependency graph: nodes are groups of endpoints, edges aggregate connections between them.</summary>
public sealed record GraphResponse(
    [property: JsonPropertyName("from")] DateTimeOffset From,
    [property: JsonPropertyName("to")] DateTimeOffset To,
    [property: JsonPropertyName("groupBy")] IReadOnlyList<string> GroupBy,
    [property: JsonPropertyName("nodes")] IReadOnlyList<GraphNode> Nodes,
    [property: JsonPropertyName("edges")] IReadOnlyList<GraphEdge> Edges,
    [property: JsonPropertyName("truncated")] bool Truncated)
{
    /// <summary>The filter applied, in canonical form ("" for none).</summary>
    [JsonPropertyName("filter")]
    public string Filter { get; init; } = "";

    /// <summary>Edges matching before the limit; more than <c>edges.length</c> when <see cref="Truncated"/>.</summary>
    [JsonPropertyName("totalEdges")]
    public long TotalEdges { get; init; }

    /// <summary>The tables read for which part of the range.</summary>
    [JsonPropertyName("plan")]
    public QueryPlan? Plan { get; init; }
}

/// <summary>
/// A node. For workloads, <c>labels</c> holds the grouped label values; peers without a workload have
/// <c>kind</c> <c>unknown</c> (internal) or <c>internet</c> and carry that as their only label.
/// <c>workloads</c> counts the inventory's workloads in the group (null for peers without a workload).
/// </summary>
public sealed record GraphNode(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels)
{
    [JsonPropertyName("workloads")]
    public int? Workloads { get; init; }
}

/// <summary>
/// An edge. <c>flows</c> counts connections, each once however many records described it; <c>bytes</c> and
/// <c>packets</c> count both directions of each connection. <c>blocked</c> counts refused attempts (each once,
/// however many retransmissions it sent): they are never connections, so an edge of refused attempts only has
/// <c>flows</c> 0. <c>ports</c> lists up to 64 of the destination
/// ports seen (<c>portCount</c> says how many there were); <c>findings</c> names the finding kinds on the edge
/// and <c>severity</c> the highest of their severities.
/// </summary>
public sealed record GraphEdge(
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("flows")] long Flows,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("packets")] long Packets,
    [property: JsonPropertyName("ports")] IReadOnlyList<string> Ports,
    [property: JsonPropertyName("crossEnv")] bool CrossEnv,
    [property: JsonPropertyName("findings")] IReadOnlyList<string> Findings,
    [property: JsonPropertyName("firstSeen")] DateTimeOffset FirstSeen,
    [property: JsonPropertyName("lastSeen")] DateTimeOffset LastSeen)
{
    [JsonPropertyName("portCount")]
    public long PortCount { get; init; }

    /// <summary>Refused attempts on the edge (the store's <c>attempts</c>).</summary>
    [JsonPropertyName("blocked")]
    public long Blocked { get; init; }

    [JsonPropertyName("severity")]
    public string? Severity { get; init; }
}
