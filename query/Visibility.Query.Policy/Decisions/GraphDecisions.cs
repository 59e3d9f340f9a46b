using Visibility.Query.Graph;
using Visibility.Query.Policy.Rulesets;
using Visibility.Query.Security;

namespace Visibility.Query.Policy.Decisions;

/// <summary>
/// What a graph request asks of the policy: which set judges (<see cref="At"/>, <see cref="WhatIf"/>) and which
/// decisions to keep (<see cref="Only"/>: the filter language's <c>decision</c> terms; null keeps all).
/// </summary>
public sealed record DecisionRequest(DecisionsAt At, WhatIf? WhatIf, IReadOnlySet<string>? Only);

/// <summary>
/// Adds policy decisions to a graph: the graph is built as always (<see cref="GraphQuery"/>), and beside it the same
/// range and filter is read grouped by the graph's keys plus what the provisioned set reads
/// (<see cref="DecisionTraffic"/>); each group is decided (<see cref="DecisionEvaluator"/>) by the set of its epoch
/// and counted on its edge. Both reads run at once. The plain graph (no decisions asked) does none of this.
/// <para>
/// A scoped caller sees the edges its scope lets it see, as always; rules of rulesets outside its scope
/// (<see cref="RulesetScope.IsWithin"/>) still decide, but are not named in <c>allowedBy</c> nor in the basis.
/// </para>
/// </summary>
public sealed class GraphDecisions(GraphQuery graph, DecisionTraffic traffic, RulesetStore rulesets)
{
    /// <summary>The graph of <paramref name="request"/> with decisions, or an error naming what is wrong (an unknown what-if version).</summary>
    public async Task<(GraphResponse? Graph, string? Error)> RunAsync(GraphRequest request, DecisionRequest decisions, AccessScope access, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(decisions);
        ArgumentNullException.ThrowIfNull(access);
        var (timeline, error) = await DecisionTimeline.BuildAsync(
            rulesets, decisions.At, request.From, request.To, decisions.WhatIf, scope => RulesetScope.Parse(scope).IsWithin(access), cancellationToken);
        if (timeline is null)
        {
            return (null, error);
        }

        var graphTask = graph.RunAsync(request, cancellationToken);
        var groupsTask = traffic.ReadAsync(request.From, request.To, request.Keys, timeline.LabelKeys, request.Filter, timeline.Boundaries, cancellationToken);
        var response = await graphTask;
        var (groups, truncated) = await groupsTask;
        var visible = new HashSet<string>(
            timeline.Rulesets.Where(r => RulesetScope.Parse(r.Scope).IsWithin(access)).Select(r => r.Name), StringComparer.Ordinal);

        var perEdge = new Dictionary<(string, string), EdgeTally>();
        foreach (var group in groups)
        {
            var decision = timeline.Epochs[group.Epoch].Evaluator.Decide(group.Traffic, group.ObservedBlocked);
            if (decisions.Only is { } only && !only.Contains(decision.Kind))
            {
                continue;
            }

            var key = (group.SourceNode, group.TargetNode);
            if (!perEdge.TryGetValue(key, out var tally))
            {
                perEdge[key] = tally = new EdgeTally();
            }

            tally.Add(decision, group.Connections + group.Attempts, visible, group.Policies);
        }

        var edges = new List<GraphEdge>(response.Edges.Count);
        foreach (var edge in response.Edges)
        {
            var tally = perEdge.GetValueOrDefault((edge.Source, edge.Target));
            if (decisions.Only is not null && tally is null)
            {
                continue;
            }

            tally ??= new EdgeTally();
            edges.Add(edge with
            {
                Decisions = tally.ToDecisions(),
                AllowedBy = [.. tally.AllowedBy.Order(StringComparer.Ordinal)],
                ObservedPolicies = [.. tally.Policies.Order(StringComparer.Ordinal)],
            });
        }

        var nodes = decisions.Only is null
            ? response.Nodes
            : [.. response.Nodes.Where(n => edges.Any(e => e.Source == n.Id || e.Target == n.Id))];
        var basis = new GraphPolicyBasis(
            decisions.At == DecisionsAt.Now ? "now" : "traffic",
            decisions.WhatIf?.ToString(),
            [.. timeline.Rulesets.Where(r => visible.Contains(r.Name)).Select(r => new GraphPolicyRuleset(r.Name, r.Version, r.Mode, r.Scope))]);
        return (response with
        {
            Edges = edges,
            Nodes = nodes,
            TotalEdges = decisions.Only is null ? response.TotalEdges : edges.Count,
            Truncated = response.Truncated || truncated,
            Policy = basis,
        }, null);
    }

    /// <summary>One edge's counts per decision and the rules and observed policies behind them.</summary>
    private sealed class EdgeTally
    {
        private readonly long[] counts = new long[PolicyDecisions.All.Count];

        public HashSet<string> AllowedBy { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Policies { get; } = new(StringComparer.Ordinal);

        public void Add(Decision decision, long count, HashSet<string> visible, IReadOnlyList<string> policies)
        {
            counts[IndexOf(decision.Kind)] += count;
            foreach (var rule in decision.AllowedBy)
            {
                if (visible.Contains(rule[..rule.IndexOf('/', StringComparison.Ordinal)]))
                {
                    AllowedBy.Add(rule);
                }
            }

            Policies.UnionWith(policies);
        }

        public EdgeDecisions ToDecisions() => new(counts[0], counts[1], counts[2], counts[3], counts[4]);

        private static int IndexOf(string kind) => kind switch
        {
            PolicyDecisions.Allowed => 0,
            PolicyDecisions.PotentiallyBlocked => 1,
            PolicyDecisions.Blocked => 2,
            PolicyDecisions.Violation => 3,
            _ => 4,
        };
    }
}
