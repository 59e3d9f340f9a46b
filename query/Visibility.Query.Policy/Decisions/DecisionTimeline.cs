using Visibility.Query.Policy.Rulesets;

namespace Visibility.Query.Policy.Decisions;

/// <summary>Which provisioned set judges traffic: the one provisioned now, or the one active at each connection's time.</summary>
public enum DecisionsAt
{
    /// <summary>Every connection by the set provisioned now (is this traffic covered?).</summary>
    Now,

    /// <summary>Every connection by the set that was provisioned when it was seen (the audit question).</summary>
    Traffic,
}

/// <summary>A version of a stored ruleset to judge by instead of its provisioned one (<c>whatIf=&lt;ruleset&gt;:&lt;version&gt;</c>).</summary>
public sealed record WhatIf(string Name, int Version)
{
    /// <summary>Parses <c>name:version</c> (the name may hold ':'; the version is after the last one).</summary>
    public static bool TryParse(string? text, out WhatIf? whatIf, out string? error)
    {
        whatIf = null;
        error = null;
        var colon = text?.LastIndexOf(':') ?? -1;
        if (text is null || colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version) || version < 1)
        {
            error = $"whatIf '{text}' is not <ruleset>:<version> (a version number from 1), e.g. whatIf=prod:3";
            return false;
        }

        whatIf = new WhatIf(text[..colon], version);
        return true;
    }

    public override string ToString() => $"{Name}:{Version}";
}

/// <summary>
/// The provisioned sets that judge a range: one epoch per provisioning change inside it, each from its start (the
/// first from the range's start, or from the beginning of time for <see cref="DecisionsAt.Now"/>, which is one epoch).
/// </summary>
public sealed record DecisionTimeline(IReadOnlyList<(DateTimeOffset From, DecisionEvaluator Evaluator)> Epochs)
{
    /// <summary>The label keys any epoch's scopes and rules read.</summary>
    public IReadOnlyList<string> LabelKeys { get; } =
        [.. Epochs.SelectMany(e => e.Evaluator.LabelKeys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>Where each epoch after the first starts (what traffic is split at).</summary>
    public IReadOnlyList<DateTimeOffset> Boundaries => [.. Epochs.Skip(1).Select(e => e.From)];

    /// <summary>Every (ruleset, version, mode) an epoch judges by, without repeats.</summary>
    public IReadOnlyList<ProvisionedRuleset> Rulesets =>
        [.. Epochs.SelectMany(e => e.Evaluator.Provisioned).DistinctBy(r => (r.Name, r.Version, r.Mode)).OrderBy(r => r.Name, StringComparer.Ordinal).ThenBy(r => r.Version)];

    /// <summary>
    /// Builds the timeline of <paramref name="from"/>–<paramref name="to"/> from the store's provisioning history,
    /// with <paramref name="whatIf"/> (if any) replacing its ruleset's provisioned version in every epoch (or added in
    /// mode visibility where that ruleset is not provisioned). Null with an error when the what-if version is not
    /// stored or <paramref name="mayUse"/> refuses its scope (reported as unknown, not as forbidden).
    /// </summary>
    public static async Task<(DecisionTimeline? Timeline, string? Error)> BuildAsync(
        RulesetStore store, DecisionsAt at, DateTimeOffset from, DateTimeOffset to, WhatIf? whatIf, Func<string, bool> mayUse, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(mayUse);
        RulesetVersion? substitute = null;
        if (whatIf is not null)
        {
            substitute = await store.GetAsync(whatIf.Name, whatIf.Version, cancellationToken);
            if (substitute is null || !mayUse(substitute.Scope))
            {
                return (null, $"whatIf: ruleset '{whatIf.Name}' has no version {whatIf.Version}");
            }
        }

        var starts = new List<DateTimeOffset>();
        if (at == DecisionsAt.Now)
        {
            starts.Add(DateTimeOffset.MinValue);
        }
        else
        {
            starts.Add(from);
            var changes = await store.HistoryAsync(null, RulesetStore.MaxListed, cancellationToken);
            starts.AddRange(changes.Select(c => c.Time).Where(t => t > from && t < to).Distinct().Order());
        }

        var epochs = new List<(DateTimeOffset, DecisionEvaluator)>();
        foreach (var start in starts)
        {
            var set = at == DecisionsAt.Now
                ? await store.ProvisionedNowAsync(cancellationToken)
                : await store.ProvisionedAtAsync(start, cancellationToken);
            epochs.Add((start, new DecisionEvaluator(Substitute(set, substitute))));
        }

        return (new DecisionTimeline(epochs), null);
    }

    private static List<ProvisionedRuleset> Substitute(IReadOnlyList<ProvisionedRuleset> set, RulesetVersion? substitute)
    {
        if (substitute is null)
        {
            return [.. set];
        }

        var current = set.FirstOrDefault(r => r.Name == substitute.Name);
        var replaced = new ProvisionedRuleset(
            substitute.Name, substitute.Version, current?.Mode ?? ProvisionModes.Visibility, substitute.Scope,
            current?.ProvisionedAt ?? substitute.SavedAt, current?.ProvisionedBy ?? substitute.SavedBy, substitute.Ruleset);
        return [.. set.Where(r => r.Name != substitute.Name), replaced];
    }
}
