using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// What an NFLOG log prefix says: the rule it names (the prefix trimmed of spaces and a final <c>:</c>) and whether
/// that rule refused the packet. A prefix that contains one of <see cref="BlockedWords"/> (case-insensitive) is
/// <see cref="FlowVerdict.Blocked"/>; else one that contains one of <see cref="AllowedWords"/> is
/// <see cref="FlowVerdict.Allowed"/>; any other prefix, and none, is blocked: rules log with <c>group</c> mostly
/// right before they drop. Each distinct prefix is classified once and its name shared.
/// <para>
/// The prefixes Visibility renders (docs/policy.md, "Refused packets come back") are read before the words, whatever
/// words are configured: <c>vis-drop &lt;ruleset&gt;[/&lt;rule&gt;]</c> is blocked and
/// <c>vis-accept &lt;ruleset&gt;/&lt;rule&gt;</c> allowed; the policy is the ruleset's name alone (as decisions and the
/// provisioned set name it), and the reason says which rule, when the prefix names one.
/// </para>
/// </summary>
public sealed class NflogPrefixes
{
    /// <summary>The first word of a Visibility-rendered refusing rule's prefix (the renderers' <c>DropPrefix</c>).</summary>
    public const string RenderedDrop = "vis-drop";

    /// <summary>The first word of a Visibility-rendered accepting rule's prefix.</summary>
    public const string RenderedAccept = "vis-accept";

    /// <summary>The words that mark a refusing rule when none are configured.</summary>
    public static readonly IReadOnlyList<string> DefaultBlockedWords = ["drop", "reject", "refuse", "deny", "block"];

    /// <summary>The words that mark an accepting rule when none are configured.</summary>
    public static readonly IReadOnlyList<string> DefaultAllowedWords = ["accept", "allow", "permit", "pass"];

    private readonly TextCache<Entry> cache;

    /// <param name="blockedWords">Words of refusing rules; null or empty for <see cref="DefaultBlockedWords"/>.</param>
    /// <param name="allowedWords">Words of accepting rules; null or empty for <see cref="DefaultAllowedWords"/>.</param>
    public NflogPrefixes(IEnumerable<string>? blockedWords = null, IEnumerable<string>? allowedWords = null)
    {
        BlockedWords = Words(blockedWords, DefaultBlockedWords);
        AllowedWords = Words(allowedWords, DefaultAllowedWords);
        cache = new TextCache<Entry>(Classify);
    }

    public IReadOnlyList<string> BlockedWords { get; }

    public IReadOnlyList<string> AllowedWords { get; }

    /// <summary>The verdict of a rule with this prefix and the rule's name (null for an empty prefix).</summary>
    public FlowVerdict Read(ReadOnlySpan<byte> prefix, out string? rule) => Read(prefix, out rule, out _);

    /// <summary>
    /// The verdict of a rule with this prefix, the rule's name (null for an empty prefix) and, for a prefix
    /// Visibility rendered, why (null otherwise).
    /// </summary>
    public FlowVerdict Read(ReadOnlySpan<byte> prefix, out string? rule, out string? reason)
    {
        var trimmed = TextParsing.Trim(prefix);
        if (trimmed.IsEmpty)
        {
            rule = null;
            reason = null;
            return FlowVerdict.Blocked;
        }

        var entry = cache.Get(trimmed);
        rule = entry.Rule;
        reason = entry.Reason;
        return entry.Verdict;
    }

    private Entry Classify(string prefix)
    {
        var rule = prefix.TrimEnd().TrimEnd(':').TrimEnd();
        // The policy is the ruleset (a rule's name may hold commas, which separate policies); the rule goes in the reason.
        if (Rendered(rule, RenderedDrop) is { } refusing)
        {
            var (ruleset, named) = Split(refusing);
            return new Entry(ruleset, FlowVerdict.Blocked, named is null
                ? $"no rule of ruleset {ruleset} allows it"
                : $"refused by rule {named} of ruleset {ruleset}");
        }

        if (Rendered(rule, RenderedAccept) is { } accepting)
        {
            var (ruleset, named) = Split(accepting);
            return new Entry(ruleset, FlowVerdict.Allowed, named is null ? $"allowed by ruleset {ruleset}" : $"allowed by rule {named} of ruleset {ruleset}");
        }

        var verdict = BlockedWords.Any(w => prefix.Contains(w, StringComparison.OrdinalIgnoreCase)) ? FlowVerdict.Blocked
            : AllowedWords.Any(w => prefix.Contains(w, StringComparison.OrdinalIgnoreCase)) ? FlowVerdict.Allowed
            : FlowVerdict.Blocked;
        return new Entry(rule.Length == 0 ? null : rule, verdict, null);
    }

    /// <summary><c>ruleset/rule</c> as its two parts (the rule null when there is none).</summary>
    private static (string Ruleset, string? Rule) Split(string name)
    {
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        return slash <= 0 || slash == name.Length - 1 ? (name, null) : (name[..slash], name[(slash + 1)..]);
    }

    /// <summary>What follows <paramref name="word"/> and a space in <paramref name="prefix"/>; null when it does not start so.</summary>
    private static string? Rendered(string prefix, string word) =>
        prefix.Length > word.Length + 1 && prefix.StartsWith(word, StringComparison.Ordinal) && prefix[word.Length] == ' '
            && prefix[(word.Length + 1)..].Trim() is { Length: > 0 } name
            ? name
            : null;

    private static string[] Words(IEnumerable<string>? configured, IReadOnlyList<string> defaults)
    {
        var words = configured?.Where(w => !string.IsNullOrWhiteSpace(w)).Select(w => w.Trim()).ToArray() ?? [];
        return words.Length > 0 ? words : [.. defaults];
    }

    private sealed record Entry(string? Rule, FlowVerdict Verdict, string? Reason);
}
