using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Policy;
using Visibility.Tests.Support;

namespace Visibility.Tests.Policy;

/// <summary>Drafts from flows in the real engine (chDB), and simulations of them against the same history.</summary>
public sealed class PolicyDraftTests
{
    private static readonly NamedNetwork Vpn = new("vpn", [Prefix("172.16.0.0/12")], new Dictionary<string, string>());

    private static readonly WorkloadIndex Index = WorkloadIndex.Build(
        [
            Workload("prod-web", "10.10.1.10", "web", "prod"),
            Workload("prod-api", "10.10.2.10", "api", "prod"),
            Workload("prod-api-2", "10.10.2.11", "api", "prod"),
            Workload("prod-db", "10.10.3.10", "db", "prod"),
            Workload("dev-api", "10.20.2.10", "api", "dev"),
        ],
        new LabelSettings { Networks = [Vpn] });

    private static readonly FindingRules Rules = new(new FindingsOptions());

    private static readonly DateTimeOffset Start = DateTimeOffset.UtcNow.AddHours(-2);

    private static readonly IReadOnlyList<GroupKey> AppEnv = Keys("app,env");

    private static int nextId;

    [Fact]
    public async Task Draft_OneRulePerGroupPair_PortsCollapsed_FlaggedLeftOut_ThenSimulation_AllowsAllOfIt_AndBlocksExactlyANewDevToProdConnection()
    {
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        foreach (var port in new ushort[] { 8080, 8081, 8082, 9090 })
        {
            batch.Add(Flow("10.10.1.10", "10.10.2.10", port, Start));
            batch.Add(Flow("10.10.1.10", "10.10.2.11", port, Start.AddMinutes(5)));
        }

        batch.Add(Flow("10.10.2.10", "10.10.3.10", 5432, Start.AddMinutes(1)));
        batch.Add(Flow("10.10.2.11", "10.10.3.10", 5432, Start.AddMinutes(2)));
        batch.Add(Flow("10.10.2.10", "10.10.3.10", 53, Start.AddMinutes(3), protocol: 17));
        batch.Add(Flow("172.16.4.4", "10.10.1.10", 443, Start.AddMinutes(4)));
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);

        var traffic = Traffic(store);
        var to = Start.AddMinutes(30);
        var draft = await new PolicyDrafter(traffic, [Vpn]).DraftAsync(new DraftRequest(Start, to, FilterClause.All, AppEnv, IncludeFlagged: false, "prod"), CancellationToken.None);

        Assert.Equal(
            [
                "app=api,env=prod -> app=db,env=prod: tcp/5432 udp/53",
                "app=web,env=prod -> app=api,env=prod: tcp/8080-8082 tcp/9090",
                "network:vpn -> app=web,env=prod: tcp/443",
            ],
            draft.Ruleset.Rules.Select(r => $"{r.Name}: {string.Join(' ', r.Ports)}"));
        Assert.Equal(0, draft.FlaggedFlowsExcluded);
        Assert.Equal(12, draft.FlowsCovered);
        var vpnRule = draft.Ruleset.Rules.Single(r => r.Source.Kind == PolicyPeer.NamedNetwork);
        Assert.Equal(["172.16.0.0/12"], vpnRule.Source.Cidrs);
        Assert.Equal(8, draft.Ruleset.Rules.Single(r => r.Name.StartsWith("app=web", StringComparison.Ordinal)).Flows);
        Assert.Equal(["app", "env"], draft.Ruleset.GroupBy);
        Assert.Empty(PolicyValidation.Problems(draft.Ruleset));

        // Against the traffic it came from: everything allowed, every rule used.
        var same = await new PolicySimulator(traffic).SimulateAsync(draft.Ruleset, Start, to, FilterClause.All, CancellationToken.None);
        Assert.Equal((12L, 12L, 0L, 1.0), (same.Flows, same.AllowedFlows, same.BlockedFlows, same.Coverage));
        Assert.Empty(same.Blocked);
        Assert.All(same.Rules, r => Assert.True(r.Flows > 0, r.Rule));

        // Plus one new dev → prod connection: exactly that is reported blocked.
        var later = new FlowBatch();
        later.Add(Flow("10.20.2.10", "10.10.3.10", 5432, Start.AddMinutes(10)));
        await store.InsertFlowsAsync(later.Rows, CancellationToken.None);
        var withNew = await new PolicySimulator(traffic).SimulateAsync(draft.Ruleset, Start, to, FilterClause.All, CancellationToken.None);
        var blocked = Assert.Single(withNew.Blocked);
        Assert.Equal(("app=api,env=dev", "app=db,env=prod", "tcp/5432", 1L), (blocked.Source, blocked.Destination, blocked.Service, blocked.Flows));
        Assert.Equal(["cross_env"], blocked.Findings);
        Assert.Equal((13L, 12L, 1L), (withNew.Flows, withNew.AllowedFlows, withNew.BlockedFlows));
        Assert.Equal(12.0 / 13, withNew.Coverage, 6);

