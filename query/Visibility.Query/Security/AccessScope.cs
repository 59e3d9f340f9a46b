using System.Diagnostics.CodeAnalysis;
using Visibility.Flows.Labels;
using Visibility.Query.Filtering;
using Visibility.Query.Planning;

namespace Visibility.Query.Security;

/// <summary>
/// What a principal may see: everything (<see cref="Unrestricted"/>), or the flows touching its scope. A scope is
/// one or more label selectors (<c>app=payments</c>, <c>app=payments,env=prod</c>); a flow touches the scope when its
/// source or its destination matches every pair of at least one selector. Written as text: selectors separated by
/// <c>;</c>, pairs by <c>,</c> (<c>app=payments;env=dev</c>).
/// </summary>
public sealed class AccessScope : IEquatable<AccessScope>
{
    public const int MaxSelectors = 16;
    public const int MaxPairs = 8;

    private readonly IReadOnlyList<IReadOnlyList<KeyValuePair<string, string>>> selectors;

    private AccessScope(IReadOnlyList<IReadOnlyList<KeyValuePair<string, string>>> selectors)
    {
        this.selectors = selectors;
        Text = string.Join(";", selectors.Select(s => string.Join(",", s.Select(p => p.Key + "=" + p.Value))));
        Filter = selectors.Count == 0 ? MatchAllFilter.Instance : BuildFilter(selectors);
    }

    public static AccessScope Unrestricted { get; } = new([]);

    public bool IsUnrestricted => selectors.Count == 0;

    /// <summary>The canonical text (selectors and pairs sorted); empty when unrestricted.</summary>
    public string Text { get; }

    /// <summary>The scope as a filter: <c>(src.k = v and …) or (dst.k = v and …) or …</c>.</summary>
    public FilterExpression Filter { get; }

    /// <summary>
    /// Parses selectors (each <c>key=value[,key=value…]</c>, several joined by <c>;</c> or given as separate items).
    /// Keys are label keys or <c>workload</c>; an empty input is unrestricted.
    /// </summary>
    public static bool TryParse(IEnumerable<string?> items, [NotNullWhen(true)] out AccessScope? scope, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(items);
        scope = null;
        var parsed = new List<IReadOnlyList<KeyValuePair<string, string>>>();
        foreach (var selectorText in items.SelectMany(i => (i ?? "").Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            var pairs = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in selectorText.Split(',', StringSplitOptions.TrimEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                var key = eq < 0 ? pair : pair[..eq].Trim();
                var value = eq < 0 ? "" : pair[(eq + 1)..].Trim();
                if (eq < 0 || value.Length == 0)
                {
                    error = $"scope selector '{selectorText}': '{pair}' is not key=value";
                    return false;
                }

                if (key != FilterFields.Workload && (!LabelKeys.IsValidKey(key) || key is FilterFields.Kind or FilterFields.Ip or FilterFields.Port or FilterFields.Proto or FilterFields.Finding))
                {
                    error = $"scope selector '{selectorText}': '{key}' is not a label key (a letter, then letters, digits, '_', '.', '-', '/') or workload";
                    return false;
                }

                if (value.Length > 256 || value.Any(char.IsControl))
                {
                    error = $"scope selector '{selectorText}': the value of '{key}' is longer than 256 characters or holds control characters";
                    return false;
                }

                if (!pairs.TryAdd(key, value))
                {
                    error = $"scope selector '{selectorText}' names '{key}' twice";
                    return false;
                }
            }

            if (pairs.Count > MaxPairs)
            {
                error = $"scope selector '{selectorText}' has more than {MaxPairs} pairs";
                return false;
            }

            parsed.Add([.. pairs]);
        }

        if (parsed.Count > MaxSelectors)
        {
            error = $"a scope has at most {MaxSelectors} selectors";
            return false;
        }

        var distinct = parsed
            .DistinctBy(s => string.Join(",", s.Select(p => p.Key + "=" + p.Value)), StringComparer.Ordinal)
            .OrderBy(s => string.Join(",", s.Select(p => p.Key + "=" + p.Value)), StringComparer.Ordinal)
            .ToList();
        scope = distinct.Count == 0 ? Unrestricted : new AccessScope(distinct);
        error = null;
        return true;
    }

    public static bool TryParse(string? text, [NotNullWhen(true)] out AccessScope? scope, [NotNullWhen(false)] out string? error) =>
        TryParse([text], out scope, out error);

    /// <summary>Parses text this class wrote (stored keys); throws when it does not parse.</summary>
    public static AccessScope Parse(string? text) =>
        TryParse(text, out var scope, out var error) ? scope : throw new FormatException(error);

    /// <summary>Whether one end with these labels (and workload name) is inside the scope.</summary>
    public bool Matches(string? workload, IReadOnlyDictionary<string, string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return IsUnrestricted || selectors.Any(s => s.All(p =>
            p.Key == FilterFields.Workload
                ? string.Equals(workload, p.Value, StringComparison.Ordinal)
                : labels.TryGetValue(p.Key, out var value) && string.Equals(value, p.Value, StringComparison.Ordinal)));
    }

    /// <summary>The flows of <paramref name="clause"/> that touch this scope (the clause itself when unrestricted).</summary>
    public FilterClause Restrict(FilterClause clause)
    {
        ArgumentNullException.ThrowIfNull(clause);
        if (IsUnrestricted)
        {
            return clause;
        }

        return FilterClause.FromExpression(clause.Expression is MatchAllFilter ? Filter : new AndFilter([Filter, clause.Expression]));
    }

    public override string ToString() => Text;

    public bool Equals(AccessScope? other) => other is not null && string.Equals(Text, other.Text, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as AccessScope);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Text);

    private static OrFilter BuildFilter(IReadOnlyList<IReadOnlyList<KeyValuePair<string, string>>> selectors)
    {
        var ends = new List<FilterExpression>();
        foreach (var selector in selectors)
        {
            foreach (var side in (ReadOnlySpan<FieldSide>)[FieldSide.Src, FieldSide.Dst])
            {
                var pairs = selector
                    .Select(p => (FilterExpression)new ComparisonFilter(new FilterField(side, p.Key), FilterOperator.Equal, [p.Value]))
                    .ToList();
                ends.Add(pairs.Count == 1 ? pairs[0] : new AndFilter(new ValueList<FilterExpression>(pairs)));
            }
        }

        return new OrFilter(new ValueList<FilterExpression>(ends));
    }
}
