using System.Text.Json;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Planning;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Tests.Support;
using Visibility.Web.Api;
using static Visibility.Tests.Policy.PolicySamples;

namespace Visibility.Tests.Policy;

/// <summary>What a policy author hit as a new user (issue 20, item 6): each a regression test.</summary>
public sealed class PolicyAuthorTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build(
        [
            Spec("prod-web", ["10.10.1.10"], ("app", "web"), ("env", "prod")),
            Spec("prod-db", ["10.10.3.10"], ("app", "db"), ("env", "prod")),
            Spec("dev-web", ["10.20.1.10"], ("app", "web"), ("env", "dev")),
            Spec("dev-db", ["10.20.3.10"], ("app", "db"), ("env", "dev")),
        ],
        new LabelSettings());

    private static readonly FindingRules Rules = new(new FindingsOptions());

    private static int nextId;

    [Fact]
    public async Task PeerWithoutLabels_AsTheDocsWriteIt_IsSimulatedRenderedAndDiffed()
    {
        const string Json = """
            {"schema": "visibility.policy/v1", "name": "hand", "groupBy": ["app"], "rules": [
              {"name": "in", "source": {"kind": "internet"}, "destination": {"kind": "workload", "labels": {"app": "web"}}, "ports": [{"protocol": "tcp", "from": 443, "to": 443}]},
              {"name": "out", "source": {"kind": "workload", "labels": {"app": "web"}}, "destination": {"kind": "internet"}, "ports": [{"protocol": "tcp", "from": 443, "to": 443}]}
            ]}
            """;
        var ruleset = JsonSerializer.Deserialize<PolicyRuleset>(Json)!;
        Assert.Empty(PolicyValidation.Problems(ruleset));

        var store = await TestStore.CreateAsync();
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        var batch = new FlowBatch();
        batch.Add(TestFlows.Connection(Index, Rules, Interlocked.Increment(ref nextId), "203.0.113.9", "10.10.1.10", 443, start));
        batch.Add(TestFlows.Connection(Index, Rules, Interlocked.Increment(ref nextId), "10.10.1.10", "10.10.3.10", 5432, start));
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);

        var result = await new PolicySimulator(new PolicyTraffic(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650))))
            .SimulateAsync(ruleset, start, start.AddMinutes(30), FilterClause.All, CancellationToken.None);
        Assert.Equal((2L, 1L, 1L), (result.Flows, result.AllowedFlows, result.BlockedFlows));
        Assert.Equal(("app=web", "app=db"), (result.Blocked[0].Source, result.Blocked[0].Destination));

        Assert.True(PolicyDiff.Compare(ruleset, ruleset).Same);
        Assert.Contains("visibility-allow-app-web", new NetworkPolicyRenderer().Render(ruleset).Yaml, StringComparison.Ordinal);
        Assert.Contains("comment \"out\"", new NftablesRenderer(new InventoryAddressBook(Inventory())).Render(ruleset), StringComparison.Ordinal);
    }

    [Fact]
    public void Scope_OfADraft_IsItsSourceScope_AndJoinsTheCallersFilter()
    {
        var draft = new PolicyRuleset("prod", ["app", "env"], []) { Source = new PolicySource(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddHours(1), "dst.env = prod", false) };
        var hand = new PolicyRuleset("hand", ["app"], []);

        Assert.Equal("dst.env = prod", PolicyScope.Of(draft));
        Assert.Equal("", PolicyScope.Of(hand));
        Assert.Equal("dst.env = prod", PolicyScope.Filter(draft, null));
        Assert.Equal("(dst.env = prod) and (port = 22 or src.app = web)", PolicyScope.Filter(draft, "port = 22 or src.app = web"));
        Assert.Equal("port = 22", PolicyScope.Filter(hand, "port = 22"));
        Assert.True(FilterClause.TryCreate(PolicyScope.Filter(draft, "port = 22 or src.app = web"), out _, out var error), error);

        Assert.Equal(new Dictionary<string, string> { ["env"] = "prod" }, PolicyScope.Selector("dst.env = prod"));
        Assert.Equal(new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" }, PolicyScope.Selector("dst.env = prod and dst.app = db"));
        Assert.Empty(PolicyScope.Selector("")!);
        Assert.Null(PolicyScope.Selector("dst.env = prod or dst.env = dev"));
        Assert.Null(PolicyScope.Selector("env = prod"));          // either end: not a set of destinations
        Assert.Null(PolicyScope.Selector("dst.env != prod"));
    }

    [Fact]
    public void RenderNetworkPolicy_ADestinationInScopeThatNoRuleAllows_IsDeniedByDefault()
    {
        var ruleset = Ruleset() with { Source = new PolicySource(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddHours(1), "dst.env = prod and dst.namespace = shop", false) };

        var rendering = new NetworkPolicyRenderer().Render(ruleset);

        var deny = Assert.Single(rendering.Policies, p => p.Metadata.Name == "visibility-default-deny-env-prod");
        Assert.Equal("shop", deny.Metadata.NamespaceProperty);
        Assert.Equal(new Dictionary<string, string> { ["env"] = "prod" }, deny.Spec.PodSelector.MatchLabels);
        Assert.Equal(["Ingress"], deny.Spec.PolicyTypes);
        Assert.Empty(deny.Spec.Ingress);
    }

    [Fact]
    public void RenderNetworkPolicy_AHandWrittenRuleset_GovernsEverything_SoEveryNamespaceItNamesIsDeniedByDefault()
    {
        var rendering = new NetworkPolicyRenderer().Render(Ruleset());

        var denies = rendering.Policies.Where(p => p.Metadata.Name == "visibility-default-deny-all").ToList();
        Assert.Equal([null, "shop"], denies.Select(p => p.Metadata.NamespaceProperty));
        Assert.All(denies, d => Assert.Null(d.Spec.PodSelector.MatchLabels));
        Assert.Contains("# Default deny: ", rendering.Yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void RenderNetworkPolicy_VmWorkloads_AreLeftOutWithANote_PodsAndMixedGroupsAreRendered()
    {
        var inventory = new[]
        {
            Spec("db-vm", ["10.1.1.5"], ("app", "db"), ("env", "prod"), ("namespace", "shop")) with { Kind = "vm" },
            Spec("api-1", ["10.1.0.10"], ("app", "api"), ("env", "prod"), ("namespace", "shop")) with { Kind = "pod" },
            Spec("api-vm", ["10.1.0.99"], ("app", "api"), ("env", "prod"), ("namespace", "shop")) with { Kind = "vm" },
        };
        var options = new NetworkPolicyOptions { WorkloadKinds = new InventoryAddressBook(inventory).Kinds };

        var rendering = new NetworkPolicyRenderer(options).Render(Ruleset());

        Assert.DoesNotContain(rendering.Policies, p => p.Metadata.Name == "visibility-allow-app-db-env-prod");
        Assert.Contains("app=api,env=prod,namespace=shop -> app=db,env=prod,namespace=shop: destination app=db,env=prod,namespace=shop is vm workloads; NetworkPolicy selects pods only", rendering.NotRendered);
        var api = Assert.Single(rendering.Policies, p => p.Metadata.Name == "visibility-allow-app-api-env-prod");
        Assert.Contains("app=api,env=prod,namespace=shop: the selector matches its pods only, not its vm workloads", api.Metadata.Annotations[NetworkPolicyRenderer.NotRenderedAnnotation], StringComparison.Ordinal);
    }

    [Fact]
    public void RenderNftables_ForOneHost_KeepsOnlyRulesReachingItsAddresses_AndAcceptsTheManagementPrefixes()
    {
        var book = new InventoryAddressBook(Inventory());
        var target = NftablesTarget.ForHost(book, "db-1", ["192.0.2.10/32", "192.0.2.128/25", "2001:db8::/64"], out var error);
        Assert.Null(error);

        var text = new NftablesRenderer(book).Render(Ruleset(), target);

        Assert.Contains("# For host db-1 (10.1.1.5): only rules whose destination includes its addresses", text, StringComparison.Ordinal);
        Assert.Contains("ip saddr { 192.0.2.10, 192.0.2.128/25 } accept comment \"management\"", text, StringComparison.Ordinal);
        Assert.Contains("ip6 saddr 2001:db8::/64 accept comment \"management\"", text, StringComparison.Ordinal);
        Assert.Contains("@app_db_env_prod_namespace_shop_v4 tcp dport 5432 accept", text, StringComparison.Ordinal);
        Assert.DoesNotContain("-> app=web", text, StringComparison.Ordinal);
        Assert.DoesNotContain("chain forward", text, StringComparison.Ordinal);
        Assert.DoesNotContain("10.1.1.6", text, StringComparison.Ordinal);
        Nft.Check(text);

        Assert.Null(NftablesTarget.ForHost(book, "nobody", [], out error));
        Assert.Equal("no workload named 'nobody' holds addresses in the inventory", error);
        Assert.Null(NftablesTarget.ForHost(book, null, ["10.0.0.0/33"], out error));
        Assert.Equal("managementAllow '10.0.0.0/33' is not an address or CIDR prefix", error);
    }

    [Fact]
    public void Json_OmitsNullMembers_AndEveryKeyIsCamelCase()
    {
        var ruleset = new PolicyRuleset("hand", ["app"], [Rule(Workload(("app", "web")), new PolicyPeer(PolicyPeer.Internet, null), Tcp(443))]);

        var text = JsonSerializer.Serialize(ruleset, PolicyJson.Files);

        Assert.DoesNotContain("null", text, StringComparison.Ordinal);
        Assert.Contains("\"app=web -> internet\"", text, StringComparison.Ordinal);
        var diff = JsonDocument.Parse(JsonSerializer.Serialize(PolicyDiff.Compare(ruleset, ruleset), PolicyJson.Files)).RootElement;
        Assert.All(diff.EnumerateObject(), p => Assert.True(char.IsLower(p.Name[0]), p.Name));
        Assert.True(diff.GetProperty("same").GetBoolean());
    }

    [Fact]
    public async Task DraftRange_EndsNoLaterThanNow_AtAMillisecond_WithoutAWatermark()
    {
        var before = DateTimeOffset.UtcNow;
        var end = await DraftRange.CompleteEndAsync(before.AddMinutes(1), null, TimeProvider.System, CancellationToken.None);

        Assert.InRange(end, before.AddMilliseconds(-1), DateTimeOffset.UtcNow);
        Assert.Equal(0, end.UtcTicks % TimeSpan.TicksPerMillisecond);
        var past = before.AddHours(-1);
        Assert.Equal(past.AddTicks(-(past.UtcTicks % TimeSpan.TicksPerMillisecond)), await DraftRange.CompleteEndAsync(past, null, TimeProvider.System, CancellationToken.None));
    }

    [Fact]
    public async Task DraftRange_WaitsForTheWatermark_ThenEndsWhereTheStoreIsComplete()
    {
        // A watermark that catches up after a few probes: the draft ends at now, not at the stale watermark.
        var probes = 0;
        var stale = DateTimeOffset.UtcNow.AddSeconds(-2);
        var end = await DraftRange.CompleteEndAsync(DateTimeOffset.UtcNow.AddMinutes(1), () => ++probes < 4 ? stale : DateTimeOffset.UtcNow, TimeProvider.System, CancellationToken.None);
        Assert.True(end > stale, $"{end:O} is the stale watermark");
        Assert.True(end <= DateTimeOffset.UtcNow);

        // Ingest far behind: the draft ends at the watermark, after waiting for it at most DraftRange.WatermarkWait.
        var behind = DateTimeOffset.UtcNow.AddMinutes(-10);
        var started = DateTimeOffset.UtcNow;
        Assert.Equal(behind.AddTicks(-(behind.UtcTicks % TimeSpan.TicksPerMillisecond)),
            await DraftRange.CompleteEndAsync(DateTimeOffset.UtcNow.AddMinutes(1), () => behind, TimeProvider.System, CancellationToken.None));
        Assert.InRange(DateTimeOffset.UtcNow - started, DraftRange.WatermarkWait, DraftRange.WatermarkWait + TimeSpan.FromSeconds(5));

        // Not known yet (no partition assigned to this process): now.
        Assert.True(await DraftRange.CompleteEndAsync(DateTimeOffset.UtcNow.AddMinutes(1), () => null, TimeProvider.System, CancellationToken.None) <= DateTimeOffset.UtcNow);
    }
}
