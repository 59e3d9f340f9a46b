using k8s;
using k8s.Models;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Tests.Support;
using static Visibility.Tests.Policy.PolicySamples;

namespace Visibility.Tests.Policy;

public sealed class NetworkPolicyRendererTests
{
    private static readonly Dictionary<string, Type> Types = new(StringComparer.Ordinal) { ["networking.k8s.io/v1/NetworkPolicy"] = typeof(V1NetworkPolicy) };

    [Fact]
    public void Render_DraftedRuleset_MatchesGolden()
    {
        var rendering = new NetworkPolicyRenderer().Render(Ruleset());

        Golden.VerifyText("policy/networkpolicy.yaml", rendering.Yaml);
    }

    [Fact]
    public void Render_DraftedRuleset_RoundTripsThroughKubernetesYaml()
    {
        var rendering = new NetworkPolicyRenderer().Render(Ruleset());

        var loaded = KubernetesYaml.LoadAllFromString(rendering.Yaml, Types).Cast<V1NetworkPolicy>().ToList();

        Assert.Equal(rendering.Policies.Count, loaded.Count);
        Assert.Equal(7, loaded.Count);        // 5 destinations, and default deny in kubectl's namespace and in shop
        for (var i = 0; i < loaded.Count; i++)
        {
            Assert.Equal(KubernetesYaml.Serialize(rendering.Policies[i]), KubernetesYaml.Serialize(loaded[i]));
        }
    }

    [Fact]
    public void Render_DestinationWorkload_SelectsItsPodsAndAllowsEachSource()
    {
        var policies = new NetworkPolicyRenderer().Render(Ruleset()).Policies;

        var db = Assert.Single(policies, p => p.Metadata.Name == "visibility-allow-app-db-env-prod");
        Assert.Equal("shop", db.Metadata.NamespaceProperty);
        Assert.Equal(new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" }, db.Spec.PodSelector.MatchLabels);
        Assert.Equal(["Ingress"], db.Spec.PolicyTypes);
        var ingress = Assert.Single(db.Spec.Ingress);
        var from = Assert.Single(ingress.FromProperty);
        Assert.Equal("shop", from.NamespaceSelector.MatchLabels[NetworkPolicyRenderer.NamespaceNameLabel]);
        Assert.Equal(new Dictionary<string, string> { ["app"] = "api", ["env"] = "prod" }, from.PodSelector.MatchLabels);
        var port = Assert.Single(ingress.Ports);
        Assert.Equal(("TCP", "5432", (int?)null), (port.Protocol, port.Port.Value, port.EndPort));
        Assert.Contains("unknown -> app=db,env=prod,namespace=shop", db.Metadata.Annotations[NetworkPolicyRenderer.NotRenderedAnnotation], StringComparison.Ordinal);
    }

    [Fact]
    public void Render_InternetSource_AllowsPublicAddressesOnly()
    {
        var web = new NetworkPolicyRenderer().Render(Ruleset()).Policies.Single(p => p.Metadata.Name == "visibility-allow-app-web-env-prod");

        var blocks = web.Spec.Ingress.SelectMany(i => i.FromProperty).Where(f => f.IpBlock is not null).Select(f => f.IpBlock).ToList();
        var v4 = Assert.Single(blocks, b => b.Cidr == "0.0.0.0/0");
        Assert.Contains("10.0.0.0/8", v4.Except);
        Assert.Contains("192.168.0.0/16", v4.Except);
        Assert.Contains("fc00::/7", Assert.Single(blocks, b => b.Cidr == "::/0").Except);
        Assert.Contains(blocks, b => b.Cidr == "fd10:8::/48");
    }

    [Fact]
    public void Render_IcmpOnlyRule_IsLeftOutRatherThanAllowingEveryPort()
    {
        var metrics = new NetworkPolicyRenderer().Render(Ruleset()).Policies.Single(p => p.Spec.PodSelector.MatchLabels?.ContainsKey("team") == true);

        Assert.Empty(metrics.Spec.Ingress);
        Assert.Contains("no port NetworkPolicy can express", metrics.Metadata.Annotations[NetworkPolicyRenderer.NotRenderedAnnotation], StringComparison.Ordinal);
    }

    [Fact]
    public void Render_PodLabelKeys_MapsSelectorKeys()
    {
        var options = new NetworkPolicyOptions { PodLabelKeys = new Dictionary<string, string> { ["app"] = "app.kubernetes.io/name" } };

        var db = new NetworkPolicyRenderer(options).Render(Ruleset()).Policies.Single(p => p.Metadata.Name == "visibility-allow-app-db-env-prod");

        Assert.Equal("db", db.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"]);
        Assert.Equal("api", db.Spec.Ingress[0].FromProperty[0].PodSelector.MatchLabels["app.kubernetes.io/name"]);
    }

    [Fact]
    public void Render_LongLabels_NameIsDns1123AndHashed()
    {
        var destination = Workload(("app", new string('x', 40)), ("Component", "Very_Long.Value-With-Case"));
        var ruleset = new PolicyRuleset("long", ["app"], [Rule(Workload(("app", "a")), destination, Tcp(80))]);

        var name = Assert.Single(new NetworkPolicyRenderer().Render(ruleset).Policies, p => p.Metadata.Name != NetworkPolicyRenderer.DenyNamePrefix + "-all").Metadata.Name;

        Assert.True(name.Length <= 63, name);
        Assert.Matches("^visibility-allow-component-very-long-value-with-case-a-[0-9a-f]{8}$", name);
    }

    [Fact]
    public void Render_HostileLabelsAndNames_CannotAddYamlStructure()
    {
        var hostile = "x\n---\napiVersion: v1\nkind: Secret\n# ";
        var destination = Workload(("app", "db"));
        var ruleset = new PolicyRuleset(hostile, ["app"],
        [
            new PolicyRule(hostile + "rule", Workload(("app", hostile)), destination, [Tcp(5432)]),
            new PolicyRule("\"quoted\": {x: [1]}", Workload(("app", "api")), destination, [Tcp(5432)]),
            new PolicyRule("to hostile", Workload(("app", "api")), Workload(("app", hostile)), [Tcp(80)]),
        ]);

        var rendering = new NetworkPolicyRenderer().Render(ruleset);
        var loaded = KubernetesYaml.LoadAllFromString(rendering.Yaml, Types);

        var policy = Assert.Single(loaded.Cast<V1NetworkPolicy>(), p => p.Metadata.Name != NetworkPolicyRenderer.DenyNamePrefix + "-all");
        Assert.Equal(hostile, policy.Metadata.Annotations[NetworkPolicyRenderer.RulesetAnnotation]);
        Assert.Equal("\"quoted\": {x: [1]}", policy.Metadata.Annotations[NetworkPolicyRenderer.RulesAnnotation]);
        Assert.Contains("is not a Kubernetes label value", policy.Metadata.Annotations[NetworkPolicyRenderer.NotRenderedAnnotation], StringComparison.Ordinal);
        Assert.Single(rendering.NotRendered);
        Assert.DoesNotContain("\n---\napiVersion: v1", rendering.Yaml, StringComparison.Ordinal);
        Assert.All(rendering.Yaml.Split('\n').Where(l => l.StartsWith('#')), l => Assert.DoesNotContain("kind: Secret\n", l, StringComparison.Ordinal));
    }
}
