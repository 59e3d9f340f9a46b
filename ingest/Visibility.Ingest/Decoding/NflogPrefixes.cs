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
/// <c>vis-accept &lt;ruleset&gt;/&lt;rule&gt;</c> allowed, and the rule is the ruleset (and rule) alone, the name
/// decisions and the provisioned set use, with a reason naming it.
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
        if (Rendered(rule, RenderedDrop) is { } refusing)
        {
            return new Entry(refusing, FlowVerdict.Blocked, refusing.Contains('/', StringComparison.Ordinal)
                ? $"refused by rule {refusing}"
                : $"no rule of ruleset {refusing} allows it");
        }

        if (Rendered(rule, RenderedAccept) is { } accepting)
        {
            return new Entry(accepting, FlowVerdict.Allowed, $"allowed by rule {accepting}");
        }

        var verdict = BlockedWords.Any(w => prefix.Contains(w, StringComparison.OrdinalIgnoreCase)) ? FlowVerdict.Blocked
            : AllowedWords.Any(w => prefix.Contains(w, StringComparison.OrdinalIgnoreCase)) ? FlowVerdict.Allowed
            : FlowVerdict.Blocked;
        return new Entry(rule.Length == 0 ? null : rule, verdict, null);
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
