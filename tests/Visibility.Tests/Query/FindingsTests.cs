using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Findings;
using Visibility.Query.Flows;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Tests.Support;

namespace Visibility.Tests.Query;

public sealed class FindingsTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build(
        [
            Workload("dev-api", "10.20.2.10", "api", "dev"),
            Workload("test-api", "10.30.2.10", "api", "test"),
            Workload("ci-runner", "10.40.2.10", "ci", "ci"),
            Workload("prod-db", "10.10.3.10", "db", "prod"),
            Workload("prod-api", "10.10.2.10", "api", "prod"),
        ],
        new LabelSettings { Networks = [new NamedNetwork("vpn", [Vpn()], new Dictionary<string, string>())] });

    private static readonly FindingRules Rules = new(new FindingsOptions
    {
        SanctionedPairs = ["ci->dev"],
        Severities = new Dictionary<string, string> { ["test->prod"] = "critical", ["unknown_source"] = "high" },
        NewEdgeBaseline = TimeSpan.FromHours(1),
    });

    private static readonly DateTimeOffset Start = DateTimeOffset.UtcNow.AddHours(-3);

    private static Prefix Vpn()
    {
        Assert.True(Prefix.TryParse("172.16.0.0/12", out var prefix, out var error), error);
        return prefix;
    }

    private static WorkloadSpec Workload(string name, string address, string app, string env) =>
        new() { Name = name, Addresses = [address], Labels = new Dictionary<string, string> { ["app"] = app, ["env"] = env } };

    private static Endpoint At(string address)
    {
        Assert.True(IpAddressKey.TryParse(address.AsSpan(), out var ip));
        return Index.Lookup(ip);
    }

    [Theory]
    [InlineData("10.20.2.10", "10.10.3.10", FindingKind.CrossEnv)]                  // dev -> prod
    [InlineData("10.40.2.10", "10.20.2.10", FindingKind.None)]                      // ci -> dev: sanctioned
    [InlineData("10.20.2.10", "10.40.2.10", FindingKind.CrossEnv)]                  // dev -> ci: only the other way is sanctioned
    [InlineData("10.10.2.10", "10.10.3.10", FindingKind.None)]                      // prod -> prod
    [InlineData("10.99.0.5", "10.10.3.10", FindingKind.UnknownSource)]             // unknown internal -> prod
    [InlineData("203.0.113.9", "10.10.2.10", FindingKind.InternetSource)]          // internet -> prod
    [InlineData("203.0.113.9", "10.20.2.10", FindingKind.None)]                     // internet -> dev: not protected
    [InlineData("172.16.4.4", "10.10.2.10", FindingKind.None)]                      // a named network is known
    [InlineData("10.10.2.10", "203.0.113.9", FindingKind.None)]                     // prod -> internet: no env on one end
    public void Classify_Pairs(string src, string dst, FindingKind expected) =>
        Assert.Equal(expected, Rules.Classify(At(src), At(dst)));

    [Fact]
    public void Severity_DefaultsAndOverrides()
    {
        Assert.Equal("high", Rules.Severity(FindingKind.CrossEnv, "dev", "prod"));
        Assert.Equal("critical", Rules.Severity(FindingKind.CrossEnv, "test", "prod"));
        Assert.Equal("medium", Rules.Severity(FindingKind.CrossEnv, "dev", "test"));
        Assert.Equal("high", Rules.Severity(FindingKind.UnknownSource, "", "prod"));
        Assert.Equal("high", Rules.Severity(FindingKind.InternetSource, "", "prod"));
        Assert.Equal("medium", Rules.Severity(FindingKind.NewEdge, "dev", "prod"));
        Assert.Equal("low", Rules.Severity(FindingKind.NewEdge, "dev", "dev"));
    }

    [Fact]
    public void Options_Invalid_AreNamed()
    {
        var options = new FindingsOptions
        {
            SanctionedPairs = ["dev>prod"],
            Severities = new Dictionary<string, string> { ["dev->prod"] = "urgent", ["bogus"] = "low" },
        };
        var errors = options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)).Select(e => e.ErrorMessage).ToList();
        Assert.Contains("Findings:SanctionedPairs: 'dev>prod' is not an environment pair such as dev->test", errors);
        Assert.Contains("Findings:Severities:dev->prod: 'urgent' is not one of low, medium, high, critical", errors);
        Assert.Contains("Findings:Severities: 'bogus' is neither a finding name nor an environment pair such as dev->prod", errors);
        Assert.Empty(new FindingsOptions().Validate(new System.ComponentModel.DataAnnotations.ValidationContext(new FindingsOptions())));
    }

    private static FlowRecord Flow(int id, string src, string dst, ushort port, DateTimeOffset at) =>
        TestFlows.Connection(Index, Rules, id, src, dst, port, at);

    private static async Task<IFlowStore> StoreAsync()
    {
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        batch.Add(Flow(1, "10.10.2.10", "10.10.3.10", 5432, Start));                     // prod-api -> prod-db: the first flow
        batch.Add(Flow(2, "10.10.2.10", "10.10.3.10", 5432, Start.AddHours(2)));          // same edge later: not new
        batch.Add(Flow(3, "10.20.2.10", "10.10.3.10", 5432, Start.AddHours(2)));          // dev -> prod: cross_env, and new
        batch.Add(Flow(4, "10.30.2.10", "10.10.2.10", 443, Start.AddMinutes(10)));        // test -> prod, in the baseline
        batch.Add(Flow(5, "10.99.0.5", "10.10.3.10", 5432, Start.AddHours(2).AddMinutes(5)));  // unknown -> prod
        batch.Add(Flow(6, "203.0.113.9", "10.10.2.10", 443, Start.AddHours(2).AddMinutes(6))); // internet -> prod
        batch.Add(Flow(7, "10.40.2.10", "10.20.2.10", 22, Start.AddHours(2)));            // ci -> dev: sanctioned, but new
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        return store;
    }

    private static FindingsQuery Findings(IFlowStore store) => new(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), Rules);

    [Fact]
    public async Task Findings_EveryKind_WithSeverityEndsAndService()
    {
        var store = await StoreAsync();
        var result = await Findings(store).RunAsync(new FindingsRequest(Start.AddHours(-1), Start.AddHours(4), FilterClause.All, "low", 100), CancellationToken.None);

        var described = result.Findings.Select(f => $"{f.Kind} {f.Severity} {f.Source.Workload}|{f.Source.Kind} -> {f.Destination.Workload} {f.Service} flows {f.Flows}").Order().ToList();
        Assert.Equal(
            [
                "cross_env critical test-api|host -> prod-api tcp/443 flows 1",
                "cross_env high dev-api|host -> prod-db tcp/5432 flows 1",
                "internet_source high |internet -> prod-api tcp/443 flows 1",
                "new_edge low ci-runner|host -> dev-api tcp/22 flows 1",
                "new_edge medium dev-api|host -> prod-db tcp/5432 flows 1",
                "new_edge medium |internet -> prod-api tcp/443 flows 1",
                "new_edge medium |unknown -> prod-db tcp/5432 flows 1",
                "unknown_source high |unknown -> prod-db tcp/5432 flows 1",
            ],
            described);
        Assert.Equal(8, result.Total);
        Assert.False(result.Truncated);

        var severe = await Findings(store).RunAsync(new FindingsRequest(Start.AddHours(-1), Start.AddHours(4), FilterClause.All, "critical", 100), CancellationToken.None);
        Assert.Equal("cross_env", Assert.Single(severe.Findings).Kind);

        var limited = await Findings(store).RunAsync(new FindingsRequest(Start.AddHours(-1), Start.AddHours(4), FilterClause.All, "low", 3), CancellationToken.None);
        Assert.Equal((3, true, 8L), (limited.Findings.Count, limited.Truncated, limited.Total));
    }

    [Fact]
    public async Task Findings_FilteredByKind_AndOnTheGraph()
    {
        var store = await StoreAsync();
        Assert.True(FilterClause.TryCreate("finding = new_edge and dst.env = prod", out var filter, out var error), error);
        var result = await Findings(store).RunAsync(new FindingsRequest(Start.AddHours(-1), Start.AddHours(4), filter, "low", 100), CancellationToken.None);

        // The filter selects flows on new edges into prod; their other findings come along.
        Assert.Equal(["cross_env", "internet_source", "new_edge", "unknown_source"], result.Findings.Select(f => f.Kind).Distinct().Order());
        Assert.All(result.Findings, f => Assert.Equal("prod", f.Destination.Labels["env"]));

        Assert.True(GroupKey.TryParseList("app,env", out var keys, out _));
        var graph = await new GraphQuery(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), Rules)
            .RunAsync(new GraphRequest(Start.AddHours(-1), Start.AddHours(4), keys, FilterClause.All, 100), CancellationToken.None);
        var devToProd = Assert.Single(graph.Edges, e => e.Source == "app=api,env=dev" && e.Target == "app=db,env=prod");
        Assert.Equal(["cross_env", "new_edge"], devToProd.Findings);
        Assert.Equal("high", devToProd.Severity);
        var prodToProd = Assert.Single(graph.Edges, e => e.Source == "app=api,env=prod" && e.Target == "app=db,env=prod");
        Assert.Empty(prodToProd.Findings);
        Assert.Null(prodToProd.Severity);
        Assert.Equal(2, prodToProd.Flows);
    }

    /// <summary>A refused attempt (blocked, counted once however often retransmitted): never a connection.</summary>
    private static FlowRecord Attempt(int id, string src, string dst, ushort port, DateTimeOffset at, bool retransmission = false)
    {
        var record = Flow(id, src, dst, port, at);
        record.IsAttempt = true;
        record.Verdict = FlowVerdict.Blocked;
        record.Event = retransmission ? FlowEvent.Update : FlowEvent.New;
        record.EndMs = 0;
        (record.BytesIn, record.PacketsIn) = (0, 0);
        return record;
    }

    [Fact]
    public async Task Findings_RefusedAttemptsOnly_AreNoFindingsNorNewEdges_AndDoNotMoveFirstSightings()
    {
        var store = await StoreAsync();
        var batch = new FlowBatch();
        batch.Add(Attempt(20, "10.20.2.10", "10.10.2.10", 8443, Start.AddHours(2)));                           // dev -> prod-api, refused
        batch.Add(Attempt(20, "10.20.2.10", "10.10.2.10", 8443, Start.AddHours(2).AddSeconds(70), true));      // its retransmission, a minute later
        batch.Add(Attempt(21, "203.0.113.9", "10.10.3.10", 3389, Start.AddHours(2).AddMinutes(7)));              // internet -> prod-db, refused
        batch.Add(Attempt(22, "10.20.2.10", "10.10.3.10", 5432, Start.AddHours(2).AddMinutes(-10)));           // before dev -> prod-db's connection
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        var (from, to) = (Start.AddHours(-1), Start.AddHours(4));

        // The findings are those of the connections alone (Findings_EveryKind_WithSeverityEndsAndService), and the
        // dev -> prod-db ones start at its connection, not at the refused attempt before it.
        var result = await Findings(store).RunAsync(new FindingsRequest(from, to, FilterClause.All, "low", 100), CancellationToken.None);
        Assert.Equal(8, result.Total);
        Assert.DoesNotContain(result.Findings, f => f.Service is "tcp/8443" or "tcp/3389");
        Assert.All(result.Findings.Where(f => f.Source.Workload == "dev-api" && f.Destination.Workload == "prod-db"), f => Assert.Equal(Start.AddHours(2).ToUnixTimeMilliseconds(), f.FirstSeen.ToUnixTimeMilliseconds()));
        Assert.True(FilterClause.TryCreate("finding = cross_env and dst.app = api", out var crossEnv, out var error), error);
        Assert.Equal(["test-api"], (await Findings(store).RunAsync(new FindingsRequest(from, to, crossEnv, "low", 100), CancellationToken.None)).Findings.Select(f => f.Source.Workload));

        // On the graph, from rollups (new edges looked up) and from raw flows (new edges marked per row): the refused
        // edges are there, blocked, with no finding; dev -> prod-db keeps its own.
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out _));
        foreach (var raw in new[] { false, true })
        {
            var graph = await new GraphQuery(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), Rules)
                .RunAsync(new GraphRequest(from, to, keys, FilterClause.All, 100) { RawOnly = raw }, CancellationToken.None);
            var refused = Assert.Single(graph.Edges, e => e.Source == "app=api,env=dev" && e.Target == "app=api,env=prod");
            Assert.Equal((0L, 1L, false, 0), (refused.Flows, refused.Blocked, refused.CrossEnv, refused.Findings.Count));
            Assert.Null(refused.Severity);
            var internet = Assert.Single(graph.Edges, e => e.Source == "internet" && e.Target == "app=db,env=prod");
            Assert.Equal((0L, 1L, 0), (internet.Flows, internet.Blocked, internet.Findings.Count));
            var devToProd = Assert.Single(graph.Edges, e => e.Source == "app=api,env=dev" && e.Target == "app=db,env=prod");
            Assert.Equal((1L, 1L), (devToProd.Flows, devToProd.Blocked));
            Assert.Equal(["cross_env", "new_edge"], devToProd.Findings);
        }

        // A refused attempt's record lists no finding either.
        var flows = await new FlowSearch(store, Rules).RunAsync(new FlowSearchRequest(from, to, FilterClause.All, 100, null), CancellationToken.None);
        Assert.All(flows.Flows.Where(f => f.Attempt), f => Assert.Empty(f.Findings));
        Assert.Equal(4, flows.Flows.Count(f => f.Attempt));
    }
}
