using Visibility.Flows.Findings;
using Visibility.Query.Findings;
using Visibility.Query.Planning;
using Visibility.Query.Policy.Decisions;

namespace Visibility.Tests.Policy;

/// <summary>
/// <c>policy_violation</c> findings beside the stored kinds, over the real store: each connection judged by the set
/// provisioned at its time (<see cref="GraphDecisionsTests.RigAsync"/>: version 1 enforced at T−40 allows api → db,
/// version 2 enforced at T−20 does not).
/// </summary>
public sealed class PolicyViolationFindingsTests
{
    private static FindingsQuery Query(GraphDecisionsTests.Rig rig) =>
        new(rig.Store, rig.Retention, FindingRules.Default)
        {
            Sources = [new PolicyViolationFindings(new DecisionTraffic(rig.Store, rig.Retention), rig.Rulesets)],
        };

    private static string Line(Finding f) =>
        $"{f.Kind} {f.Severity} {f.Source.Workload}({f.Source.Kind},{string.Join(",", f.Source.Labels.OrderBy(l => l.Key).Select(l => $"{l.Key}={l.Value}"))}) -> {f.Destination.Workload} {f.Service} flows={f.Flows} bytes={f.Bytes}";

    [Fact]
    public async Task Findings_ConnectionAfterEnforcementThatNoRuleAllows_IsAPolicyViolation_JudgedAtItsOwnTime()
    {
        var rig = await GraphDecisionsTests.RigAsync();
        var query = Query(rig);

        // Of the three prod api → db connections only the one under version 2 is a violation (T−50: nothing was
        // provisioned; T−30: version 1 allowed it); dev api → db is allowed by version 2 and stays a cross_env finding.
        var all = await query.RunAsync(new FindingsRequest(rig.From, rig.To, FilterClause.All, "low", 100), CancellationToken.None);
        Assert.Equal(
            ["cross_env high dev-api(host,app=api,env=dev) -> prod-db tcp/5432 flows=1 bytes=300", "policy_violation high prod-api(host,app=api,env=prod) -> prod-db tcp/5432 flows=1 bytes=300"],
            all.Findings.Select(Line).Order(StringComparer.Ordinal));
        var violation = Assert.Single(all.Findings, f => f.Kind == PolicyViolationFindings.Kind);
        Assert.Equal(rig.T.AddMinutes(-10), violation.FirstSeen);
        Assert.Equal(2, all.Total);

        // As the export reads an interval: only findings first seen in it.
        var later = await query.RunAsync(new FindingsRequest(rig.From, rig.To, FilterClause.All, "low", 100) { FirstSeenFrom = rig.T.AddMinutes(-5) }, CancellationToken.None);
        Assert.Empty(later.Findings);
        var interval = await query.RunAsync(new FindingsRequest(rig.From, rig.To, FilterClause.All, "low", 100) { FirstSeenFrom = rig.T.AddMinutes(-15) }, CancellationToken.None);
        Assert.Contains(interval.Findings, f => f.Kind == PolicyViolationFindings.Kind);

        // The filter applies; a filter on stored finding kinds, and a severity above high, leave violations out.
        Assert.True(FilterClause.TryCreate("src.env = prod", out var prod, out _));
        Assert.Equal([PolicyViolationFindings.Kind], (await query.RunAsync(new FindingsRequest(rig.From, rig.To, prod, "low", 100), CancellationToken.None)).Findings.Select(f => f.Kind));
        Assert.True(FilterClause.TryCreate("finding = cross_env", out var cross, out _));
        Assert.Equal(["cross_env"], (await query.RunAsync(new FindingsRequest(rig.From, rig.To, cross, "low", 100), CancellationToken.None)).Findings.Select(f => f.Kind));
        Assert.Empty((await query.RunAsync(new FindingsRequest(rig.From, rig.To, FilterClause.All, "critical", 100), CancellationToken.None)).Findings);

        // Before the enforcement of version 2 there was none.
        var before = await query.RunAsync(new FindingsRequest(rig.From, rig.T.AddMinutes(-20), FilterClause.All, "low", 100), CancellationToken.None);
        Assert.DoesNotContain(before.Findings, f => f.Kind == PolicyViolationFindings.Kind);
    }

    [Fact]
    public async Task Findings_FindingFieldSelectsPolicyViolations_LikeTheStoredKinds()
    {
        var rig = await GraphDecisionsTests.RigAsync();
        var query = Query(rig);
        async Task<List<string>> KindsAsync(string text)
        {
            Assert.True(FilterClause.TryCreate(text, out var filter, out var error), error);
            var response = await query.RunAsync(new FindingsRequest(rig.From, rig.To, filter, "low", 100), CancellationToken.None);
            return [.. response.Findings.Select(f => f.Kind).Order(StringComparer.Ordinal)];
        }

        // A policy violation is a finding of kind policy_violation as a cross_env one is of kind cross_env, inside
        // 'or' and 'not' too; the rest of the filter applies to it as it does to the others.
        Assert.Equal([PolicyViolationFindings.Kind], await KindsAsync("finding = policy_violation"));
        Assert.Equal(["cross_env", PolicyViolationFindings.Kind], await KindsAsync("finding in (cross_env, policy_violation)"));
        Assert.Equal([PolicyViolationFindings.Kind], await KindsAsync("finding != cross_env"));
        Assert.Equal(["cross_env"], await KindsAsync("finding != policy_violation"));
        Assert.Equal(["cross_env"], await KindsAsync("not finding in (policy_violation, new_edge)"));
        Assert.Equal(["cross_env", PolicyViolationFindings.Kind], await KindsAsync("finding = policy_violation or src.env = dev"));
        Assert.Equal([PolicyViolationFindings.Kind], await KindsAsync("finding = policy_violation and src.env = prod"));
        Assert.Empty(await KindsAsync("finding = policy_violation and src.env = dev"));
    }

    [Fact]
    public async Task Findings_PolicyViolationSeverity_IsConfigurable_DefaultHigh()
    {
        var options = new FindingsOptions { Severities = new Dictionary<string, string> { [PolicyViolationFindings.Kind] = "critical" } };
        Assert.Empty(options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)));
        var rules = new FindingRules(options);
        var rig = await GraphDecisionsTests.RigAsync();
        var query = new FindingsQuery(rig.Store, rig.Retention, rules)
        {
            Sources = [new PolicyViolationFindings(new DecisionTraffic(rig.Store, rig.Retention), rig.Rulesets, rules)],
        };

        var critical = await query.RunAsync(new FindingsRequest(rig.From, rig.To, FilterClause.All, "critical", 100), CancellationToken.None);
        Assert.Equal([(PolicyViolationFindings.Kind, "critical")], critical.Findings.Select(f => (f.Kind, f.Severity)));
        var byDefault = await Query(rig).RunAsync(new FindingsRequest(rig.From, rig.To, FilterClause.All, "low", 100), CancellationToken.None);
        Assert.Equal(PolicyViolationFindings.DefaultSeverity, Assert.Single(byDefault.Findings, f => f.Kind == PolicyViolationFindings.Kind).Severity);
    }
}
