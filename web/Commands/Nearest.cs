namespace Visibility.Web.Commands;

/// <summary>The known word nearest to a misspelt one (edit distance, case-insensitive), for "did you mean" hints.</summary>
public static class Nearest
{
    /// <summary>The nearest of <paramref name="known"/>, or null when none is within <paramref name="maxDistance"/> edits.</summary>
    public static string? Of(string word, IEnumerable<string> known, int maxDistance = int.MaxValue)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            // A word cut short (--group for --group-by) counts as one edit away, however much is missing.
            var distance = candidate.StartsWith(word, StringComparison.OrdinalIgnoreCase) && word.Length > 2 ? 1 : Distance(word, candidate);
            if (distance < bestDistance)
            {
                (best, bestDistance) = (candidate, distance);
            }
        }

        return bestDistance <= maxDistance ? best : null;
    }

    /// <summary>Levenshtein distance, ignoring case (configuration keys and option names are case-insensitive or lower-case).</summary>
    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var same = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]);
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (same ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
