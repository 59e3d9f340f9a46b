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
/// Adds policy decisions to a graph in the graph's own statement: the graph is asked to split each edge's traffic
/// (<see cref="EdgeSplit"/>) by what the provisioned set reads (service, verdict, epoch, the label keys the graph does
/// not group by), each part is decided (<see cref="DecisionEvaluator"/>) by the set of its epoch and counted on its
/// edge. The enforcing policies the records named come from a second, small statement over the rows that name any
/// (<see cref="DecisionTraffic.PoliciesAsync"/>), run beside it. The plain graph (no decisions asked) does none of this.
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
        // Judged by the set provisioned now (one epoch), the graph is read split by its own keys while the set is read:
        // scopes and rules mostly read the keys the graph groups by. When they read more, it is read again.
        using var speculation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var guess = decisions.At == DecisionsAt.Now ? Read(request, [], [], speculation.Token) : null;
        var (timeline, error) = await DecisionTimeline.BuildAsync(
            rulesets, decisions.At, request.From, request.To, decisions.WhatIf, scope => RulesetScope.Parse(scope).IsWithin(access), cancellationToken);
        var extra = timeline is null ? [] : DecisionTraffic.ExtraKeys(request.Keys, timeline.LabelKeys);
        if (guess is not null && (timeline is null || extra.Count > 0 || timeline.Boundaries.Count > 0))
        {
            await speculation.CancelAsync();
            await Task.WhenAny(guess);
            guess = null;
        }

        if (timeline is null)
        {
            return (null, error);
        }

        var (response, policies) = await (guess ?? Read(request, extra, timeline.Boundaries, cancellationToken));
        var visible = new HashSet<string>(
            timeline.Rulesets.Where(r => RulesetScope.Parse(r.Scope).IsWithin(access)).Select(r => r.Name), StringComparer.Ordinal);

        var nodes = response.Nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var edges = new List<GraphEdge>(response.Edges.Count);
        foreach (var edge in response.Edges)
        {
            var (sourcePeer, sourceLabels) = Peer(nodes[edge.Source]);
            var (targetPeer, targetLabels) = Peer(nodes[edge.Target]);
            var tally = new EdgeTally();
            foreach (var part in edge.Parts ?? [])
            {
                var row = new TrafficRow(
                    sourcePeer, WithExtra(sourceLabels, extra, part.SourceExtra), targetPeer, WithExtra(targetLabels, extra, part.TargetExtra),
                    part.Protocol, part.Port, part.Connections, 0, 0, default, default);
                var decision = timeline.Epochs[part.Epoch].Evaluator.Decide(row, part.ObservedBlocked);
                if (decisions.Only is { } only && !only.Contains(decision.Kind))
                {
                    continue;
                }

                tally.Add(decision, part.Connections + part.Attempts, visible, policies.GetValueOrDefault(PartKey.Of(edge.Source, edge.Target, part)) ?? []);
            }

            if (decisions.Only is not null && tally.Parts == 0)
            {
                continue;
            }

            edges.Add(edge with
            {
                Decisions = tally.ToDecisions(),
                AllowedBy = [.. tally.AllowedBy.Order(StringComparer.Ordinal)],
                ObservedPolicies = [.. tally.Policies.Order(StringComparer.Ordinal)],
                Parts = null,
            });
        }

        var kept = decisions.Only is null
            ? response.Nodes
            : [.. response.Nodes.Where(n => edges.Any(e => e.Source == n.Id || e.Target == n.Id))];
        var basis = new GraphPolicyBasis(
            decisions.At == DecisionsAt.Now ? "now" : "traffic",
            decisions.WhatIf?.ToString(),
            [.. timeline.Rulesets.Where(r => visible.Contains(r.Name)).Select(r => new GraphPolicyRuleset(r.Name, r.Version, r.Mode, r.Scope))]);
        return (response with
        {
            Edges = edges,
            Nodes = kept,
            TotalEdges = decisions.Only is null ? response.TotalEdges : edges.Count,
            Policy = basis,
        }, null);
    }

    /// <summary>The graph split by <paramref name="extra"/> and <paramref name="boundaries"/>, and its parts' observed policies, read at once.</summary>
    private async Task<(GraphResponse Graph, Dictionary<PartKey, IReadOnlyList<string>> Policies)> Read(
        GraphRequest request, IReadOnlyList<GroupKey> extra, IReadOnlyList<DateTimeOffset> boundaries, CancellationToken cancellationToken)
    {
        var graphTask = graph.RunAsync(request with { Split = new EdgeSplit(extra, boundaries) }, cancellationToken);
        var policiesTask = traffic.PoliciesAsync(request.From, request.To, request.Keys, extra, request.Filter, boundaries, cancellationToken);
        return (await graphTask, await policiesTask);
    }

    /// <summary>
    /// What the policy reads of a node: a workload group's peer class is empty and its labels are the grouped values
    /// that are set; a peer without a workload is its class, with its address when the graph groups by address.
    /// </summary>
    private static (string Peer, Dictionary<string, string> Labels) Peer(GraphNode node)
    {
        var workload = node.Kind == "workload";
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in node.Labels)
        {
            if (value.Length > 0 && (workload || key == "address"))
            {
                labels[key] = value;
            }
        }

        return (workload ? "" : node.Kind, labels);
    }

    /// <summary>The node's labels with the part's values of the extra keys that are set (a copy when there are any).</summary>
    private static Dictionary<string, string> WithExtra(Dictionary<string, string> labels, IReadOnlyList<GroupKey> extra, IReadOnlyList<string> values)
    {
        if (extra.Count == 0)
        {
            return labels;
        }

        var all = new Dictionary<string, string>(labels, StringComparer.Ordinal);
        for (var i = 0; i < extra.Count; i++)
        {
            if (values[i].Length > 0)
            {
                all[extra[i].Name] = values[i];
            }
        }

        return all;
    }

    /// <summary>One edge's counts per decision and the rules and observed policies behind them.</summary>
    private sealed class EdgeTally
    {
        private readonly long[] counts = new long[PolicyDecisions.All.Count];

        public HashSet<string> AllowedBy { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Policies { get; } = new(StringComparer.Ordinal);

        /// <summary>How many parts were counted.</summary>
        public int Parts { get; private set; }

        public void Add(Decision decision, long count, HashSet<string> visible, IReadOnlyList<string> policies)
        {
            Parts++;
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
