using System.Text.Json.Serialization;
using Visibility.Flows.Findings;
using Visibility.Query.Graph;
using Visibility.Query.Planning;

namespace Visibility.Query.Policy;

/// <summary>Traffic the ruleset would block: a source and destination group, the service, and how much of it.</summary>
public sealed record BlockedTraffic(
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("destination")] string Destination,
    [property: JsonPropertyName("service")] string Service,
    [property: JsonPropertyName("flows")] long Flows,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("findings")] IReadOnlyList<string> Findings,
    [property: JsonPropertyName("firstSeen")] DateTimeOffset FirstSeen,
    [property: JsonPropertyName("lastSeen")] DateTimeOffset LastSeen);

/// <summary>How many flows a rule allowed in the simulation (0: the rule allowed nothing observed).</summary>
public sealed record RuleUse(
    [property: JsonPropertyName("rule")] string Rule,
    [property: JsonPropertyName("flows")] long Flows);

/// <summary>
/// What a ruleset would have done to the range's traffic: flows allowed and would-be-blocked, coverage (the share of
/// flows allowed), the blocked traffic (most flows first) and each rule's use.
/// </summary>
public sealed record SimulationResult(
    [property: JsonPropertyName("from")] DateTimeOffset From,
    [property: JsonPropertyName("to")] DateTimeOffset To,
    [property: JsonPropertyName("filter")] string Filter,
    [property: JsonPropertyName("flows")] long Flows,
    [property: JsonPropertyName("allowedFlows")] long AllowedFlows,
    [property: JsonPropertyName("blockedFlows")] long BlockedFlows,
    [property: JsonPropertyName("coverage")] double Coverage,
    [property: JsonPropertyName("blocked")] IReadOnlyList<BlockedTraffic> Blocked,
    [property: JsonPropertyName("blockedTotal")] int BlockedTotal,
    [property: JsonPropertyName("rules")] IReadOnlyList<RuleUse> Rules,
    [property: JsonPropertyName("truncated")] bool Truncated)
{
    /// <summary>The ruleset's scope the traffic was restricted to (<see cref="PolicyScope"/>); empty: all traffic.</summary>
    [JsonPropertyName("scope")]
    public string Scope { get; init; } = "";
}

/// <summary>
/// Evaluates a ruleset against historical flows: the traffic is read at the label keys the rules use, and each
/// (source group, destination group, service) is allowed when some rule's source and destination match it (a workload
/// peer matches workloads carrying all of its labels; a network, internet or unknown peer matches that class) and
/// one of the rule's port ranges holds the service. Everything else would be blocked.
/// </summary>
public sealed class PolicySimulator(PolicyTraffic traffic)
{
    public const int MaxBlocked = 1_000;

    public async Task<SimulationResult> SimulateAsync(PolicyRuleset ruleset, DateTimeOffset from, DateTimeOffset to, FilterClause filter, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var keyNames = ruleset.Rules.SelectMany(r => r.Source.Labels.Keys.Concat(r.Destination.Labels.Keys)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (!GroupKey.TryParseList(keyNames.Count == 0 ? "kind" : string.Join(',', keyNames), out var keys, out var error))
        {
            throw new ArgumentException(error);
        }

        var (rows, truncated) = await traffic.ReadAsync(from, to, keys, filter, cancellationToken);
        var uses = ruleset.Rules.ToDictionary(r => r, _ => 0L);
        var blocked = new List<BlockedTraffic>();
        long allowed = 0, denied = 0;
        foreach (var row in rows)
        {
            var rule = ruleset.Rules.FirstOrDefault(r => Allows(r, row));
            if (rule is not null)
            {
                uses[rule] += row.Flows;
                allowed += row.Flows;
                continue;
            }

            denied += row.Flows;
            blocked.Add(new BlockedTraffic(
                Group(row.SourcePeer, row.SourceLabels), Group(row.DestinationPeer, row.DestinationLabels),
                $"{row.Protocol}/{row.Port}", row.Flows, row.Bytes, FindingKinds.Names((FindingKind)row.FindingBits), row.FirstSeen, row.LastSeen));
        }

        var total = allowed + denied;
        PolicyTelemetry.Simulated(started, allowed, denied);
        return new SimulationResult(
            from, to, filter.Text, total, allowed, denied, total == 0 ? 1.0 : (double)allowed / total,
            [.. blocked.OrderByDescending(b => b.Flows).ThenBy(b => b.Source, StringComparer.Ordinal).ThenBy(b => b.Destination, StringComparer.Ordinal).ThenBy(b => b.Service, StringComparer.Ordinal).Take(MaxBlocked)],
            blocked.Count,
            [.. ruleset.Rules.Select(r => new RuleUse(r.Name, uses[r]))],
            truncated);
    }

    /// <summary>Whether <paramref name="rule"/> allows the traffic of <paramref name="row"/>.</summary>
    public static bool Allows(PolicyRule rule, TrafficRow row) =>
        Matches(rule.Source, row.SourcePeer, row.SourceLabels)
        && AllowsTo(rule, row.DestinationPeer, row.DestinationLabels)
        && rule.Ports.Any(p => p.Protocol == row.Protocol && (p.Protocol is "icmp" or "icmpv6" || (row.Port >= p.From && row.Port <= p.To)));

    /// <summary>Whether <paramref name="rule"/>'s destination is the destination <paramref name="peer"/> with <paramref name="labels"/>.</summary>
    internal static bool AllowsTo(PolicyRule rule, string peer, IReadOnlyDictionary<string, string> labels) =>
        Matches(rule.Destination, peer, labels);

    private static bool Matches(PolicyPeer peer, string rowPeer, IReadOnlyDictionary<string, string> labels) => peer.Kind switch
    {
        PolicyPeer.Workload => rowPeer.Length == 0 && peer.Labels.All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value),
        PolicyPeer.NamedNetwork => rowPeer == peer.Network,
        _ => rowPeer == peer.Kind,
    };

    private static string Group(string peer, IReadOnlyDictionary<string, string> labels) =>
        peer.Length > 0 ? peer : string.Join(',', labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));
}
