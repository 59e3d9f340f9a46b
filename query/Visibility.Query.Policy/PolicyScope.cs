using Visibility.Query.Filtering;

namespace Visibility.Query.Policy;

/// <summary>
/// The traffic a ruleset governs: its scope, the filter a draft was made with (<c>source.scope</c>, for example
/// <c>dst.env = prod</c>: the destinations it covers); empty, for a ruleset without one, means all traffic.
/// Simulation judges only traffic inside the scope, and the NetworkPolicy renderer isolates (default deny) the
/// scope's pods, so what simulation calls blocked is what the rendered policy blocks. See docs/policy.md.
/// </summary>
public static class PolicyScope
{
    /// <summary>The ruleset's scope as filter text; empty: all traffic.</summary>
    public static string Of(PolicyRuleset ruleset)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        return ruleset.Source?.Scope?.Trim() ?? "";
    }

    /// <summary>The filter a simulation reads: the ruleset's scope and the caller's filter, both holding.</summary>
    public static string Filter(PolicyRuleset ruleset, string? filter)
    {
        var scope = Of(ruleset);
        var extra = filter?.Trim() ?? "";
        return (scope.Length, extra.Length) switch
        {
            (0, _) => extra,
            (_, 0) => scope,
            _ => $"({scope}) and ({extra})",
        };
    }

    /// <summary>
    /// The scope as a selector of destination labels, when it is one: an empty scope (every destination: no
    /// labels) or <c>dst.key = value</c> comparisons joined by <c>and</c>. Null for anything else (an
    /// <c>or</c>, a negation, a field of either end, ports, addresses), which no label selector expresses.
    /// </summary>
    public static IReadOnlyDictionary<string, string>? Selector(string scope)
    {
        var parsed = FilterParser.Parse(scope);
        if (parsed.Filter is null)
        {
            return null;
        }

        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        IEnumerable<FilterExpression> terms = parsed.Filter switch
        {
            MatchAllFilter => [],
            AndFilter all => all.Operands,
            var single => [single],
        };
        foreach (var term in terms)
        {
            if (term is not ComparisonFilter { Field.Side: FieldSide.Dst, Operator: FilterOperator.Equal or FilterOperator.In, Values.Count: 1 } comparison
                || comparison.Field.Key is FilterFields.Ip or FilterFields.Port or FilterFields.Kind or FilterFields.Workload
                || !labels.TryAdd(comparison.Field.Key, comparison.Values[0]) && labels[comparison.Field.Key] != comparison.Values[0])
            {
                return null;
            }
        }

        return labels;
    }
}
