using System.Text.Json.Serialization;

namespace Visibility.Query.Policy;

/// <summary>A rule present in both rulesets whose ports differ: what the second adds and removes.</summary>
public sealed record RuleChange(
    [property: JsonPropertyName("rule")] string Rule,
    [property: JsonPropertyName("addedPorts")] IReadOnlyList<PortRange> AddedPorts,
    [property: JsonPropertyName("removedPorts")] IReadOnlyList<PortRange> RemovedPorts);

/// <summary>From one ruleset to another: rules added, removed and changed (by source and destination), unchanged count.</summary>
public sealed record PolicyDifference(
    [property: JsonPropertyName("added")] IReadOnlyList<PolicyRule> Added,
    [property: JsonPropertyName("removed")] IReadOnlyList<PolicyRule> Removed,
    [property: JsonPropertyName("changed")] IReadOnlyList<RuleChange> Changed,
    [property: JsonPropertyName("unchanged")] int Unchanged)
{
    /// <summary>Whether the two rulesets allow the same.</summary>
    [JsonPropertyName("same")]
    public bool Same => Added.Count == 0 && Removed.Count == 0 && Changed.Count == 0;
}

/// <summary>
/// Compares two rulesets rule by rule, a rule being identified by its source and destination peers (not its name);
/// ports compare as the sets of (protocol, port) they allow, so <c>80-81</c> equals <c>80, 81</c>.
/// </summary>
public static class PolicyDiff
{
    public static PolicyDifference Compare(PolicyRuleset before, PolicyRuleset after)
    {
        var old = Index(before);
        var current = Index(after);
        var changed = new List<RuleChange>();
        var unchanged = 0;
        foreach (var (key, rule) in current)
        {
            if (!old.TryGetValue(key, out var previous))
            {
                continue;
            }

            var was = Services(previous);
            var now = Services(rule);
            if (was.SetEquals(now))
            {
                unchanged++;
                continue;
            }

            changed.Add(new RuleChange(rule.Name, PolicyDrafter.Collapse(now.Except(was)), PolicyDrafter.Collapse(was.Except(now))));
        }

        return new PolicyDifference(
            [.. current.Where(kv => !old.ContainsKey(kv.Key)).Select(kv => kv.Value).OrderBy(r => r.Name, StringComparer.Ordinal)],
            [.. old.Where(kv => !current.ContainsKey(kv.Key)).Select(kv => kv.Value).OrderBy(r => r.Name, StringComparer.Ordinal)],
            [.. changed.OrderBy(c => c.Rule, StringComparer.Ordinal)],
            unchanged);
    }

    private static Dictionary<(string, string), PolicyRule> Index(PolicyRuleset ruleset)
    {
        var rules = new Dictionary<(string, string), PolicyRule>();
        foreach (var rule in ruleset.Rules)
        {
            var key = (rule.Source.Key, rule.Destination.Key);
            rules[key] = rules.TryGetValue(key, out var other)
                ? other with { Ports = PolicyDrafter.Collapse(Services(other).Union(Services(rule))) }
                : rule;
        }

        return rules;
    }

    /// <summary>The (protocol, port) pairs a rule allows.</summary>
    private static HashSet<(string Protocol, int Port)> Services(PolicyRule rule)
    {
        var services = new HashSet<(string, int)>();
        foreach (var range in rule.Ports)
        {
            for (var port = range.From; port <= range.To; port++)
            {
                services.Add((range.Protocol, port));
            }
        }

        return services;
    }
}
