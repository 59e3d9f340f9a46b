using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Ingest.Pipeline;
using Visibility.Flows.Store;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Decisions;
using Visibility.Query.Policy.Rulesets;
using Visibility.Query.Security;
using Visibility.Tests.Support;

namespace Visibility.Tests.Policy;

/// <summary>
/// Decisions on the graph over the real store: flows at three times around two provisioning changes, judged by the set
/// provisioned now, by the set active at each flow's time, and with another version substituted; the decision filter;
/// and a caller scoped to <c>env=dev</c>.
/// </summary>
public sealed class GraphDecisionsTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build([
        new WorkloadSpec { Name = "prod-api", Addresses = ["10.10.2.10"], Labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "prod" } },
        new WorkloadSpec { Name = "prod-db", Addresses = ["10.10.3.10"], Labels = new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" } },
        new WorkloadSpec { Name = "dev-api", Addresses = ["10.20.2.10"], Labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "dev" } },
    ]);

    private const string ApiToDb = "app=api,env=prod -> app=db,env=prod";
    private const string DevApiToDb = "app=api,env=dev -> app=db,env=prod";

    internal sealed class SteppedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public void Set(DateTimeOffset at) => now = at;
    }

    internal sealed record Rig(GraphDecisions Decisions, DateTimeOffset From, DateTimeOffset To, EmbeddedFlowStore Store, RulesetStore Rulesets, StoreRetention Retention)
    {
        /// <summary>The minute the flows' times count back from.</summary>
        public DateTimeOffset T => To.AddMinutes(-1);
    }

    /// <summary>
    /// prod api → prod db (tcp/5432) at T−50, T−30 and T−10 minutes, dev api → prod db at T−10, a refused attempt prod
    /// api → prod db on tcp/6432 at T−10 (enforcing policy <c>prod/deny-all</c>); ruleset <c>prod</c>
    /// (scope env=prod) version 1 (api → db) provisioned enforced at T−40, version 2 (dev api → db only) at T−20.
    /// </summary>
    internal static async Task<Rig> RigAsync()
    {
        var now = DateTimeOffset.UtcNow;
        var t = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        batch.Add(TestFlows.Connection(Index, FindingRules.Default, 1, "10.10.2.10", "10.10.3.10", 5432, t.AddMinutes(-50)));
        batch.Add(TestFlows.Connection(Index, FindingRules.Default, 2, "10.10.2.10", "10.10.3.10", 5432, t.AddMinutes(-30)));
        batch.Add(TestFlows.Connection(Index, FindingRules.Default, 3, "10.10.2.10", "10.10.3.10", 5432, t.AddMinutes(-10)));
        batch.Add(TestFlows.Connection(Index, FindingRules.Default, 4, "10.20.2.10", "10.10.3.10", 5432, t.AddMinutes(-10)));
        var refused = TestFlows.Connection(Index, FindingRules.Default, 5, "10.10.2.10", "10.10.3.10", 6432, t.AddMinutes(-10));
        refused.Verdict = FlowVerdict.Blocked;
        refused.IsAttempt = true;
        refused.Policies = "prod/deny-all";
        batch.Add(refused);
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);

        var clock = new SteppedClock(t.AddMinutes(-45));
        var rulesets = new RulesetStore(store, store, clock);
        var scope = RulesetScope.Parse("env=prod");
        await rulesets.SaveAsync("prod", scope, new PolicyRuleset("prod", ["app", "env"], [DecisionEvaluatorTests.Rule(ApiToDb, "api", "db", 5432)]), "key:a", null, CancellationToken.None);
        var devToDb = new PolicyRule(
            DevApiToDb,
            new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["app"] = "api", ["env"] = "dev" }),
            new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" }),
            [new PortRange("tcp", 5432, 5432)]);
        await rulesets.SaveAsync("prod", scope, new PolicyRuleset("prod", ["app", "env"], [devToDb]), "key:a", null, CancellationToken.None);
        clock.Set(t.AddMinutes(-40));
        await rulesets.ProvisionAsync("prod", 1, ProvisionModes.Enforced, "key:admin", CancellationToken.None);
        clock.Set(t.AddMinutes(-20));
        await rulesets.ProvisionAsync("prod", 2, ProvisionModes.Enforced, "key:admin", CancellationToken.None);
        clock.Set(t);

        var retention = StoreRetention.RawOnly(TimeSpan.FromDays(3650));
        var graph = new GraphQuery(store, retention, FindingRules.Default);
        return new Rig(new GraphDecisions(graph, new DecisionTraffic(store, retention), rulesets), t.AddHours(-1), t.AddMinutes(1), store, rulesets, retention);
    }

    private static async Task<GraphResponse> RunAsync(Rig rig, DecisionsAt at, WhatIf? whatIf = null, string filter = "", string scope = "")
    {
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out var keyError), keyError);
        Assert.True(FilterClause.TryCreate(filter, allowDecisions: true, out var clause, out var filterError), filterError);
        var access = AccessScope.Parse(scope);
        var (graph, error) = await rig.Decisions.RunAsync(
            new GraphRequest(rig.From, rig.To, keys, access.Restrict(clause), 1000), new DecisionRequest(at, whatIf, clause.Decisions), access, CancellationToken.None);
        Assert.True(graph is not null, error);
        return graph;
    }

    private static string Counts(GraphEdge edge) =>
        string.Join(" ", PolicyDecisions.All.Select(d => $"{d}={edge.Decisions![d]}"));

    private static GraphEdge Edge(GraphResponse graph, string source) =>
        Assert.Single(graph.Edges, e => e.Source == source && e.Target == "app=db,env=prod");

    [Fact]
    public async Task DecisionRead_AppEnvRulesOnTheAppEnvGraph_ReadsTheServiceRollups_OtherLabelsTheWorkloadOnes()
    {
        var store = await TestStore.CreateAsync();
        var retention = StoreRetention.RawOnly(TimeSpan.FromDays(30));
        var traffic = new DecisionTraffic(store, retention, new SteppedClock(new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero)));
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out _));
        var from = new DateTimeOffset(2026, 11, 26, 4, 12, 0, TimeSpan.Zero);
        var to = from.AddDays(1);
        static string Describe(QueryPlan plan) => string.Join(" ", plan.Segments.Select(s => $"{s.Table}[{s.From:HH:mm},{s.To:HH:mm})"));

        // Scopes and rules on app and env only: the plain graph's plan, with the service rollups for whole hours and
        // 6 hours and the workload-level 5-minute table for the ends (there is no service rollup per 5 minutes).
        var plan = Describe(traffic.Plan(from, to, keys, ["app", "env"], FilterClause.All));
        Assert.Equal(
            "flows_1m[04:12,04:15) flows_5m[04:15,05:00) flows_app_svc_1h[05:00,06:00) flows_app_svc_6h[06:00,00:00) " +
            "flows_app_svc_1h[00:00,04:00) flows_5m[04:00,04:10) flows_1m[04:10,04:12)",
            plan);
        var graphPlan = QueryPlanner.Plan(from, to, FlowSource.BaseColumns.Concat(["src_app", "dst_app"]).ToHashSet(StringComparer.Ordinal), retention, new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero));
        Assert.Equal(
            Describe(graphPlan),
            plan.Replace("flows_app_svc_", "flows_app_", StringComparison.Ordinal).Replace("flows_5m", "flows_app_5m", StringComparison.Ordinal));

        // A rule on the role: the workload-level rollups; on a free-form label: raw flows.
        Assert.Equal(
            "flows_1m[04:12,04:15) flows_5m[04:15,05:00) flows_1h[05:00,04:00) flows_5m[04:00,04:10) flows_1m[04:10,04:12)",
            Describe(traffic.Plan(from, to, keys, ["app", "env", "role"], FilterClause.All)));
        Assert.True(traffic.Plan(from, to, keys, ["app", "env", "team"], FilterClause.All).RawOnly);
    }

    [Theory]
    [InlineData(true, "app,env")]
    [InlineData(false, "app,env")]
    [InlineData(true, "app")]
    [InlineData(false, "app")]
    public async Task GraphWithDecisions_HasThePlainGraphsEdges_EachDecidedWhole(bool rawOnly, string groupBy)
    {
        // Over raw flows and over the rollups (3 hours: the service rollups for whole hours); grouped by app and env (the
        // keys the rules read) and by app alone (env is then read beside the graph's keys, and the edge sums both envs).
        var rig = await RigAsync();
        var graph = new GraphQuery(rig.Store, rig.Retention, FindingRules.Default);
        var decisions = new GraphDecisions(graph, new DecisionTraffic(rig.Store, rig.Retention), rig.Rulesets);
        Assert.True(GroupKey.TryParseList(groupBy, out var keys, out var error), error);
        var request = new GraphRequest(rig.T.AddHours(-3), rig.To, keys, FilterClause.All, 1000) { RawOnly = rawOnly };

        var plain = await graph.RunAsync(request, CancellationToken.None);
        var (decided, decisionError) = await decisions.RunAsync(request, new DecisionRequest(DecisionsAt.Now, null, null), AccessScope.Unrestricted, CancellationToken.None);
        Assert.True(decided is not null, decisionError);
        static string Describe(GraphEdge e) =>
            $"{e.Source}>{e.Target} flows={e.Flows} blocked={e.Blocked} bytes={e.Bytes} packets={e.Packets} ports={string.Join(",", e.Ports)}/{e.PortCount} " +
            $"findings={string.Join(",", e.Findings)}:{e.Severity} seen={e.FirstSeen:O}..{e.LastSeen:O}";
        Assert.Equal(plain.Edges.Select(Describe), decided.Edges.Select(Describe));
        Assert.Equal(plain.Nodes.Select(n => n.Id), decided.Nodes.Select(n => n.Id));
        Assert.Equal(rawOnly, decided.Plan!.Segments.All(s => s.IsRaw));
        Assert.Equal(!rawOnly, decided.Plan.Segments.Any(s => s.Table == "flows_app_svc_1h"));
        Assert.All(decided.Edges, e => Assert.Equal(e.Flows + e.Blocked, e.Decisions!.Total));
        Assert.All(decided.Edges, e => Assert.Null(e.Parts));

        // Version 2 judges: api → db a violation per connection and the refused attempt blocked, dev api → db allowed.
        var expected = groupBy == "app"
            ? new[] { "app=api>app=db allowed=1 potentiallyBlocked=0 blocked=1 violation=3 unmanaged=0" }
            : ["app=api,env=dev>app=db,env=prod allowed=1 potentiallyBlocked=0 blocked=0 violation=0 unmanaged=0",
               "app=api,env=prod>app=db,env=prod allowed=0 potentiallyBlocked=0 blocked=1 violation=3 unmanaged=0"];
        Assert.Equal(expected, decided.Edges.Select(e => $"{e.Source}>{e.Target} {Counts(e)}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task DecisionsAtTrafficAndNow_AcrossProvisioningChanges_WhatIfSubstitutesAVersion()
    {
        var rig = await RigAsync();

        // Now: version 2 judges all three prod connections (no rule allows api → db: enforced, so violations).
        var now = await RunAsync(rig, DecisionsAt.Now);
        Assert.Equal("allowed=0 potentiallyBlocked=0 blocked=1 violation=3 unmanaged=0", Counts(Edge(now, "app=api,env=prod")));
        Assert.Equal((3L, 1L, 0), (Edge(now, "app=api,env=prod").Flows, Edge(now, "app=api,env=prod").Blocked, Edge(now, "app=api,env=prod").AllowedBy!.Count));
        Assert.Equal(["prod/deny-all"], Edge(now, "app=api,env=prod").ObservedPolicies);
        Assert.Empty(Edge(now, "app=api,env=dev").ObservedPolicies!);
        Assert.Equal("allowed=1 potentiallyBlocked=0 blocked=0 violation=0 unmanaged=0", Counts(Edge(now, "app=api,env=dev")));
        Assert.Equal([$"prod/{DevApiToDb}"], Edge(now, "app=api,env=dev").AllowedBy);
        Assert.Equal(("now", (string?)null, "prod:2:enforced:env=prod"),
            (now.Policy!.DecisionsAt, now.Policy.WhatIf, string.Join(";", now.Policy.Rulesets.Select(r => $"{r.Name}:{r.Version}:{r.Mode}:{r.Scope}"))));

        // At each connection's time: before any provisioning unmanaged, under version 1 allowed, under version 2 a violation.
        var traffic = await RunAsync(rig, DecisionsAt.Traffic);
        Assert.Equal("allowed=1 potentiallyBlocked=0 blocked=1 violation=1 unmanaged=1", Counts(Edge(traffic, "app=api,env=prod")));
        Assert.Equal([$"prod/{ApiToDb}"], Edge(traffic, "app=api,env=prod").AllowedBy);
        Assert.Equal("traffic", traffic.Policy!.DecisionsAt);
        Assert.Equal(["prod:1", "prod:2"], traffic.Policy.Rulesets.Select(r => $"{r.Name}:{r.Version}"));

        // What if version 1 were provisioned: api → db allowed, dev api → db a violation.
        var whatIf = await RunAsync(rig, DecisionsAt.Now, new WhatIf("prod", 1));
        Assert.Equal("allowed=3 potentiallyBlocked=0 blocked=1 violation=0 unmanaged=0", Counts(Edge(whatIf, "app=api,env=prod")));
        Assert.Equal("allowed=0 potentiallyBlocked=0 blocked=0 violation=1 unmanaged=0", Counts(Edge(whatIf, "app=api,env=dev")));
        Assert.Equal("prod:1", whatIf.Policy!.WhatIf);

        // A version that does not exist: the error names it.
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out _));
        var (none, error) = await rig.Decisions.RunAsync(
            new GraphRequest(rig.From, rig.To, keys, FilterClause.All, 1000), new DecisionRequest(DecisionsAt.Now, new WhatIf("prod", 9), null), AccessScope.Unrestricted, CancellationToken.None);
        Assert.Null(none);
        Assert.Equal("whatIf: ruleset 'prod' has no version 9", error);
        (none, error) = await rig.Decisions.RunAsync(
            new GraphRequest(rig.From, rig.To, keys, FilterClause.All, 1000), new DecisionRequest(DecisionsAt.Now, new WhatIf("nothing", 1), null), AccessScope.Unrestricted, CancellationToken.None);
        Assert.Equal("whatIf: ruleset 'nothing' has no version 1", error);
    }

    [Fact]
    public async Task DecisionFilter_KeepsEdgesWithThatDecision_CountsOnlyIt()
    {
        var rig = await RigAsync();

        var violations = await RunAsync(rig, DecisionsAt.Traffic, filter: "decision = violation and dst.env = prod");
        var edge = Assert.Single(violations.Edges);
        Assert.Equal(("app=api,env=prod", "allowed=0 potentiallyBlocked=0 blocked=0 violation=1 unmanaged=0"), (edge.Source, Counts(edge)));
        Assert.Equal(["app=api,env=prod", "app=db,env=prod"], violations.Nodes.Select(n => n.Id));
        Assert.Equal("decision = violation and dst.env = prod", violations.Filter);

        var notViolations = await RunAsync(rig, DecisionsAt.Now, filter: "decision != violation");
        Assert.Equal(
            ["app=api,env=dev allowed=1 potentiallyBlocked=0 blocked=0 violation=0 unmanaged=0", "app=api,env=prod allowed=0 potentiallyBlocked=0 blocked=1 violation=0 unmanaged=0"],
            notViolations.Edges.Select(e => $"{e.Source} {Counts(e)}").Order(StringComparer.Ordinal));

        var allowedOrUnmanaged = await RunAsync(rig, DecisionsAt.Traffic, filter: "decision in (allowed, unmanaged)");
        Assert.Equal(
            ["app=api,env=dev allowed=1 potentiallyBlocked=0 blocked=0 violation=0 unmanaged=0", "app=api,env=prod allowed=1 potentiallyBlocked=0 blocked=0 violation=0 unmanaged=1"],
            allowedOrUnmanaged.Edges.Select(e => $"{e.Source} {Counts(e)}").Order(StringComparer.Ordinal));

        var blocked = Assert.Single((await RunAsync(rig, DecisionsAt.Now, filter: "decision = blocked")).Edges);
        Assert.Equal(("app=api,env=prod", "allowed=0 potentiallyBlocked=0 blocked=1 violation=0 unmanaged=0"), (blocked.Source, Counts(blocked)));
    }

    [Fact]
    public async Task ScopedCaller_SeesItsEdgesDecided_ButNotTheNamesOfRulesetsOutsideItsScope()
    {
        var rig = await RigAsync();

        var dev = await RunAsync(rig, DecisionsAt.Now, scope: "env=dev");
        var edge = Assert.Single(dev.Edges);
        Assert.Equal(("app=api,env=dev", "allowed=1 potentiallyBlocked=0 blocked=0 violation=0 unmanaged=0"), (edge.Source, Counts(edge)));
        Assert.Empty(edge.AllowedBy!);
        Assert.Empty(dev.Policy!.Rulesets);

        // A what-if of a ruleset outside its scope is unknown to it, as if it did not exist.
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out _));
        var devScope = AccessScope.Parse("env=dev");
        var (graph, error) = await rig.Decisions.RunAsync(
            new GraphRequest(rig.From, rig.To, keys, devScope.Restrict(FilterClause.All), 1000), new DecisionRequest(DecisionsAt.Now, new WhatIf("prod", 1), null), devScope, CancellationToken.None);
        Assert.Null(graph);
        Assert.Equal("whatIf: ruleset 'prod' has no version 1", error);
    }

    [Theory]
    [InlineData("decision = violation or dst.env = prod", "filter: 'decision' can only be joined to the rest of the filter with 'and' (not inside 'or' or 'not')")]
    [InlineData("not decision = allowed", "filter: 'decision' can only be joined to the rest of the filter with 'and' (not inside 'or' or 'not')")]
    [InlineData("decision = refused", "filter: position 12: unknown decision 'refused' (expected allowed, potentiallyBlocked, blocked, violation or unmanaged)")]
    public void DecisionFilter_BadPlacementOrValue_IsRefusedNamingIt(string filter, string expected)
    {
        Assert.False(FilterClause.TryCreate(filter, allowDecisions: true, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void DecisionFilter_OutsideTheGraph_IsRefused_AndValuesNormalize()
    {
        Assert.False(FilterClause.TryCreate("decision = violation", out _, out var error));
        Assert.Equal("filter: 'decision' applies to the graph only (GET /api/v1/graph), where decisions are computed", error);

        Assert.True(FilterClause.TryCreate("decision in (POTENTIALLYBLOCKED, violation) and decision != violation and port = 5432", allowDecisions: true, out var clause, out error), error);
        Assert.Equal(["potentiallyBlocked"], clause.Decisions!);
        Assert.Equal(["dst_port"], clause.Columns);
        Assert.True(FilterClause.TryCreate("port = 5432", allowDecisions: true, out var plain, out _));
        Assert.Null(plain.Decisions);
    }
}
