using System.Diagnostics;
using System.Globalization;
using System.Text;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Decisions;
using Visibility.Query.Policy.Rulesets;

namespace Visibility.Benchmarks.QueryLatency;

/// <summary>
/// The cost of policy decisions on the graph (issue 20, <c>query --decisions</c>): the 24 h app × env graph with and
/// without decisions, runs alternated in one process on the same store, against a provisioned set of two rulesets
/// (prod in mode visibility: any prod workload may reach each prod app on its web, API and database ports, so cache,
/// queue and worker traffic is potentially blocked; staging enforced: only the web and API ports). Checks that each
/// edge's decisions add up to its connections and refused attempts; reports its parts alone (the split graph statement and its tables, building the provisioned set, the observed policies' statement).
/// </summary>
public static class DecisionsComparison
{
    public static async Task RunAsync(IFlowStore store, StoreRetention retention, GraphQuery graph, long stored, int runs, StringBuilder report)
    {
        using var rulesets = new RulesetStore(store, store);
        if ((await rulesets.ProvisionedNowAsync(CancellationToken.None)).Count == 0)
        {
            await ProvisionAsync(rulesets, "prod", "env=prod", ProvisionModes.Visibility, [443, 8443, 5432]);
            await ProvisionAsync(rulesets, "staging", "env=staging", ProvisionModes.Enforced, [443, 8443]);
        }

        var decisions = new GraphDecisions(graph, new DecisionTraffic(store, retention), rulesets);
        if (!GroupKey.TryParseList("app,env", out var keys, out var error))
        {
            throw new InvalidOperationException(error);
        }

        var ticks = DateTimeOffset.UtcNow.UtcTicks;
        var end = new DateTimeOffset(ticks - (ticks % TimeSpan.TicksPerMinute), TimeSpan.Zero).AddMinutes(1);
        var request = new GraphRequest(end - TimeSpan.FromHours(24), end, keys, FilterClause.All, GraphQuery.MaxLimit);
        var policy = new DecisionRequest(DecisionsAt.Now, null, null);

        // Warm-up, then alternated runs so both see the same machine.
        var plain = await graph.RunAsync(request, CancellationToken.None);
        var (decided, _) = await decisions.RunAsync(request, policy, Visibility.Query.Security.AccessScope.Unrestricted, CancellationToken.None);
        var traffic = new DecisionTraffic(store, retention);
        var split = request with { Split = new EdgeSplit([], []) };
        var without = new List<double>();
        var with = new List<double>();
        var splitAlone = new List<double>();
        var timelineAlone = new List<double>();
        var policiesAlone = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var watch = Stopwatch.StartNew();
            plain = await graph.RunAsync(request, CancellationToken.None);
            without.Add(watch.Elapsed.TotalMilliseconds);
            watch.Restart();
            (decided, _) = await decisions.RunAsync(request, policy, Visibility.Query.Security.AccessScope.Unrestricted, CancellationToken.None);
            with.Add(watch.Elapsed.TotalMilliseconds);

            // Its parts alone, to see their shares: the graph's statement split per service (the provisioned rules read
            // app and env), building the provisioned set, the observed policies' statement.
            watch.Restart();
            await graph.RunAsync(split, CancellationToken.None);
            splitAlone.Add(watch.Elapsed.TotalMilliseconds);
            watch.Restart();
            await DecisionTimeline.BuildAsync(rulesets, DecisionsAt.Now, request.From, request.To, null, _ => true, CancellationToken.None);
            timelineAlone.Add(watch.Elapsed.TotalMilliseconds);
            watch.Restart();
            await traffic.PoliciesAsync(request.From, request.To, request.Keys, [], request.Filter, [], CancellationToken.None);
            policiesAlone.Add(watch.Elapsed.TotalMilliseconds);
        }

        var wrong = decided!.Edges.Where(e => e.Decisions!.Total != e.Flows + e.Blocked).Take(3).ToList();
        if (decided.Edges.Count != plain.Edges.Count || wrong.Count > 0)
        {
            throw new InvalidOperationException(
                $"decisions do not add up: {decided.Edges.Count} vs {plain.Edges.Count} edges; " + string.Join("; ", wrong.Select(e => $"{e.Source}>{e.Target}: {e.Decisions!.Total} vs {e.Flows} + {e.Blocked}")));
        }

        foreach (var list in new[] { without, with, splitAlone, timelineAlone, policiesAlone })
        {
            list.Sort();
        }

        var totals = PolicyDecisions.All.Select(d => $"{d} {decided.Edges.Sum(e => e.Decisions![d]):N0}");
        static string Tables(QueryPlan plan) =>
            string.Join(" + ", plan.Segments.GroupBy(s => s.Table).Select(g => g.Count() > 1 ? $"{g.Key} ×{g.Count()}" : g.Key));
        Line(report, "");
        Line(report, "| stored flows | query | without decisions: median (p90) ms | with decisions: median (p90) ms | with / without | split graph alone: median ms (tables) | provisioned set alone: median ms | observed policies alone: median ms | edges | decisions |");
        Line(report, "|---:|---|---:|---:|---:|---|---:|---:|---:|---|");
        Line(report, string.Create(CultureInfo.InvariantCulture,
            $"| {stored:N0} | app × env, 24 h ({Tables(plain.Plan!)}) | {Median(without):F0} ({P90(without):F0}) | {Median(with):F0} ({P90(with):F0}) | {Median(with) / Median(without):F2} | {Median(splitAlone):F0} ({Tables(decided.Plan!)}) | {Median(timelineAlone):F0} | {Median(policiesAlone):F0} | {plain.Edges.Count:N0} | {string.Join(", ", totals)} |"));
    }

    private static double Median(List<double> sorted) => sorted[sorted.Count / 2];

    private static double P90(List<double> sorted) => sorted[(int)Math.Min(sorted.Count - 1, Math.Ceiling(sorted.Count * 0.9) - 1)];

    private static async Task ProvisionAsync(RulesetStore rulesets, string name, string scope, string mode, int[] ports)
    {
        var env = scope[(scope.IndexOf('=', StringComparison.Ordinal) + 1)..];
        var rules = Enumerable.Range(0, 80).Select(i => string.Create(CultureInfo.InvariantCulture, $"app-{i:00}")).Select(app => new PolicyRule(
            $"env={env} -> app={app},env={env}",
            new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["env"] = env }),
            new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["app"] = app, ["env"] = env }),
            [.. ports.Select(p => new PortRange("tcp", p, p))])).ToList();
        var saved = await rulesets.SaveAsync(name, RulesetScope.Parse(scope), new PolicyRuleset(name, ["app", "env"], rules), "bench", null, CancellationToken.None);
        await rulesets.ProvisionAsync(name, saved.Version, mode, "bench", CancellationToken.None);
    }

    private static void Line(StringBuilder report, string line)
    {
        report.AppendLine(line);
        Console.WriteLine(line);
    }
}
