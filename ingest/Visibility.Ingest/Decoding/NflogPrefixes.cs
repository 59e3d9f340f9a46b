using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// What an NFLOG log prefix says: the rule it names (the prefix trimmed of spaces and a final <c>:</c>) and whether
/// that rule refused the packet. A prefix that contains one of <see cref="BlockedWords"/> (case-insensitive) is
/// <see cref="FlowVerdict.Blocked"/>; else one that contains one of <see cref="AllowedWords"/> is
/// <see cref="FlowVerdict.Allowed"/>; any other prefix, and none, is blocked: rules log with <c>group</c> mostly
/// right before they drop. Each distinct prefix is classified once and its name shared.
/// </summary>
public sealed class NflogPrefixes
{
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
    public FlowVerdict Read(ReadOnlySpan<byte> prefix, out string? rule)
    {
        var trimmed = TextParsing.Trim(prefix);
        if (trimmed.IsEmpty)
        {
            rule = null;
            return FlowVerdict.Blocked;
        }

        var entry = cache.Get(trimmed);
        rule = entry.Rule;
        return entry.Verdict;
    }

    private Entry Classify(string prefix)
    {
        var rule = prefix.TrimEnd().TrimEnd(':').TrimEnd();
        var verdict = BlockedWords.Any(w => prefix.Contains(w, StringComparison.OrdinalIgnoreCase)) ? FlowVerdict.Blocked
            : AllowedWords.Any(w => prefix.Contains(w, StringComparison.OrdinalIgnoreCase)) ? FlowVerdict.Allowed
            : FlowVerdict.Blocked;
        return new Entry(rule.Length == 0 ? null : rule, verdict);
    }

    private static string[] Words(IEnumerable<string>? configured, IReadOnlyList<string> defaults)
    {
        var words = configured?.Where(w => !string.IsNullOrWhiteSpace(w)).Select(w => w.Trim()).ToArray() ?? [];
        return words.Length > 0 ? words : [.. defaults];
    }

    private sealed record Entry(string? Rule, FlowVerdict Verdict);
}
