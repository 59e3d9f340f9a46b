using System.Diagnostics.CodeAnalysis;
using Visibility.Query.Filtering;
using Visibility.Query.Planning;
using Visibility.Query.Security;

namespace Visibility.Query.Policy.Rulesets;

/// <summary>
/// What a stored ruleset governs: the destinations carrying every pair of one label selector (<c>env=prod</c>,
/// <c>app=payments,env=prod</c>). Written and read as the selector's canonical text (pairs sorted by key).
/// One selector, not several: two groups with different rules are two rulesets.
/// </summary>
public sealed class RulesetScope
{
    private RulesetScope(IReadOnlyList<KeyValuePair<string, string>> pairs)
    {
        Pairs = pairs;
        Text = string.Join(",", pairs.Select(p => p.Key + "=" + p.Value));
    }

    /// <summary>The selector's pairs, sorted by key.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Pairs { get; }

    /// <summary>The canonical text: <c>app=payments,env=prod</c>.</summary>
    public string Text { get; }

    /// <summary>Parses a selector; the error names what is wrong with it.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out RulesetScope? scope, [NotNullWhen(false)] out string? error)
    {
        scope = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "scope is required: a label selector naming the destinations the ruleset governs, such as env=prod or app=payments,env=prod";
            return false;
        }

        if (text.Contains(';', StringComparison.Ordinal))
        {
            error = $"scope '{text}' holds several selectors (';'): a ruleset governs one selector; save one ruleset per group";
            return false;
        }

        // The access-scope parser checks keys, values and duplicates the same way scopes of keys are checked.
        if (!AccessScope.TryParse(text, out var parsed, out var parseError))
        {
            error = parseError;
            return false;
        }

        scope = new RulesetScope([.. Split(parsed.Text)]);
        error = null;
        return true;
    }

    /// <summary>Parses text this class wrote (stored versions); throws when it does not parse.</summary>
    public static RulesetScope Parse(string text) =>
        TryParse(text, out var scope, out var error) ? scope : throw new FormatException(error);

    /// <summary>
    /// The scope a draft was made for, when its filter is only destination equalities (<c>dst.env = prod and
    /// dst.app = db</c>, what <c>visibility policy draft --filter</c> is usually given); null otherwise.
    /// </summary>
    public static RulesetScope? FromDraftFilter(string? filter)
    {
        if (!FilterClause.TryCreate(filter, out var clause, out _))
        {
            return null;
        }

        IEnumerable<FilterExpression> terms = clause.Expression switch
        {
            AndFilter and => and.Operands,
            ComparisonFilter one => [one],
            _ => [],
        };
        var pairs = new List<string>();
        foreach (var term in terms)
        {
            if (term is not ComparisonFilter { Field.Side: FieldSide.Dst, Operator: FilterOperator.Equal, Values: [var value] } equality)
            {
                return null;
            }

            pairs.Add(equality.Field.Key + "=" + value);
        }

        return pairs.Count > 0 && TryParse(string.Join(",", pairs), out var scope, out _) ? scope : null;
    }

    /// <summary>
    /// Whether a caller with <paramref name="access"/> may see and change a ruleset with this scope: an unrestricted
    /// caller always; a scoped one when everything the ruleset governs lies inside its scope, that is when one of its
    /// selectors' pairs are all among this scope's pairs (a key scoped to <c>env=dev</c> reaches <c>env=dev</c> and
    /// <c>app=web,env=dev</c>, not <c>env=prod</c> nor <c>app=web</c>, which governs web in every environment).
    /// </summary>
    public bool IsWithin(AccessScope access)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (access.IsUnrestricted)
        {
            return true;
        }

        var mine = Pairs.ToHashSet();
        return access.Text.Split(';').Any(selector => Split(selector).All(mine.Contains));
    }

    /// <summary>Whether a destination with these labels (and workload name) is governed by this scope.</summary>
    public bool Governs(string? workload, IReadOnlyDictionary<string, string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return Pairs.All(p => p.Key == "workload"
            ? string.Equals(workload, p.Value, StringComparison.Ordinal)
            : labels.TryGetValue(p.Key, out var value) && string.Equals(value, p.Value, StringComparison.Ordinal));
    }

    public override string ToString() => Text;

    private static IEnumerable<KeyValuePair<string, string>> Split(string selector) =>
        selector.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(pair =>
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            return new KeyValuePair<string, string>(pair[..eq], pair[(eq + 1)..]);
        });
}
