using System.Text.Json.Serialization;

namespace Visibility.Query.Graph;

/// <summary>What to draw: a time range, the label keys that make a node, and a result limit.</summary>
public sealed record GraphRequest(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<string> GroupBy, int Limit);

/// <summary>The dependency graph: nodes are groups of endpoints, edges aggregate connections between them.</summary>
public sealed record GraphResponse(
    [property: JsonPropertyName("from")] DateTimeOffset From,
    [property: JsonPropertyName("to")] DateTimeOffset To,
    [property: JsonPropertyName("groupBy")] IReadOnlyList<string> GroupBy,
    [property: JsonPropertyName("nodes")] IReadOnlyList<GraphNode> Nodes,
    [property: JsonPropertyName("edges")] IReadOnlyList<GraphEdge> Edges,
    [property: JsonPropertyName("truncated")] bool Truncated);

/// <summary>
/// A node. For workloads, <c>labels</c> holds the grouped label values; peers without a workload have
/// <c>kind</c> <c>unknown</c> (internal) or <c>internet</c> and carry that as their only label.
/// </summary>
public sealed record GraphNode(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// An edge. <c>flows</c> counts connections, each once however many records described it; <c>bytes</c> and
/// <c>packets</c> count both directions of each connection.
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
    [property: JsonPropertyName("lastSeen")] DateTimeOffset LastSeen);
