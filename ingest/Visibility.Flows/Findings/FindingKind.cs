using System.Diagnostics.CodeAnalysis;

namespace Visibility.Flows.Findings;

/// <summary>
/// What is wrong with a flow, as bits of the <c>findings</c> column that every flow row and rollup row carries.
/// Ingest sets the per-flow kinds as records arrive; <see cref="NewEdge"/> is set on the first flow of an edge
/// seen after the baseline window.
/// </summary>
[Flags]
public enum FindingKind : byte
{
    None = 0,

    /// <summary>Source and destination environments are both known, differ, and the pair is not sanctioned.</summary>
    CrossEnv = 1,

    /// <summary>A source without a workload, inside the internal networks, reaching a protected environment.</summary>
    UnknownSource = 2,

    /// <summary>A source on the internet reaching a protected environment.</summary>
    InternetSource = 4,

    /// <summary>An edge first seen after the baseline window.</summary>
    NewEdge = 8,
}

/// <summary>The names findings go by in the API, the filter language and exports.</summary>
public static class FindingKinds
{
    public const string CrossEnv = "cross_env";
    public const string UnknownSource = "unknown_source";
    public const string InternetSource = "internet_source";
    public const string NewEdge = "new_edge";

    /// <summary>
    /// A connection an enforced ruleset does not allow, observed allowed: computed at query time from the provisioned
    /// rulesets (the query library's policy decisions), not a bit of <c>findings</c>.
    /// </summary>
    public const string PolicyViolation = "policy_violation";

    /// <summary>A source refused repeatedly within a window (a scan), computed at query time from refused attempts.</summary>
    public const string BlockedAttempts = "blocked_attempts";

    /// <summary>Every single kind with its name, in bit order.</summary>
    public static IReadOnlyList<(FindingKind Kind, string Name)> All { get; } =
    [
        (FindingKind.CrossEnv, CrossEnv),
        (FindingKind.UnknownSource, UnknownSource),
        (FindingKind.InternetSource, InternetSource),
        (FindingKind.NewEdge, NewEdge),
    ];

    /// <summary>The kinds computed at query time, without a bit: named in the API, the filter and severities like the others.</summary>
    public static IReadOnlyList<string> Computed { get; } = [PolicyViolation, BlockedAttempts];

    /// <summary>Every kind's name: the stored kinds in bit order, then the computed ones.</summary>
    public static IReadOnlyList<string> AllNames { get; } = [.. All.Select(k => k.Name), .. Computed];

    /// <summary>Whether <paramref name="name"/> names a kind, stored or computed.</summary>
    public static bool IsName(string name) => AllNames.Contains(name, StringComparer.Ordinal);

    /// <summary>The bit of a stored kind; false for a computed kind (it has none) and for anything else.</summary>
    public static bool TryParse(string name, [NotNullWhen(true)] out FindingKind kind)
    {
        foreach (var (k, n) in All)
        {
            if (string.Equals(n, name, StringComparison.Ordinal))
            {
                kind = k;
                return true;
            }
        }

        kind = FindingKind.None;
        return false;
    }

    /// <summary>The names of the bits set in <paramref name="kinds"/>, in bit order.</summary>
    public static IReadOnlyList<string> Names(FindingKind kinds)
    {
        if (kinds == FindingKind.None)
        {
            return [];
        }

        var names = new List<string>(2);
        foreach (var (k, n) in All)
        {
            if ((kinds & k) != 0)
            {
                names.Add(n);
            }
        }

        return names;
    }
}
