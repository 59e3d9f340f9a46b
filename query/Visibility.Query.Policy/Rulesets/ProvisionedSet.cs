namespace Visibility.Query.Policy.Rulesets;

/// <summary>The provisioned set as one ruleset, for the renderers (which take one ruleset, as the draft and render APIs do).</summary>
public static class ProvisionedSet
{
    /// <summary>The name of the merged ruleset the renderers write in their headers.</summary>
    public const string Name = "provisioned";

    /// <summary>
    /// Every rule of every active ruleset, each named <c>&lt;ruleset&gt;/&lt;rule&gt;</c> so that a rendered rule
    /// (an nftables comment, a NetworkPolicy annotation) says which ruleset it came from; grouping keys are the union.
    /// </summary>
    public static PolicyRuleset Merge(IEnumerable<ProvisionedRuleset> active)
    {
        ArgumentNullException.ThrowIfNull(active);
        var list = active.OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
        return new PolicyRuleset(
            Name,
            [.. list.SelectMany(r => r.Ruleset.GroupBy ?? []).Distinct(StringComparer.Ordinal)],
            [.. list.SelectMany(r => r.Ruleset.Rules.Select(rule => rule with { Name = $"{r.Name}/{rule.Name}" }))]);
    }
}
