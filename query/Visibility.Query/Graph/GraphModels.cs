using System.Text.Json.Serialization;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Planning;

namespace Visibility.Query.Graph;

/// <summary>What to draw: a time range, the label keys that make a node, a filter and a result limit.</summary>
public sealed record GraphRequest(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<GroupKey> Keys, FilterClause Filter, int Limit)
{
    /// <summary>Read raw flows only, whatever the planner would pick (to compare, or to debug a rollup).</summary>
    public bool RawOnly { get; init; }

    /// <summary>Split each edge's traffic into <see cref="GraphEdge.Parts"/> (for policy decisions); null: no parts.</summary>
    public EdgeSplit? Split { get; init; }
}

/// <summary>
/// How a graph splits its edges' traffic for policy decisions, in the same statement as the edges: per service
/// (protocol and destination port), observed verdict, provisioning epoch (the index of the last of
/// <see cref="Boundaries"/> at or before the rows' first sighting) and the values of the label keys
/// <see cref="Extra"/> that the policy reads and the graph does not group by.
/// </summary>
public sealed record EdgeSplit(IReadOnlyList<GroupKey> Extra, IReadOnlyList<DateTimeOffset> Boundaries)
{
    /// <summary>
    /// The SQL of a row's provisioning epoch: the index of the last of <paramref name="boundaries"/> at or before its
    /// <c>first_seen</c> (0 before the first; the boundaries are bound as <c>epoch0</c>, <c>epoch1</c>, … in <paramref name="parameters"/>).
    /// </summary>
    public static string EpochOf(IReadOnlyList<DateTimeOffset> boundaries, List<QueryParameter> parameters)
    {
        ArgumentNullException.ThrowIfNull(boundaries);
        ArgumentNullException.ThrowIfNull(parameters);
        if (boundaries.Count == 0)
        {
            return "0";
        }

        var arms = new List<string>();
        for (var i = 0; i < boundaries.Count; i++)
        {
            parameters.Add(new QueryParameter($"epoch{i}", boundaries[i].ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture)));
            arms.Add($"first_seen < fromUnixTimestamp64Milli({{epoch{i}:Int64}}, 'UTC'), {i}");
        }

        return $"multiIf({string.Join(", ", arms)}, {boundaries.Count})";
    }
}

/// <summary>One part of an edge's traffic (<see cref="EdgeSplit"/>): its connections and refused attempts.</summary>
public sealed record EdgePart(
    int Proto, string Protocol, int Port, bool ObservedBlocked, int Epoch,
    IReadOnlyList<string> SourceExtra, IReadOnlyList<string> TargetExtra, long Connections, long Attempts);

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

    /// <summary>What the edges' decisions were judged by; present only when decisions were asked for.</summary>
    [JsonPropertyName("policy")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public GraphPolicyBasis? Policy { get; init; }
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

    /// <summary>Connections and refused attempts per policy decision; present only when decisions were asked for.</summary>
    [JsonPropertyName("decisions")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public EdgeDecisions? Decisions { get; init; }

    /// <summary>The rules (<c>&lt;ruleset&gt;/&lt;rule&gt;</c>) that allowed some of the edge's traffic; with <see cref="Decisions"/>.</summary>
    [JsonPropertyName("allowedBy")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? AllowedBy { get; init; }

    /// <summary>The enforcing policies the flow sources named (Hubble, Calico), as stored; with <see cref="Decisions"/>.</summary>
    [JsonPropertyName("observedPolicies")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? ObservedPolicies { get; init; }

    /// <summary>The edge's traffic split as <see cref="GraphRequest.Split"/> asked; never written.</summary>
    [JsonIgnore]
    public IReadOnlyList<EdgePart>? Parts { get; init; }
}

/// <summary>An edge's connections and refused attempts by policy decision (see docs/policy.md, "Decisions").</summary>
public sealed record EdgeDecisions(
    [property: JsonPropertyName("allowed")] long Allowed,
    [property: JsonPropertyName("potentiallyBlocked")] long PotentiallyBlocked,
    [property: JsonPropertyName("blocked")] long Blocked,
    [property: JsonPropertyName("violation")] long Violation,
    [property: JsonPropertyName("unmanaged")] long Unmanaged)
{
    /// <summary>The count of one decision by its name.</summary>
    public long this[string decision] => decision switch
    {
        PolicyDecisions.Allowed => Allowed,
        PolicyDecisions.PotentiallyBlocked => PotentiallyBlocked,
        PolicyDecisions.Blocked => Blocked,
        PolicyDecisions.Violation => Violation,
        PolicyDecisions.Unmanaged => Unmanaged,
        _ => 0,
    };

    /// <summary>Every decision's count together.</summary>
    [JsonIgnore]
    public long Total => Allowed + PotentiallyBlocked + Blocked + Violation + Unmanaged;
}

/// <summary>What a graph's decisions were judged by: <c>decisionsAt</c>, the what-if (if any) and the rulesets used.</summary>
public sealed record GraphPolicyBasis(
    [property: JsonPropertyName("decisionsAt")] string DecisionsAt,
    [property: JsonPropertyName("whatIf")] string? WhatIf,
    [property: JsonPropertyName("rulesets")] IReadOnlyList<GraphPolicyRuleset> Rulesets);

/// <summary>A ruleset version a graph's decisions used, and its mode.</summary>
public sealed record GraphPolicyRuleset(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("scope")] string Scope);

/// <summary>The decisions a connection or refused attempt can get, as the API and the filter language name them.</summary>
public static class PolicyDecisions
{
    /// <summary>A rule of a ruleset governing the destination allows it.</summary>
    public const string Allowed = "allowed";

    /// <summary>Governed, no rule allows it, and every governing ruleset is provisioned in mode <c>visibility</c>.</summary>
    public const string PotentiallyBlocked = "potentiallyBlocked";

    /// <summary>Observed refused by the network (a stored verdict <c>blocked</c>), whatever the policy says.</summary>
    public const string Blocked = "blocked";

    /// <summary>Governed by an enforced ruleset, no rule allows it, yet observed allowed: enforcement differs from what was declared.</summary>
    public const string Violation = "violation";

    /// <summary>No provisioned ruleset governs the destination.</summary>
    public const string Unmanaged = "unmanaged";

    /// <summary>Every decision, in the order edges list them.</summary>
    public static IReadOnlyList<string> All { get; } = [Allowed, PotentiallyBlocked, Blocked, Violation, Unmanaged];

    /// <summary>Whether <paramref name="name"/> is a decision (case-sensitive, as written in the API).</summary>
    public static bool IsDecision(string? name) => name is not null && All.Contains(name, StringComparer.Ordinal);
}
