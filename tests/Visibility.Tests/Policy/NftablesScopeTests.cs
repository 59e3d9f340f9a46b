using System.Text.RegularExpressions;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Query.Security;
using Visibility.Tests.Support;
using static Visibility.Tests.Policy.PolicySamples;

namespace Visibility.Tests.Policy;

/// <summary>
/// nftables rendered for a scoped caller (an <c>env=dev</c> policy author posting a ruleset that names
/// <c>env=prod</c> groups): addresses come only from workloads inside the scope, and a group outside it reads
/// exactly like a group with no workloads.
/// </summary>
public sealed partial class NftablesScopeTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly AccessScope Dev = AccessScope.Parse("env=dev");

    private static readonly PolicyPeer ApiDev = Workload(("app", "api"), ("env", "dev"));

    /// <summary>
    /// The sample inventory, plus a dev web tier and a prod workload on a public address (which an unscoped
    /// render carves out of the internet set).
    /// </summary>
    private static IReadOnlyList<WorkloadSpec> Estate() =>
    [
        .. Inventory(),
        Spec("web-dev", ["10.2.1.10", "fd00:2:1::10"], ("app", "web"), ("env", "dev"), ("namespace", "shop-dev")),
        Spec("edge-prod", ["203.0.113.10"], ("app", "edge"), ("env", "prod")),
    ];

    /// <summary>Rules naming prod groups, a group mixing prod and dev (<c>app=api</c>), a group that exists nowhere, dev groups and the internet.</summary>
    private static PolicyRuleset Ruleset()
    {
        var internet = new PolicyPeer(PolicyPeer.Internet, new Dictionary<string, string>());
        return new PolicyRuleset("dev author's ruleset", ["app", "env"],
        [
            Rule(ApiDev, Workload(("app", "db"), ("env", "prod"), ("namespace", "shop")), Tcp(5432)),
            Rule(ApiDev, Workload(("env", "prod")), Tcp(443)),
            Rule(ApiDev, Workload(("env", "staging")), Tcp(443)),
            Rule(Workload(("app", "web"), ("env", "dev")), Workload(("app", "api")), Tcp(8443)),
            Rule(Workload(("app", "web"), ("env", "dev")), ApiDev, Tcp(8443)),
            Rule(internet, Workload(("app", "web"), ("env", "dev")), Tcp(443)),
            Rule(Workload(("app", "edge"), ("env", "prod")), ApiDev, Tcp(8443)),
        ]);
    }

    private static string Render(IReadOnlyList<WorkloadSpec> inventory, AccessScope scope) =>
        new NftablesRenderer(new InventoryAddressBook(inventory, at: Now, scope: scope)).Render(Ruleset());

    [Fact]
    public void Render_Scoped_MatchesGolden()
    {
        Golden.VerifyText("policy/ruleset-scoped.nft", Render(Estate(), Dev));
    }

    [Fact]
    public void Render_Scoped_PassesNftCheck()
    {
        Nft.Check(Render(Estate(), Dev));
    }

    [Fact]
    public void Render_Scoped_NoAddressOfAWorkloadOutsideTheScopeAnywhere()
    {
        var script = Render(Estate(), Dev);

        var outside = Estate().Where(w => !Dev.Matches(w.Name, w.Labels)).ToList();
        Assert.NotEmpty(outside);
        var elements = Elements(script);
        foreach (var workload in outside)
        {
            foreach (var address in workload.Addresses)
            {
                Assert.True(Prefix.TryParse(address, out var prefix, out _));
                var first = IpAddressKey.Format(prefix.Network);
                Assert.DoesNotContain(first, script, StringComparison.Ordinal);

                // Only the internet set may cover it (as a public address it is not carved out for a scoped caller).
                var last = prefix.Network | ~IpAddressKey.Mask(prefix.Length);
                Assert.All(elements.Where(e => e.Set is not ("internet_v4" or "internet_v6")), e =>
                    Assert.False(e.Range.First <= last && prefix.Network <= e.Range.Last, $"{workload.Name}'s {address} overlaps set {e.Set} ({e.Range})"));
            }
        }

        // The unscoped render of the same ruleset does name them: the test would see a leak.
        var unscoped = Render(Estate(), AccessScope.Unrestricted);
        Assert.Contains("10.1.1.5", unscoped, StringComparison.Ordinal);
        Assert.Contains("203.0.113.9", unscoped, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_Scoped_DoesNotDependOnAnyWorkloadOutsideTheScope()
    {
        var full = Render(Estate(), Dev);

        // Without the workloads outside the scope, and with more of them (carrying the groups' labels, on
        // public and private addresses), the scoped render is the same text.
        var inScopeOnly = Estate().Where(w => Dev.Matches(w.Name, w.Labels)).ToList();
        var more = Estate().Concat(
        [
            Spec("staging-1", ["10.3.0.1"], ("env", "staging")),
            Spec("api-prod-public", ["198.51.100.7", "2001:db8::7"], ("app", "api"), ("env", "prod")),
            Spec("api-other", ["10.4.0.1"], ("app", "api")),
        ]).ToList();

        Assert.Equal(full, Render(inScopeOnly, Dev));
        Assert.Equal(full, Render(more, Dev));
    }

    [Fact]
    public void Render_Scoped_GroupOutsideTheScopeAndGroupWithNoWorkloads_ReadTheSame()
    {
        var script = Render(Estate(), Dev);

        var prod = NotRendered(script, ApiDev, Workload(("env", "prod")));
        var staging = NotRendered(script, ApiDev, Workload(("env", "staging")));
        Assert.Equal("# not rendered: app=api,env=dev -> env=prod: no addresses inside the caller's scope for env=prod", prod);
        Assert.Equal(prod.Replace("env=prod", "env=staging", StringComparison.Ordinal), staging);
        Assert.DoesNotContain(script.Split('\n'), l => l.Contains("staging", StringComparison.Ordinal) && !l.StartsWith("\t\t# not rendered:", StringComparison.Ordinal));
    }

    [Fact]
    public void Render_Scoped_GroupMixingScopes_ResolvesToItsWorkloadsInsideTheScope()
    {
        var script = Render(Estate(), Dev);

        var api = Elements(script).Where(e => e.Set.StartsWith("app_api_v", StringComparison.Ordinal)).Select(e => e.Text).ToList();
        Assert.Equal(["10.2.0.10"], api);
        Assert.Contains("ip saddr @app_web_env_dev_v4 ip daddr @app_api_v4 tcp dport 8443 accept comment \"app=web,env=dev -> app=api\"", script, StringComparison.Ordinal);
        Assert.Contains("# Addresses come only from workloads inside the caller's scope (env=dev); a rule naming a group with none there is not rendered.", script, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_ScopedByWorkloadName_ResolvesThatWorkloadOnly()
    {
        var script = new NftablesRenderer(new InventoryAddressBook(Estate(), at: Now, scope: AccessScope.Parse("workload=api-1")))
            .Render(new PolicyRuleset("r", ["app"], [Rule(Workload(("app", "api")), Workload(("app", "api")), Tcp(8080))]));

        Assert.Equal(["10.1.0.10", "fd00:1::10"], Elements(script).Select(e => e.Text));
    }

    [Fact]
    public void Render_Scoped_MatchesLabelsCompletedByLabelRules()
    {
        // dev-host carries no env label; a CIDR rule gives it env=dev, as enrichment labels its flows.
        Assert.True(Prefix.TryParse("10.20.0.0/16", out var devNetwork, out _));
        var settings = new LabelSettings { Rules = [new LabelRule(devNetwork, null, new Dictionary<string, string> { ["env"] = "dev" })] };
        var inventory = new[] { Spec("dev-host", ["10.20.0.5"], ("app", "api")), Spec("prod-host", ["10.10.0.5"], ("app", "api"), ("env", "prod")) };

        var script = new NftablesRenderer(new InventoryAddressBook(inventory, settings, Now, Dev))
            .Render(new PolicyRuleset("r", ["app"], [Rule(Workload(("app", "api")), Workload(("app", "api")), Tcp(8080))]));

        Assert.Equal(["10.20.0.5"], Elements(script).Select(e => e.Text));
    }

    [Fact]
    public void Render_Unscoped_ExplicitlyUnrestricted_SameAsTheGolden()
    {
        var script = new NftablesRenderer(new InventoryAddressBook(Inventory(), at: Now, scope: AccessScope.Unrestricted)).Render(PolicySamples.Ruleset());

        Golden.VerifyText("policy/ruleset.nft", script);
        Assert.DoesNotContain("caller's scope", script, StringComparison.Ordinal);
    }

    private static string NotRendered(string script, PolicyPeer source, PolicyPeer destination) =>
        script.Split('\n').Single(l => l.StartsWith($"\t\t# not rendered: {source.Key} -> {destination.Key}:", StringComparison.Ordinal)).Trim();

    /// <summary>Every element of every set, by set name.</summary>
    private static List<(string Set, string Text, AddressRange Range)> Elements(string script) =>
        [.. SetPattern().Matches(script).SelectMany(m => m.Groups["elements"].Value
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(e => (m.Groups["name"].Value, e, AddressRanges.TryParse(e, out var range) ? range : throw new FormatException(e))))];

    [GeneratedRegex(@"set (?<name>[a-z0-9_]+) \{[^}]*elements = \{(?<elements>[^}]*)\}")]
    private static partial Regex SetPattern();
}
