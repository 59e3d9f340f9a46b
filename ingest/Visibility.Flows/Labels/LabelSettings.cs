using System.Text.RegularExpressions;
using Visibility.Flows.Model;

namespace Visibility.Flows.Labels;

/// <summary>
/// How addresses without a workload are classified, and the rules that complete workloads' labels.
/// </summary>
public sealed record LabelSettings
{
    public static LabelSettings Default { get; } = new();

    /// <summary>Prefixes counted as internal besides the private ranges: their unowned peers are <c>unknown</c>.</summary>
    public IReadOnlyList<Prefix> InternalNetworks { get; init; } = [];

    /// <summary>Named networks: unowned peers inside one are a node of that name, with its labels.</summary>
    public IReadOnlyList<NamedNetwork> Networks { get; init; } = [];

    /// <summary>Label rules, applied in order; a rule never overrides a label the workload sets itself.</summary>
    public IReadOnlyList<LabelRule> Rules { get; init; } = [];
}

/// <summary>A configured network such as <c>corp-vpn</c> or <c>partner-x</c>.</summary>
public sealed record NamedNetwork(string Name, IReadOnlyList<Prefix> Prefixes, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// A label rule: workloads owning an address in <see cref="Cidr"/>, or whose name matches
/// <see cref="NamePattern"/>, get <see cref="Labels"/> for the keys they do not set. Label values may use the
/// pattern's named groups, e.g. pattern <c>^(?&lt;env&gt;prod|dev)-(?&lt;app&gt;[a-z]+)-</c> with labels
/// <c>{"env": "${env}", "app": "${app}"}</c>.
/// </summary>
public sealed record LabelRule(Prefix? Cidr, Regex? NamePattern, IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>The labels this rule gives <paramref name="workload"/>, or null when it does not apply.</summary>
    public IReadOnlyDictionary<string, string>? Apply(WorkloadSpec workload, IReadOnlyList<Prefix> addresses)
    {
        if (Cidr is { } cidr && !addresses.Any(a => a.Length >= cidr.Length && cidr.Contains(a.Network)))
        {
            return null;
        }

        if (NamePattern is null)
        {
            return Labels;
        }

        var match = NamePattern.Match(workload.Name);
        if (!match.Success)
        {
            return null;
        }

        return Labels.ToDictionary(
            l => l.Key,
            l => NamePattern.GetGroupNames().Aggregate(l.Value, (value, group) =>
                value.Replace("${" + group + "}", match.Groups[group].Value, StringComparison.Ordinal)),
            StringComparer.Ordinal);
    }
}
