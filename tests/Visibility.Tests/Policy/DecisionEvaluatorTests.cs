using Visibility.Query.Graph;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Decisions;
using Visibility.Query.Policy.Rulesets;

namespace Visibility.Tests.Policy;

/// <summary>The decision of one group of traffic against a provisioned set: each decision, and several governing rulesets.</summary>
public sealed class DecisionEvaluatorTests
{
    private static readonly DateTimeOffset At = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    internal static PolicyRule Rule(string name, string srcApp, string dstApp, int port, string env = "prod") => new(
        name,
        new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["app"] = srcApp, ["env"] = env }),
        new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["app"] = dstApp, ["env"] = env }),
        [new PortRange("tcp", port, port)]);

    private static ProvisionedRuleset Provisioned(string name, string scope, string mode, params PolicyRule[] rules) =>
        new(name, 1, mode, scope, At, "key:admin", new PolicyRuleset(name, ["app", "env"], rules));

    private static TrafficRow Traffic(string srcApp, string srcEnv, string dstApp, string dstEnv, int port, string dstPeer = "") => new(
        "", new Dictionary<string, string> { ["app"] = srcApp, ["env"] = srcEnv },
        dstPeer, dstPeer.Length > 0 ? new Dictionary<string, string>() : new Dictionary<string, string> { ["app"] = dstApp, ["env"] = dstEnv },
        "tcp", port, 1, 0, 0, At, At);

    private static readonly DecisionEvaluator ProdVisibility = new([
        Provisioned("prod", "env=prod", ProvisionModes.Visibility, Rule("api to db", "api", "db", 5432)),
    ]);

    [Fact]
    public void Decide_EachDecision_FromOneRuleset()
    {
        Assert.Equal(new[] { "prod/api to db" }, ProdVisibility.Decide(Traffic("api", "prod", "db", "prod", 5432), false) is { Kind: PolicyDecisions.Allowed } allowed ? allowed.AllowedBy : null);
        Assert.Equal(PolicyDecisions.PotentiallyBlocked, ProdVisibility.Decide(Traffic("api", "prod", "db", "prod", 6432), false).Kind);
        Assert.Equal(PolicyDecisions.PotentiallyBlocked, ProdVisibility.Decide(Traffic("web", "dev", "db", "prod", 5432), false).Kind);
        Assert.Equal(PolicyDecisions.Unmanaged, ProdVisibility.Decide(Traffic("api", "dev", "db", "dev", 5432), false).Kind);
        Assert.Equal(PolicyDecisions.Unmanaged, ProdVisibility.Decide(Traffic("api", "prod", "", "", 443, dstPeer: "internet"), false).Kind);

        // Observed refused: blocked, whether a rule allows it, none does, or no ruleset governs it.
        Assert.All(
            new[] { Traffic("api", "prod", "db", "prod", 5432), Traffic("api", "prod", "db", "prod", 6432), Traffic("api", "dev", "db", "dev", 5432) },
            t => Assert.Equal(PolicyDecisions.Blocked, ProdVisibility.Decide(t, true).Kind));

        var enforced = new DecisionEvaluator([Provisioned("prod", "env=prod", ProvisionModes.Enforced, Rule("api to db", "api", "db", 5432))]);
        Assert.Equal(PolicyDecisions.Violation, enforced.Decide(Traffic("api", "prod", "db", "prod", 6432), false).Kind);
        Assert.Equal(PolicyDecisions.Allowed, enforced.Decide(Traffic("api", "prod", "db", "prod", 5432), false).Kind);
        Assert.Equal(PolicyDecisions.Blocked, enforced.Decide(Traffic("api", "prod", "db", "prod", 6432), true).Kind);

        // Nothing provisioned: everything observed allowed is unmanaged.
        Assert.Equal(PolicyDecisions.Unmanaged, new DecisionEvaluator([]).Decide(Traffic("api", "prod", "db", "prod", 5432), false).Kind);
    }

    [Fact]
    public void Decide_SeveralGoverningRulesets_AnyAllows_AnyEnforcedMakesAViolation_OthersNotConsulted()
    {
        var evaluator = new DecisionEvaluator([
            Provisioned("prod", "env=prod", ProvisionModes.Visibility, Rule("api to db", "api", "db", 5432), Rule("web to api", "web", "api", 443)),
            Provisioned("db", "app=db,env=prod", ProvisionModes.Enforced, Rule("api to db", "api", "db", 5432), Rule("batch to db", "batch", "db", 5432)),
            Provisioned("dev", "env=dev", ProvisionModes.Enforced, Rule("prod web to dev api", "web", "api", 443, env: "prod")),
        ]);

        // Both governing rulesets allow: both named, in ruleset order.
        var both = evaluator.Decide(Traffic("api", "prod", "db", "prod", 5432), false);
        Assert.Equal((PolicyDecisions.Allowed, "db/api to db; prod/api to db"), (both.Kind, string.Join("; ", both.AllowedBy)));

        // Only the narrower one allows: allowed.
        Assert.Equal(["db/batch to db"], evaluator.Decide(Traffic("batch", "prod", "db", "prod", 5432), false).AllowedBy);

        // Neither allows, and one of them is enforced: a violation; where only the visibility one governs, potentially blocked.
        Assert.Equal(PolicyDecisions.Violation, evaluator.Decide(Traffic("web", "prod", "db", "prod", 5432), false).Kind);
        Assert.Equal(PolicyDecisions.PotentiallyBlocked, evaluator.Decide(Traffic("web", "prod", "cache", "prod", 6379), false).Kind);
        Assert.Equal(["prod/web to api"], evaluator.Decide(Traffic("web", "prod", "api", "prod", 443), false).AllowedBy);

        // A rule of a ruleset that does not govern the destination is not consulted: dev's rule names prod ends only.
        Assert.Equal(PolicyDecisions.Violation, evaluator.Decide(Traffic("web", "dev", "api", "dev", 443), false).Kind);

        Assert.Equal(["app", "env"], evaluator.LabelKeys);
    }

    [Fact]
    public void LabelKeys_AreWhatScopesAndRulesRead()
    {
        var rule = new PolicyRule(
            "team", new PolicyPeer(PolicyPeer.Workload, new Dictionary<string, string> { ["team"] = "blue" }),
            new PolicyPeer(PolicyPeer.Internet, null), [new PortRange("tcp", 443, 443)]);
        var evaluator = new DecisionEvaluator([Provisioned("edge", "loc=fra,workload=gw-1", ProvisionModes.Visibility, rule)]);
        Assert.Equal(["loc", "team", "workload"], evaluator.LabelKeys);

        // A scope on the workload's name governs that workload only.
        var row = new TrafficRow("", new Dictionary<string, string> { ["team"] = "blue" }, "",
            new Dictionary<string, string> { ["loc"] = "fra", ["workload"] = "gw-1" }, "tcp", 443, 1, 0, 0, At, At);
        Assert.Equal(PolicyDecisions.PotentiallyBlocked, evaluator.Decide(row, false).Kind);
        Assert.Equal(PolicyDecisions.Unmanaged, evaluator.Decide(row with { DestinationLabels = new Dictionary<string, string> { ["loc"] = "fra", ["workload"] = "gw-2" } }, false).Kind);
    }

    [Theory]
    [InlineData("prod:3", "prod", 3)]
    [InlineData("a.b-c:12", "a.b-c", 12)]
    public void WhatIf_Parses(string text, string name, int version)
    {
        Assert.True(WhatIf.TryParse(text, out var whatIf, out var error), error);
        Assert.Equal(new WhatIf(name, version), whatIf);
    }

    [Theory]
    [InlineData("prod")]
    [InlineData("prod:")]
    [InlineData(":3")]
    [InlineData("prod:0")]
    [InlineData("prod:-1")]
    [InlineData("prod:x")]
    public void WhatIf_Malformed_ErrorSaysTheForm(string text)
    {
        Assert.False(WhatIf.TryParse(text, out _, out var error));
        Assert.Equal($"whatIf '{text}' is not <ruleset>:<version> (a version number from 1), e.g. whatIf=prod:3", error);
    }
}
