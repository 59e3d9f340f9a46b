using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Tests.Support;
using static Visibility.Tests.Policy.PolicySamples;

namespace Visibility.Tests.Policy;

/// <summary>
/// Enforcement: a server <c>db</c> (app=db, env=prod) and two clients <c>prod</c> (app=api, env=prod) and <c>dev</c>
/// (app=api, env=dev) in network namespaces made by the test (<see cref="NetworkLab"/>: loopback and veth pairs only,
/// nothing reaches the host's network). The ruleset drafted from prod → db on tcp/5432, rendered for nftables and
/// loaded in <c>db</c>, must let that traffic through and block dev → 5432 and prod → 6000.
/// Needs root, <c>ip</c> and <c>nft</c>: without them the test fails, it does not skip.
/// </summary>
public sealed class NftablesNamespaceTests
{
    private static readonly TimeSpan Allowed = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Blocked = TimeSpan.FromSeconds(1.5);

    [Fact]
    public async Task Render_DraftedRuleset_AllowsDraftedTrafficAndBlocksTheRest()
    {
        using var lab = NetworkLab.Create("dev", "prod", "db");
        var db = lab.Address("db");
        lab.Listen("db", 5432);
        lab.Listen("db", 6000);

        // Without the ruleset every path is open, so a block below is the ruleset's doing.
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("dev", db, 5432, Allowed));
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("prod", db, 6000, Allowed));

        var inventory = new[]
        {
            Spec("db", [db], ("app", "db"), ("env", "prod")),
            Spec("api-prod", [lab.Address("prod")], ("app", "api"), ("env", "prod")),
            Spec("api-dev", [lab.Address("dev")], ("app", "api"), ("env", "dev")),
        };
        // The draft comes from observed traffic in the real engine: prod's api talking to the database on 5432.
        var index = WorkloadIndex.Build(inventory);
        var rules = new FindingRules(new FindingsOptions());
        var store = await TestStore.CreateAsync();
        var observed = new FlowBatch();
        var at = DateTimeOffset.UtcNow.AddMinutes(-30);
        for (var i = 0; i < 5; i++)
        {
            observed.Add(TestFlows.Connection(index, rules, i + 1, lab.Address("prod"), db, 5432, at.AddMinutes(i)));
        }

        await store.InsertFlowsAsync(observed.Rows, CancellationToken.None);
        Assert.True(GroupKey.TryParseList("app,env", out var appEnv, out _));
        var draft = await new PolicyDrafter(new PolicyTraffic(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650))), [])
            .DraftAsync(new DraftRequest(at.AddMinutes(-1), DateTimeOffset.UtcNow, FilterClause.All, appEnv, IncludeFlagged: false, "namespace test"), CancellationToken.None);
        var ruleset = draft.Ruleset;
        Assert.Equal(["app=api,env=prod -> app=db,env=prod: tcp/5432"], ruleset.Rules.Select(r => $"{r.Name}: {string.Join(' ', r.Ports)}"));
        NetworkLab.LoadRules(lab.Namespace("db"), new NftablesRenderer(new InventoryAddressBook(inventory)).Render(ruleset));

        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("prod", db, 5432, Allowed));
        Assert.Equal(ConnectOutcome.TimedOut, await lab.ConnectAsync("dev", db, 5432, Blocked));
        Assert.Equal(ConnectOutcome.TimedOut, await lab.ConnectAsync("prod", db, 6000, Blocked));
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("prod", db, 5432, Allowed));
    }
}
