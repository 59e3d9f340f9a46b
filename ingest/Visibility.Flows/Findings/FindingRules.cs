using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using Visibility.Flows.Labels;

namespace Visibility.Flows.Findings;

/// <summary>
/// The findings rules, immutable: which flows are findings (<see cref="Classify"/>, on every record at ingest) and
/// how severe a finding is (<see cref="Severity"/>, at query time, so a changed severity applies to old findings).
/// <list type="bullet">
/// <item><c>cross_env</c>: both environments known and different, and the pair not sanctioned.</item>
/// <item><c>unknown_source</c>: a source without a workload in the internal networks reaching a protected environment.</item>
/// <item><c>internet_source</c>: a source on the internet reaching a protected environment.</item>
/// <item><c>new_edge</c>: a workload-level edge first seen after the baseline window (decided at query time from
/// the <c>edges</c> table, see the query library).</item>
/// </list>
/// Default severities: cross-environment into a protected environment high, other cross-environment medium;
/// internet sources high; unknown sources medium; new edges into a protected environment medium, others low; the
/// computed kinds as their finders say (<c>policy_violation</c> high).
/// </summary>
public sealed class FindingRules
{
    public static readonly ImmutableArray<string> Levels = ["low", "medium", "high", "critical"];

    private readonly FrozenSet<string> protectedEnvironments;
    private readonly FrozenSet<(string, string)> sanctioned;
    private readonly FrozenDictionary<string, string> severities;

    public FindingRules(FindingsOptions options)
    {
        protectedEnvironments = (options.ProtectedEnvironments.Length > 0 ? options.ProtectedEnvironments : ["prod", "production"])
            .ToFrozenSet(StringComparer.Ordinal);
        sanctioned = options.SanctionedPairs
            .Select(p => TryParsePair(p, out var s, out var d) ? (s, d) : throw new ArgumentException($"'{p}' is not an environment pair such as dev->test", nameof(options)))
            .ToFrozenSet();
        severities = options.Severities.ToFrozenDictionary(
            kv => TryParsePair(kv.Key, out var s, out var d) ? $"{s}->{d}" : kv.Key, kv => kv.Value, StringComparer.Ordinal);
        NewEdgeBaseline = options.NewEdgeBaseline;
    }

    public static FindingRules Default { get; } = new(new FindingsOptions());

    public IReadOnlySet<string> ProtectedEnvironments => protectedEnvironments;

    public IReadOnlyCollection<(string Source, string Destination)> SanctionedPairs => sanctioned;

    public TimeSpan NewEdgeBaseline { get; }

    /// <summary>The per-flow findings of a flow between <paramref name="src"/> and <paramref name="dst"/>.</summary>
    public FindingKind Classify(Endpoint src, Endpoint dst)
    {
        var kinds = FindingKind.None;
        string srcEnv = src.Env, dstEnv = dst.Env;
        if (srcEnv.Length > 0 && dstEnv.Length > 0 && !string.Equals(srcEnv, dstEnv, StringComparison.Ordinal)
            && (sanctioned.Count == 0 || !sanctioned.Contains((srcEnv, dstEnv))))
        {
            kinds |= FindingKind.CrossEnv;
        }

        if (!src.IsWorkload && dstEnv.Length > 0 && protectedEnvironments.Contains(dstEnv))
        {
            if (string.Equals(src.Kind, Endpoint.InternetKind, StringComparison.Ordinal))
            {
                kinds |= FindingKind.InternetSource;
            }
            else if (string.Equals(src.Kind, Endpoint.UnknownKind, StringComparison.Ordinal))
            {
                kinds |= FindingKind.UnknownSource;
            }
        }

        return kinds;
    }

    /// <summary>Whether the pair is sanctioned (then it is never a cross-environment finding).</summary>
    public bool IsSanctioned(string srcEnv, string dstEnv) => sanctioned.Contains((srcEnv, dstEnv));

    /// <summary>How severe a finding of <paramref name="kind"/> (one bit) between these environments is.</summary>
    public string Severity(FindingKind kind, string srcEnv, string dstEnv)
    {
        if (kind == FindingKind.CrossEnv)
        {
            foreach (var key in (ReadOnlySpan<string>)[$"{srcEnv}->{dstEnv}", $"{srcEnv}->*", $"*->{dstEnv}"])
            {
                if (severities.TryGetValue(key, out var pair))
                {
                    return pair;
                }
            }
        }

        var name = FindingKinds.Names(kind) is [var single] ? single : "";
        if (severities.TryGetValue(name, out var level))
        {
            return level;
        }

        var intoProtected = protectedEnvironments.Contains(dstEnv);
        return kind switch
        {
            FindingKind.CrossEnv => intoProtected ? "high" : "medium",
            FindingKind.InternetSource => "high",
            FindingKind.UnknownSource => "medium",
            _ => intoProtected ? "medium" : "low",
        };
    }

    /// <summary>
    /// How severe a finding of a kind computed at query time (<see cref="FindingKinds.Computed"/>) is: its override
    /// in <see cref="FindingsOptions.Severities"/>, else <paramref name="defaultLevel"/>.
    /// </summary>
    public string Severity(string computedKind, string defaultLevel) =>
        severities.GetValueOrDefault(computedKind, defaultLevel);

    /// <summary>The highest of several severities (<c>low</c> when there are none).</summary>
    public static string Highest(IEnumerable<string> levels) =>
        levels.DefaultIfEmpty("low").MaxBy(Rank)!;

    /// <summary>A severity's rank: 0 for <c>low</c> up to 3 for <c>critical</c>; -1 for anything else.</summary>
    public static int Rank(string level) => Levels.IndexOf(level);

    /// <summary>Parses <c>source-&gt;destination</c>; each side an environment value or <c>*</c>.</summary>
    public static bool TryParsePair(string text, [NotNullWhen(true)] out string? source, [NotNullWhen(true)] out string? destination)
    {
        source = destination = null;
        var arrow = text.IndexOf("->", StringComparison.Ordinal);
        if (arrow <= 0 || arrow + 2 >= text.Length)
        {
            return false;
        }

        source = text[..arrow].Trim();
        destination = text[(arrow + 2)..].Trim();
        return source.Length > 0 && destination.Length > 0 && !destination.Contains("->", StringComparison.Ordinal);
    }
}
