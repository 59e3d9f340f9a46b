using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Query.Policy.Rulesets;
using Visibility.Tests.Support;
using static Visibility.Tests.Policy.PolicySamples;

namespace Visibility.Tests.Policy;

/// <summary>
/// The provisioned set rendered for nftables (issue 20, item 5): each ruleset governs its scope only, and what it
/// refuses is logged to NFLOG with a prefix naming it, the form the ulogd2-nflog decoder reads back.
/// </summary>
public sealed class NftablesProvisionedTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Allowed = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Blocked = TimeSpan.FromSeconds(1.5);

    /// <summary>Two rulesets with overlapping scopes: <c>shop</c> governs env=prod, <c>db</c> app=db,env=prod.</summary>
    private static IReadOnlyList<ProvisionedRuleset> Active()
    {
        var api = Workload(("app", "api"), ("env", "prod"));
        var db = Workload(("app", "db"), ("env", "prod"));
        var web = Workload(("app", "web"), ("env", "prod"));
        var dev = Workload(("app", "api"), ("env", "dev"));
        var shop = new PolicyRuleset("shop", ["app", "env"], [Rule(web, api, Tcp(8080)), Rule(api, db, Tcp(5432)), Rule(dev, Workload(("app", "dns")), Tcp(53))]);
        var dbOnly = new PolicyRuleset("db", ["app", "env"], [Rule(dev, db, Tcp(5432))]);
        return
        [
            new ProvisionedRuleset("shop", 3, ProvisionModes.Enforced, "env=prod", Now, "admin", shop),
            new ProvisionedRuleset("db", 1, ProvisionModes.Visibility, "app=db,env=prod", Now, "admin", dbOnly),
            new ProvisionedRuleset("staging", 1, ProvisionModes.Visibility, "env=staging", Now, "admin", new PolicyRuleset("staging", ["env"], [])),
        ];
    }

    [Fact]
    public void RenderProvisioned_TwoScopes_MatchesGolden_AndPassesNftCheck()
    {
        var script = new NftablesRenderer(new InventoryAddressBook(Inventory(), at: Now)).RenderProvisioned(Active());

        Golden.VerifyText("policy/provisioned.nft", script);
        Nft.Check(script);
    }

    [Fact]
    public void RenderProvisioned_EachScopeJumpsToItsRuleset_ThenLogsItsDropWithThePrefixTheDecoderReads()
    {
        var script = new NftablesRenderer(new InventoryAddressBook(Inventory(), at: Now), logGroup: 7).RenderProvisioned(Active());
        var governed = Chain(script, "governed");

        Assert.Equal(
        [
            "ip daddr @app_db_env_prod_v4 jump ruleset_db",
            "ip daddr @env_prod_v4 jump ruleset_shop",
            "ip6 daddr @env_prod_v6 jump ruleset_shop",
            "ip daddr @app_db_env_prod_v4 log group 7 prefix \"vis-drop db\" drop",
            "ip daddr @env_prod_v4 log group 7 prefix \"vis-drop shop\" drop",
            "ip6 daddr @env_prod_v6 log group 7 prefix \"vis-drop shop\" drop",
        ], governed);
        Assert.Contains("type filter hook forward priority filter; policy accept;", script, StringComparison.Ordinal);
        Assert.DoesNotContain("policy drop", script, StringComparison.Ordinal);

        // A rule reaches only its ruleset's scope: shop's dev -> dns rule governs no env=prod destination.
        Assert.Contains("# not rendered: shop/app=api,env=dev -> app=dns: no destination of it is in the scope", script, StringComparison.Ordinal);
        Assert.Contains("accept comment \"db/app=api,env=dev -> app=db,env=prod\"", Chain(script, "ruleset_db").Single(), StringComparison.Ordinal);
        Assert.Contains("# staging version 1 (visibility) governs env=staging: no addresses for env=staging; nothing to govern.", script, StringComparison.Ordinal);

        var prefixes = new NflogPrefixes();
        Assert.Equal(FlowVerdict.Blocked, prefixes.Read("vis-drop shop"u8, out var rule, out var reason));
        Assert.Equal("shop", rule);
        Assert.Equal("no rule of ruleset shop allows it", reason);
    }

    [Fact]
    public void RenderProvisioned_ForOneHost_GovernsItsInputOnly_WithItsOwnAddresses()
    {
        var book = new InventoryAddressBook(Inventory(), at: Now);
        var target = NftablesTarget.ForHost(book, "db-1", ["192.0.2.10/32"], out var error);
        Assert.Null(error);

        var script = new NftablesRenderer(book).RenderProvisioned(Active(), target);

        Assert.DoesNotContain("chain forward", script, StringComparison.Ordinal);
        Assert.Contains("ip saddr 192.0.2.10 accept comment \"management\"", script, StringComparison.Ordinal);
        // env=prod on db-1 is db-1's address only; IPv6 has none there.
        var drop = Assert.Single(Chain(script, "governed"), l => l.EndsWith("prefix \"vis-drop shop\" drop", StringComparison.Ordinal));
        var set = drop.Split('@')[1].Split(' ')[0];
        Assert.StartsWith("ip daddr @", drop, StringComparison.Ordinal);
        Assert.Contains($"\tset {set} {{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = {{ 10.1.1.5 }}\n", script, StringComparison.Ordinal);
        Nft.Check(script);
    }

    [Fact]
    public void Render_OneRuleset_EndsItsAllowChainWithALoggedDrop()
    {
        var script = new NftablesRenderer(new InventoryAddressBook(Inventory(), at: Now), logGroup: 12).Render(Ruleset());

        Assert.Equal("log group 12 prefix \"vis-drop shop-prod draft\" drop", Chain(script, "allow")[^1]);
    }

    [Fact]
    public void LogPrefix_LongestRulesetName_FitsNft()
    {
        var name = new string('r', 100);
        var ruleset = new PolicyRuleset(name, ["app"], [Rule(Workload(("app", "api")), Workload(("app", "db")), Tcp(5432))]);

        Assert.Equal("vis-drop " + name, NftablesRenderer.LogPrefix(name));
        Nft.Check(new NftablesRenderer(new InventoryAddressBook(Inventory(), at: Now)).Render(ruleset));
        Assert.Equal(NftablesRenderer.MaxLogPrefix, NftablesRenderer.LogPrefix(new string('x', 300)).Length);
    }

    /// <summary>
    /// In the kernel: a gateway routing between dev, prod and a database loads the provisioned set; dev → prod's db is
    /// refused (scope env=prod, no rule allows it), prod → db passes (a rule allows it), dev → dev passes (no ruleset
    /// governs env=dev).
    /// </summary>
    [Fact]
    public async Task RenderProvisioned_OnAGateway_RefusesWhatTheScopeDoesNotAllow_AndLeavesUngovernedTrafficAlone()
    {
        using var lab = NetworkLab.Create("dev", "devdb", "prod", "db");
        lab.Listen("db", 5432);
        lab.Listen("devdb", 5432);
        var inventory = new[]
        {
            Spec("api-dev", [lab.Address("dev")], ("app", "api"), ("env", "dev")),
            Spec("db-dev", [lab.Address("devdb")], ("app", "db"), ("env", "dev")),
            Spec("api-prod", [lab.Address("prod")], ("app", "api"), ("env", "prod")),
            Spec("db-prod", [lab.Address("db")], ("app", "db"), ("env", "prod")),
        };
        var prod = new PolicyRuleset("prod", ["app", "env"], [Rule(Workload(("app", "api"), ("env", "prod")), Workload(("app", "db"), ("env", "prod")), Tcp(5432))]);
        var script = new NftablesRenderer(new InventoryAddressBook(inventory))
            .RenderProvisioned([new ProvisionedRuleset("prod", 1, ProvisionModes.Enforced, "env=prod", Now, "admin", prod)]);
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("dev", lab.Address("db"), 5432, Allowed));

        lab.AddGatewayRules(script);

        Assert.Equal(ConnectOutcome.TimedOut, await lab.ConnectAsync("dev", lab.Address("db"), 5432, Blocked));
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("prod", lab.Address("db"), 5432, Allowed));
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("dev", lab.Address("devdb"), 5432, Allowed));
        Assert.Contains("prefix \"vis-drop prod\"", NetworkLab.RunIn(lab.Gateway, NetworkLab.NftPath, "list", "chain", "inet", "visibility", "governed"), StringComparison.Ordinal);
    }

    /// <summary>The statements of chain <paramref name="name"/>, trimmed, without comments.</summary>
    private static List<string> Chain(string script, string name) =>
        [.. script.Split($"\tchain {name} {{\n")[1].Split("\n\t}")[0].Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))];
}
