using System.Text.Json.Serialization;

namespace Visibility.Query.Policy;

/// <summary>
/// A label-based allow-list: the neutral ruleset drafts are written in, simulated against history and rendered from
/// (Kubernetes NetworkPolicy, nftables). Everything not allowed by a rule is denied. Schema: docs/policy.md
/// (<c>schema</c> = <see cref="SchemaVersion"/>).
/// </summary>
public sealed record PolicyRuleset(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("groupBy")] IReadOnlyList<string> GroupBy,
    [property: JsonPropertyName("rules")] IReadOnlyList<PolicyRule> Rules)
{
    public const string SchemaVersion = "visibility.policy/v1";

    [JsonPropertyName("schema")]
    public string Schema { get; init; } = SchemaVersion;

    /// <summary>Where the draft came from: the observed range and the scope filter (absent for hand-written sets).</summary>
    [JsonPropertyName("source")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PolicySource? Source { get; init; }
}

/// <summary>The traffic a draft was made from.</summary>
public sealed record PolicySource(
    [property: JsonPropertyName("from")] DateTimeOffset From,
    [property: JsonPropertyName("to")] DateTimeOffset To,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("includeFlagged")] bool IncludeFlagged);

/// <summary>
/// One allow rule: traffic from <see cref="Source"/> to <see cref="Destination"/> on <see cref="Ports"/>. The name is
/// made from the peers' labels (<c>app=api,env=prod -> app=db,env=prod</c>) so a reviewer can read it. Flows and
/// first/last seen say what evidence the draft had (zero for hand-written rules).
/// </summary>
public sealed record PolicyRule(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("source")] PolicyPeer Source,
    [property: JsonPropertyName("destination")] PolicyPeer Destination,
    [property: JsonPropertyName("ports")] IReadOnlyList<PortRange> Ports)
{
    [JsonPropertyName("flows")]
    public long Flows { get; init; }

    [JsonPropertyName("firstSeen")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? FirstSeen { get; init; }

    [JsonPropertyName("lastSeen")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? LastSeen { get; init; }
}

/// <summary>
/// One side of a rule. <c>kind</c>:
/// <list type="bullet">
/// <item><c>workload</c>: workloads carrying all of <see cref="Labels"/> (e.g. <c>app=db, env=prod</c>);</item>
/// <item><c>network</c>: a configured named network (<see cref="Network"/>, with its <see cref="Cidrs"/>);</item>
/// <item><c>internet</c>: any public address; <c>unknown</c>: internal addresses without a workload (only in drafts
/// that include flagged flows).</item>
/// </list>
/// <c>labels</c> may be left out for peers other than workloads (<c>{"kind": "internet"}</c>); <see cref="Labels"/>
/// is then empty, never null. A workload peer must give them (<c>{}</c>: any workload): see
/// <see cref="LabelsGiven"/>.
/// </summary>
public sealed record PolicyPeer(
    [property: JsonPropertyName("kind")] string Kind,
    IReadOnlyDictionary<string, string>? Labels)
{
    private static readonly IReadOnlyDictionary<string, string> NoLabels = new Dictionary<string, string>(StringComparer.Ordinal);

    [JsonPropertyName("labels")]
    public IReadOnlyDictionary<string, string> Labels { get; init; } = Labels ?? NoLabels;

    /// <summary>Whether the peer was written with <c>labels</c> (validation requires them for workloads).</summary>
    [JsonIgnore]
    public bool LabelsGiven { get; init; } = Labels is not null;

    public const string Workload = "workload";
    public const string NamedNetwork = "network";
    public const string Internet = "internet";
    public const string Unknown = "unknown";

    [JsonPropertyName("network")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Network { get; init; }

    [JsonPropertyName("cidrs")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Cidrs { get; init; }

    /// <summary><c>app=db,env=prod</c>, <c>network:vpn</c>, <c>internet</c> or <c>unknown</c>.</summary>
    [JsonIgnore]
    public string Key => Kind switch
    {
        Workload => string.Join(',', Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")),
        NamedNetwork => "network:" + Network,
        _ => Kind,
    };
}

/// <summary>A protocol (<c>tcp</c>, <c>udp</c>, <c>sctp</c>; <c>icmp</c>/<c>icmpv6</c> with ports 0) and an inclusive port range.</summary>
public sealed record PortRange(
    [property: JsonPropertyName("protocol")] string Protocol,
    [property: JsonPropertyName("from")] int From,
    [property: JsonPropertyName("to")] int To)
{
    public override string ToString() => From == To ? $"{Protocol}/{From}" : $"{Protocol}/{From}-{To}";
}