        // A flagged flow in the drafted range is left out of a draft (and so would be blocked) unless asked for.
        var flagged = new FlowBatch();
        flagged.Add(Flow("203.0.113.9", "10.10.1.10", 443, Start.AddMinutes(6)));
        await store.InsertFlowsAsync(flagged.Rows, CancellationToken.None);
        var redraft = await new PolicyDrafter(traffic, [Vpn]).DraftAsync(new DraftRequest(Start, to, FilterClause.All, AppEnv, IncludeFlagged: false, "prod"), CancellationToken.None);
        Assert.Equal(2, redraft.FlaggedFlowsExcluded);     // the new dev → prod connection (cross_env) and the internet one
        Assert.Equal(draft.Ruleset.Rules.Select(r => r.Name), redraft.Ruleset.Rules.Select(r => r.Name));
    }

    [Fact]
    public async Task Draft_IncludeFlagged_AllowsTheInternetSource_AndAScopeNarrowsIt()
    {
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        batch.Add(Flow("203.0.113.9", "10.10.1.10", 443, Start));
        batch.Add(Flow("10.10.2.10", "10.10.3.10", 5432, Start));
        batch.Add(Flow("10.10.1.10", "10.10.2.10", 8080, Start));
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);

        var drafter = new PolicyDrafter(Traffic(store), [Vpn]);
        var all = await drafter.DraftAsync(new DraftRequest(Start, Start.AddHours(1), FilterClause.All, AppEnv, IncludeFlagged: true, "all"), CancellationToken.None);
        Assert.Contains("internet -> app=web,env=prod", all.Ruleset.Rules.Select(r => r.Name));
        Assert.Equal(0, all.FlaggedFlowsExcluded);

        var scoped = await drafter.DraftAsync(new DraftRequest(Start, Start.AddHours(1), Filter("dst.app = db"), AppEnv, IncludeFlagged: false, "db"), CancellationToken.None);
        Assert.Equal(["app=api,env=prod -> app=db,env=prod"], scoped.Ruleset.Rules.Select(r => r.Name));
        Assert.Equal("dst.app = db", scoped.Ruleset.Source!.Scope);
    }

    [Fact]
    public void Collapse_ConsecutivePortsBecomeRanges_PerProtocol()
    {
        var ranges = PolicyDrafter.Collapse([("tcp", 443), ("tcp", 80), ("tcp", 8002), ("tcp", 8000), ("tcp", 8001), ("udp", 53), ("tcp", 80), ("udp", 54)]);
        Assert.Equal(["tcp/80", "tcp/443", "tcp/8000-8002", "udp/53-54"], ranges.Select(r => r.ToString()));
    }

    [Fact]
    public void Diff_AddedRemovedChanged_PortsComparedAsSets()
    {
        var db = Peer("app=db,env=prod");
        var api = Peer("app=api,env=prod");
        var web = Peer("app=web,env=prod");
        var before = new PolicyRuleset("a", ["app", "env"], [
            Rule(api, db, new PortRange("tcp", 5432, 5432)),
            Rule(web, api, new PortRange("tcp", 8080, 8081)),
            Rule(web, db, new PortRange("tcp", 5432, 5432)),
        ]);
        var after = new PolicyRuleset("b", ["app", "env"], [
            Rule(api, db, new PortRange("tcp", 5432, 5432)),
            Rule(web, api, new PortRange("tcp", 8080, 8080), new PortRange("tcp", 8081, 8082)),
            Rule(api, web, new PortRange("udp", 53, 53)),
        ]);
        var diff = PolicyDiff.Compare(before, after);
        Assert.Equal(["app=api,env=prod -> app=web,env=prod"], diff.Added.Select(r => r.Name));
        Assert.Equal(["app=web,env=prod -> app=db,env=prod"], diff.Removed.Select(r => r.Name));
        var change = Assert.Single(diff.Changed);
        Assert.Equal(["tcp/8082"], change.AddedPorts.Select(p => p.ToString()));
        Assert.Empty(change.RemovedPorts);
        Assert.Equal(1, diff.Unchanged);
        Assert.True(PolicyDiff.Compare(after, after).Same);
    }

    [Fact]
    public void Validation_NamesEveryProblem()
    {
        var ruleset = new PolicyRuleset("x", [], [
            new PolicyRule("r", new PolicyPeer("host", new Dictionary<string, string>()), new PolicyPeer(PolicyPeer.NamedNetwork, new Dictionary<string, string>()),
                [new PortRange("http", 80, 80), new PortRange("tcp", 90, 80)]),
        ]) { Schema = "v0" };
        Assert.Equal(
            [
                "schema 'v0' is not visibility.policy/v1",
                "rules[0].source.kind 'host' is not one of workload, network, internet, unknown",
                "rules[0].destination.network is required for kind 'network'",
                "rules[0].ports[0].protocol 'http' is not one of tcp, udp, sctp, icmp, icmpv6",
                "rules[0].ports[1] 90-80 is not a port range within 0-65535",
            ],
            PolicyValidation.Problems(ruleset));
    }

    private static PolicyRule Rule(PolicyPeer source, PolicyPeer destination, params PortRange[] ports) =>
        new(PolicyDrafter.RuleName(source, destination), source, destination, ports);

    private static PolicyPeer Peer(string labels) =>
        new(PolicyPeer.Workload, labels.Split(',').Select(l => l.Split('=')).ToDictionary(p => p[0], p => p[1]));

    private static PolicyTraffic Traffic(IFlowStore store) => new(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)));

    private static FilterClause Filter(string text)
    {
        Assert.True(FilterClause.TryCreate(text, out var clause, out var error), error);
        return clause;
    }

    private static IReadOnlyList<GroupKey> Keys(string text)
    {
        Assert.True(GroupKey.TryParseList(text, out var keys, out var error), error);
        return keys;
    }

    private static FlowRecord Flow(string src, string dst, ushort port, DateTimeOffset at, byte protocol = 6) =>
        TestFlows.Connection(Index, Rules, Interlocked.Increment(ref nextId), src, dst, port, at) with { Protocol = protocol };

    private static Prefix Prefix(string text)
    {
        Assert.True(Visibility.Flows.Model.Prefix.TryParse(text, out var prefix, out var error), error);
        return prefix;
    }

    private static WorkloadSpec Workload(string name, string address, string app, string env) =>
        new() { Name = name, Addresses = [address], Labels = new Dictionary<string, string> { ["app"] = app, ["env"] = env } };
}
