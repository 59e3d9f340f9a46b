using Visibility.Flows.Findings;
using Visibility.Query.Findings;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Policy.Rulesets;

namespace Visibility.Query.Policy.Decisions;

/// <summary>
/// The <c>policy_violation</c> findings: connections to a destination an enforced ruleset governs that no rule of a
/// governing ruleset allows, yet observed allowed — the network does not enforce what was declared. Each connection
/// is judged by the set provisioned at its own time (<see cref="DecisionsAt.Traffic"/>), at workload level (the ends
/// the other findings name), per service. Nothing is read when no ruleset was enforced in the range, nor when the
/// filter's <c>finding</c> terms leave this kind out (<see cref="FilterClause.ForComputedFinding"/>).
/// </summary>
public sealed class PolicyViolationFindings(DecisionTraffic traffic, RulesetStore rulesets, FindingRules? rules = null) : IFindingSource
{
    /// <summary>The finding kind's name, in the API, exports and SIEM payloads.</summary>
    public const string Kind = FindingKinds.PolicyViolation;

    /// <summary>
    /// The severity of a policy violation unless <c>Findings:Severities:policy_violation</c> says otherwise: what was
    /// declared enforced is not.
    /// </summary>
    public const string DefaultSeverity = "high";

    private readonly string severity = (rules ?? FindingRules.Default).Severity(Kind, DefaultSeverity);

    /// <summary>The ends a finding names: workload, kind and the standard labels.</summary>
    private static readonly IReadOnlyList<GroupKey> EndKeys =
        GroupKey.TryParseList("workload,kind,role,app,env,loc", out var keys, out var error) ? keys : throw new InvalidOperationException(error);

    public async Task<IReadOnlyList<Finding>> FindAsync(FindingsRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Filter.ForComputedFinding(Kind) is not { } filter)
        {
            return [];
        }

        var (timeline, _) = await DecisionTimeline.BuildAsync(rulesets, DecisionsAt.Traffic, request.From, request.To, null, _ => true, cancellationToken);
        if (timeline is null || !timeline.Epochs.Any(e => e.Evaluator.Provisioned.Any(r => r.Mode == ProvisionModes.Enforced)))
        {
            return [];
        }

        var (groups, _) = await traffic.ReadAsync(request.From, request.To, EndKeys, timeline.LabelKeys, filter, timeline.Boundaries, cancellationToken);
        var violations = new Dictionary<(string, string, string), Finding>();
        foreach (var group in groups)
        {
            if (group.Connections == 0
                || timeline.Epochs[group.Epoch].Evaluator.Decide(group.Traffic, group.ObservedBlocked).Kind != PolicyDecisions.Violation)
            {
                continue;
            }

            var service = $"{group.Traffic.Protocol}/{group.Traffic.Port}";
            var key = (group.SourceNode, group.TargetNode, service);
            violations[key] = violations.TryGetValue(key, out var seen)
                ? seen with
                {
                    Flows = seen.Flows + group.Connections,
                    Bytes = seen.Bytes + group.Bytes,
                    FirstSeen = group.FirstSeen < seen.FirstSeen ? group.FirstSeen : seen.FirstSeen,
                    LastSeen = group.LastSeen > seen.LastSeen ? group.LastSeen : seen.LastSeen,
                }
                : new Finding(
                    Kind, severity, End(group.Traffic.SourcePeer, group.Traffic.SourceLabels), End(group.Traffic.DestinationPeer, group.Traffic.DestinationLabels),
                    service, group.Connections, group.Bytes, group.FirstSeen, group.LastSeen);
        }

        return [.. violations.Values.Where(f => request.FirstSeenFrom is not { } first || f.FirstSeen >= first)];
    }

    private static FindingEnd End(string peer, IReadOnlyDictionary<string, string> labels) => new(
        labels.GetValueOrDefault("workload", ""),
        labels.GetValueOrDefault("kind", peer),
        new Dictionary<string, string>(labels.Where(l => l.Key is "role" or "app" or "env" or "loc"), StringComparer.Ordinal));
}
