using Visibility.Query.Policy;
using Visibility.Query.Policy.Rulesets;
using Visibility.Query.Security;
using Visibility.Tests.Support;

namespace Visibility.Tests.Policy;

/// <summary>Stored rulesets on the real store (migration 15): versions, restore, provisioning and the set active at a past time.</summary>
public sealed class RulesetStoreTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static PolicyRuleset Ruleset(params (string App, int Port)[] rules) => new(
        "draft", ["app", "env"],
        [.. rules.Select(r => new PolicyRule(
            $"app={r.App},env=prod -> app=db,env=prod",
            new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["app"] = r.App, ["env"] = "prod" }),
            new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" }),
            [new PortRange("tcp", r.Port, r.Port)]))]);

    private static RulesetScope Prod => RulesetScope.Parse("env=prod");

    [Fact]
    public async Task Save_ThreeTimes_VersionsOneTwoThree_EachReadBackAsSaved_RestoreIsANewVersionEqualToTheOld()
    {
        var db = await TestStore.CreateAsync();
        var clock = new SteppedClock(Start);
        using var store = new RulesetStore(db, db, clock);

        var v1 = await store.SaveAsync("prod", Prod, Ruleset(("api", 5432)), "key:alice", null, CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(1));
        var v2 = await store.SaveAsync("prod", Prod, Ruleset(("api", 5432), ("web", 5432)), "key:bob", null, CancellationToken.None);
        await store.SaveAsync("other", RulesetScope.Parse("env=dev"), Ruleset(("api", 80)), "key:alice", null, CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(1));
        var v3 = await store.RestoreAsync("prod", 1, "key:carol", CancellationToken.None);

        Assert.Equal([1, 2, 3], (await store.VersionsAsync("prod", CancellationToken.None)).Select(v => v.Version));
        Assert.Equal((1, "prod", "env=prod", "key:alice", Start), (v1.Version, v1.Ruleset.Name, v1.Scope, v1.SavedBy, v1.SavedAt));
        var read2 = await store.GetAsync("prod", 2, CancellationToken.None);
        Assert.NotNull(read2);
        Assert.Equal(("key:bob", Start.AddMinutes(1), 2), (read2.SavedBy, read2.SavedAt, read2.Ruleset.Rules.Count));
        Assert.True(PolicyDiff.Compare(v2.Ruleset, read2.Ruleset).Same);

        Assert.NotNull(v3);
        Assert.Equal((3, 1, "key:carol"), (v3.Version, v3.RestoredFrom, v3.SavedBy));
        Assert.True(PolicyDiff.Compare(v1.Ruleset, (await store.GetAsync("prod", 3, CancellationToken.None))!.Ruleset).Same);
        Assert.Equal(1, (await store.GetAsync("prod", 3, CancellationToken.None))!.RestoredFrom);
        Assert.Null(await store.RestoreAsync("prod", 9, "key:carol", CancellationToken.None));
        Assert.Null(await store.GetAsync("nothing", 1, CancellationToken.None));
        Assert.Empty(await store.VersionsAsync("nothing", CancellationToken.None));

        var listed = await store.ListAsync(CancellationToken.None);
        Assert.Equal(["other", "prod"], listed.Select(r => r.Name));
        Assert.Equal((3, "key:carol"), (listed[1].LatestVersion, listed[1].SavedBy));
        Assert.All(listed, r => Assert.Null(r.Provisioned));
    }

    [Fact]
    public async Task ProvisionedAt_EachPastTime_AnswersTheSetActiveThen_WithVersionsModesAndWhoProvisioned()
    {
        var db = await TestStore.CreateAsync();
        var clock = new SteppedClock(Start);
        using var store = new RulesetStore(db, db, clock);
        await store.SaveAsync("prod", Prod, Ruleset(("api", 5432)), "key:alice", null, CancellationToken.None);
        await store.SaveAsync("prod", Prod, Ruleset(("api", 5432), ("web", 443)), "key:alice", null, CancellationToken.None);
        await store.SaveAsync("dev", RulesetScope.Parse("env=dev"), Ruleset(("api", 80)), "key:alice", null, CancellationToken.None);

        // t+10: prod v1 visibility; t+20: dev v1 enforced; t+30: prod v2 enforced; t+40: dev withdrawn.
        clock.Advance(TimeSpan.FromMinutes(10));
        await store.ProvisionAsync("prod", 1, ProvisionModes.Visibility, "key:admin", CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(10));
        await store.ProvisionAsync("dev", 1, ProvisionModes.Enforced, "key:admin", CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(10));
        await store.ProvisionAsync("prod", 2, ProvisionModes.Enforced, "oidc:root", CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(10));
        await store.WithdrawAsync("dev", "key:admin", CancellationToken.None);

        async Task<string> At(int minutes) => string.Join(" ", (await store.ProvisionedAtAsync(Start.AddMinutes(minutes), CancellationToken.None))
            .Select(r => $"{r.Name}:{r.Version}:{r.Mode}:{r.ProvisionedBy}:{r.Ruleset.Rules.Count}"));

        Assert.Equal("", await At(5));
        Assert.Equal("prod:1:visibility:key:admin:1", await At(10));
        Assert.Equal("prod:1:visibility:key:admin:1", await At(15));
        Assert.Equal("dev:1:enforced:key:admin:1 prod:1:visibility:key:admin:1", await At(25));
        Assert.Equal("dev:1:enforced:key:admin:1 prod:2:enforced:oidc:root:2", await At(35));
        Assert.Equal("prod:2:enforced:oidc:root:2", await At(45));
        Assert.Equal(await At(45), string.Join(" ", (await store.ProvisionedNowAsync(CancellationToken.None))
            .Select(r => $"{r.Name}:{r.Version}:{r.Mode}:{r.ProvisionedBy}:{r.Ruleset.Rules.Count}")));
        Assert.Equal(Start.AddMinutes(30), (await store.ProvisionedAtAsync(Start.AddMinutes(35), CancellationToken.None)).Single(r => r.Name == "prod").ProvisionedAt);

        var history = await store.HistoryAsync(null, 100, CancellationToken.None);
        Assert.Equal(
            ["dev:0:none", "prod:2:enforced", "dev:1:enforced", "prod:1:visibility"],
            history.Select(c => $"{c.Name}:{c.Version}:{c.Mode}"));
        Assert.Equal(2, (await store.HistoryAsync("prod", 100, CancellationToken.None)).Count);

        var listed = await store.ListAsync(CancellationToken.None);
        Assert.Null(listed.Single(r => r.Name == "dev").Provisioned);
        Assert.Equal((2, ProvisionModes.Enforced), (listed.Single(r => r.Name == "prod").Provisioned!.Version, listed.Single(r => r.Name == "prod").Provisioned!.Mode));

        await Assert.ThrowsAsync<ArgumentException>(() => store.ProvisionAsync("prod", 1, "audit", "key:admin", CancellationToken.None));
    }

    [Fact]
    public async Task SaveConcurrently_TwentySavesOfOneRuleset_GetTwentyDistinctVersions()
    {
        var db = await TestStore.CreateAsync();
        // An embedded store is open in one process only: its saves queue on the store's lock and need not settle.
        using var store = new RulesetStore(db, db, settle: TimeSpan.Zero);
        var saved = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            Task.Run(() => store.SaveAsync("busy", Prod, Ruleset(("api", 1000 + i)), "key:alice", null, CancellationToken.None))));
        Assert.Equal(Enumerable.Range(1, 20), saved.Select(v => v.Version).Order());
        Assert.Equal(20, (await store.VersionsAsync("busy", CancellationToken.None)).Count);
    }

    [Fact]
    public async Task SaveConcurrently_TwoProcessesOnOneServerStore_TwentySavesEach_EveryVersionOnceAndAsEachSaveReturned()
    {
        // Two server stores (two HTTP clients, as two serve processes) on one database of the chdb-http endpoint, each
        // with its own ruleset store: their saves queue only within each, so the two save the same ruleset at once.
        using var first = await ServerTargets.CreateAsync(ServerTargets.ChdbHttp);
        using var second = await ServerTargets.CreateAsync(ServerTargets.ChdbHttp, first.Database);
        using var a = new RulesetStore(first, first, settle: TimeSpan.FromMilliseconds(300));
        using var b = new RulesetStore(second, second, settle: TimeSpan.FromMilliseconds(300));
        const int each = 20;

        async Task<(int Port, RulesetVersion Saved)[]> SaveAll(RulesetStore store, int firstPort) =>
            await Task.WhenAll(Enumerable.Range(firstPort, each).Select(port =>
                Task.Run(async () => (port, await store.SaveAsync("shared", Prod, Ruleset(("api", port)), $"key:{port}", null, CancellationToken.None)))));
        var saved = (await Task.WhenAll(SaveAll(a, 1000), SaveAll(b, 2000))).SelectMany(s => s).ToList();

        Assert.Equal(Enumerable.Range(1, 2 * each), saved.Select(s => s.Saved.Version).Order());
        foreach (var store in new[] { a, b })
        {
            var versions = await store.VersionsAsync("shared", CancellationToken.None);
            Assert.Equal(Enumerable.Range(1, 2 * each), versions.Select(v => v.Version));
            foreach (var (port, returned) in saved)
            {
                var read = await store.GetAsync("shared", returned.Version, CancellationToken.None);
                Assert.NotNull(read);
                Assert.Equal(($"key:{port}", port), (read.SavedBy, read.Ruleset.Rules.Single().Ports.Single().From));
                Assert.Equal(read.SavedBy, versions[returned.Version - 1].SavedBy);
            }

            Assert.Equal((2 * each, saved.Single(s => s.Saved.Version == 2 * each).Port), await Latest(store));
        }

        static async Task<(int, int)> Latest(RulesetStore store)
        {
            var listed = (await store.ListAsync(CancellationToken.None)).Single();
            var latest = await store.LatestAsync("shared", CancellationToken.None);
            Assert.Equal(listed.SavedBy, latest!.SavedBy);
            return (listed.LatestVersion, latest.Ruleset.Rules.Single().Ports.Single().From);
        }
    }

    [Theory]
    [InlineData("env=prod", "env=prod")]
    [InlineData(" env = prod , app=payments ", "app=payments,env=prod")]
    [InlineData("workload=db-1", "workload=db-1")]
    public void Scope_Valid_IsCanonical(string text, string canonical)
    {
        Assert.True(RulesetScope.TryParse(text, out var scope, out var error), error);
        Assert.Equal(canonical, scope.Text);
    }

    [Theory]
    [InlineData(null, "scope is required")]
    [InlineData("  ", "scope is required")]
    [InlineData("env", "'env' is not key=value")]
    [InlineData("env=prod;env=dev", "several selectors")]
    [InlineData("env=prod,env=dev", "names 'env' twice")]
    [InlineData("9x=prod", "is not a label key")]
    public void Scope_Invalid_NamesTheProblem(string? text, string problem)
    {
        Assert.False(RulesetScope.TryParse(text, out _, out var error));
        Assert.Contains(problem, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("env=dev", "", true)]
    [InlineData("env=dev", "env=dev", true)]
    [InlineData("app=web,env=dev", "env=dev", true)]
    [InlineData("env=prod", "env=dev", false)]
    [InlineData("app=web", "env=dev", false)]
    [InlineData("env=dev", "app=web,env=dev", false)]
    [InlineData("app=web,env=prod", "env=dev;app=web", true)]
    [InlineData("env=prod", "env=dev;app=web", false)]
    public void Scope_IsWithin_AKeysScope_OnlyWhenEveryGovernedDestinationIsInside(string ruleset, string key, bool within) =>
        Assert.Equal(within, RulesetScope.Parse(ruleset).IsWithin(AccessScope.Parse(key)));

    [Theory]
    [InlineData("dst.env = prod", "env=prod")]
    [InlineData("dst.env = \"prod\" and dst.app = db", "app=db,env=prod")]
    [InlineData("dst.env = prod and dst.port = 5432", null)]
    [InlineData("dst.env in (prod, dev)", null)]
    [InlineData("dst.env = prod or src.env = prod", null)]
    [InlineData("src.env = dev", null)]
    [InlineData(null, null)]
    public void Scope_FromDraftFilter_OnlyDestinationEqualities(string? filter, string? scope) =>
        Assert.Equal(scope, RulesetScope.FromDraftFilter(filter)?.Text);

    [Fact]
    public void Scope_Governs_DestinationsWithEveryPair()
    {
        var scope = RulesetScope.Parse("app=payments,env=prod");
        Assert.True(scope.Governs("p1", new Dictionary<string, string> { ["app"] = "payments", ["env"] = "prod", ["loc"] = "x" }));
        Assert.False(scope.Governs("p1", new Dictionary<string, string> { ["app"] = "payments", ["env"] = "dev" }));
        Assert.False(scope.Governs("p1", new Dictionary<string, string> { ["env"] = "prod" }));
    }

    [Fact]
    public void Merge_ProvisionedSet_NamesEachRuleByItsRuleset_AndUnitesGroupKeys()
    {
        var merged = ProvisionedSet.Merge([
            new ProvisionedRuleset("prod", 2, ProvisionModes.Enforced, "env=prod", Start, "a", Ruleset(("api", 5432)) with { GroupBy = ["app", "env"] }),
            new ProvisionedRuleset("dev", 1, ProvisionModes.Visibility, "env=dev", Start, "a", Ruleset(("web", 80)) with { GroupBy = ["env", "team"] }),
        ]);
        Assert.Equal(ProvisionedSet.Name, merged.Name);
        Assert.Equal(["env", "team", "app"], merged.GroupBy);
        Assert.Equal(["dev/app=web,env=prod -> app=db,env=prod", "prod/app=api,env=prod -> app=db,env=prod"], merged.Rules.Select(r => r.Name));
        Assert.Empty(PolicyValidation.Problems(merged));
    }

    private sealed class SteppedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public void Advance(TimeSpan by) => now += by;
    }
}
