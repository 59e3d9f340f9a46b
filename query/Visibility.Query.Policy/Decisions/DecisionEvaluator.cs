using System.Collections.Concurrent;
using Visibility.Query.Graph;
using Visibility.Query.Policy.Rulesets;

namespace Visibility.Query.Policy.Decisions;

/// <summary>One group's decision and, when allowed, the rules that allowed it (<c>&lt;ruleset&gt;/&lt;rule&gt;</c>).</summary>
public readonly record struct Decision(string Kind, IReadOnlyList<string> AllowedBy);

/// <summary>
/// Decides traffic against one provisioned set (<see cref="RulesetStore.ProvisionedAtAsync"/>). Per group of traffic:
/// <list type="number">
/// <item><c>blocked</c> when the network refused it (observed verdict), whatever the policy;</item>
/// <item>else <c>unmanaged</c> when no ruleset's scope governs the destination;</item>
/// <item>else <c>allowed</c> when a rule of any governing ruleset allows it (all such rules, one per ruleset, are named);</item>
/// <item>else <c>violation</c> when any governing ruleset is enforced, <c>potentiallyBlocked</c> when all are in mode visibility.</item>
/// </list>
/// Several rulesets governing one destination (<c>env=prod</c> and <c>app=db,env=prod</c>) are alternatives, as
/// rendered rules of both are accepted by the network: one that allows suffices, and one declared enforced makes
/// what none allows a violation. Rules of a ruleset that does not govern the destination are not consulted.
/// </summary>
public sealed class DecisionEvaluator
{
    private readonly IReadOnlyList<(ProvisionedRuleset Ruleset, RulesetScope Scope, bool Enforced)> rulesets;
    private readonly ConcurrentDictionary<string, (string Name, bool Enforced, PolicyRule[] Rules)[]> byDestination = new(StringComparer.Ordinal);
    private readonly string[] destinationKeys;

    public DecisionEvaluator(IReadOnlyList<ProvisionedRuleset> provisioned)
    {
        ArgumentNullException.ThrowIfNull(provisioned);
        Provisioned = provisioned;
        rulesets = [.. provisioned.OrderBy(r => r.Name, StringComparer.Ordinal)
            .Select(r => (r, RulesetScope.Parse(r.Scope), r.Mode == ProvisionModes.Enforced))];
        LabelKeys = [.. provisioned
            .SelectMany(r => RulesetScope.Parse(r.Scope).Pairs.Select(p => p.Key)
                .Concat(r.Ruleset.Rules.SelectMany(rule => rule.Source.Labels.Keys.Concat(rule.Destination.Labels.Keys))))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)];
        destinationKeys = [.. LabelKeys.Append("workload").Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The set this evaluator decides by.</summary>
    public IReadOnlyList<ProvisionedRuleset> Provisioned { get; }

    /// <summary>The label keys (and <c>workload</c>) the scopes and rules read: traffic must be grouped by them to be decided.</summary>
    public IReadOnlyList<string> LabelKeys { get; }

    /// <summary>
    /// The decision for traffic of <paramref name="row"/> (its labels must hold <see cref="LabelKeys"/>; a
    /// <c>workload</c> label is the workload's name), observed refused when <paramref name="observedBlocked"/>.
    /// </summary>
    public Decision Decide(TrafficRow row, bool observedBlocked)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (observedBlocked)
        {
            return new Decision(PolicyDecisions.Blocked, []);
        }

        var governing = byDestination.GetOrAdd(DestinationKey(row), static (_, state) => state.Self.Governing(state.Row), (Self: this, Row: row));
        if (governing.Length == 0)
        {
            return new Decision(PolicyDecisions.Unmanaged, []);
        }

        var enforced = false;
        List<string>? allowedBy = null;
        foreach (var (name, isEnforced, rules) in governing)
        {
            enforced |= isEnforced;
            foreach (var rule in rules)
            {
                if (PolicySimulator.Allows(rule, row))
                {
                    (allowedBy ??= []).Add($"{name}/{rule.Name}");
                    break;
                }
            }
        }

        return allowedBy is not null ? new Decision(PolicyDecisions.Allowed, allowedBy)
            : new Decision(enforced ? PolicyDecisions.Violation : PolicyDecisions.PotentiallyBlocked, []);
    }

    /// <summary>
    /// The rulesets governing a destination, each with the rules whose destination it is, in order: computed once per
    /// destination (a graph's groups share a few hundred destinations), so deciding a group only tries the rules that
    /// can allow it. Peers without a workload (unknown, internet, named networks) carry no labels: no scope governs them.
    /// </summary>
    private (string Name, bool Enforced, PolicyRule[] Rules)[] Governing(TrafficRow row) =>
        row.DestinationPeer.Length > 0
            ? []
            : [.. rulesets
                .Where(r => r.Scope.Governs(row.DestinationLabels.GetValueOrDefault("workload"), row.DestinationLabels))
                .Select(r => (r.Ruleset.Name, r.Enforced,
                    r.Ruleset.Ruleset.Rules.Where(rule => PolicySimulator.AllowsTo(rule, row.DestinationPeer, row.DestinationLabels)).ToArray()))];

    /// <summary>What the scopes and rules read of a destination: its peer class and its values of <see cref="LabelKeys"/> (and <c>workload</c>), length-prefixed.</summary>
    private string DestinationKey(TrafficRow row)
    {
        var key = new System.Text.StringBuilder(row.DestinationPeer.Length + 64).Append(row.DestinationPeer.Length).Append(':').Append(row.DestinationPeer);
        foreach (var label in destinationKeys)
        {
            if (row.DestinationLabels.TryGetValue(label, out var value))
            {
                key.Append('|').Append(value.Length).Append(':').Append(value);
            }
            else
            {
                key.Append('!');
            }
        }

        return key.ToString();
    }
}
