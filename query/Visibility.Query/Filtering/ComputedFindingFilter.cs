using Visibility.Query.Findings;
using Visibility.Query.Planning;

namespace Visibility.Query.Filtering;

/// <summary>
/// The <c>finding</c> field for kinds computed at query time, which no flow row carries (<see cref="Kinds"/>). On
/// flows such a name matches nothing (<c>finding = blocked_attempts</c> selects no flow; <c>finding !=
/// blocked_attempts</c> every flow), so the stored kinds need nothing more. A computed kind's finding source
/// resolves the filter for itself with <see cref="ForKind"/>: each <c>finding</c> term holds, or not, by whether it
/// names that kind, and the rest applies to the rows the source reads.
/// </summary>
public static class ComputedFindingFilter
{
    /// <summary>The computed kinds the <c>finding</c> field takes besides the stored ones.</summary>
    public static IReadOnlyList<string> Kinds { get; } = [BlockedAttemptsFindings.Kind];

    /// <summary>
    /// <paramref name="clause"/> as it applies to findings of <paramref name="kind"/>: its <c>finding</c> terms
    /// replaced by whether they hold for that kind. Null when the filter then holds for none of them.
    /// </summary>
    public static FilterClause? ForKind(FilterClause clause, string kind)
    {
        ArgumentNullException.ThrowIfNull(clause);
        if (!clause.ReadsFindings)
        {
            return clause;
        }

        var (constant, rest) = Resolve(clause.Expression, kind);
        return constant switch
        {
            false => null,
            true => FilterClause.All,
            null => FilterClause.FromExpression(rest!),
        };
    }

    /// <summary>Either a constant (the expression holds, or not, whatever the row) or what is left to evaluate on rows.</summary>
    private static (bool? Constant, FilterExpression? Remainder) Resolve(FilterExpression expression, string kind)
    {
        switch (expression)
        {
            case MatchAllFilter:
                return (true, null);
            case ComparisonFilter { Field: { Side: FieldSide.None, Key: FilterFields.Finding } } term:
                var named = term.Values.Contains(kind, StringComparer.Ordinal);
                return (term.Operator is FilterOperator.Equal or FilterOperator.In ? named : !named, null);
            case NotFilter not:
                var (constant, rest) = Resolve(not.Operand, kind);
                return constant is { } value ? (!value, null) : (null, new NotFilter(rest!));
            case AndFilter and:
                return Join(and.Operands, kind, absorbing: false, operands => new AndFilter([.. operands]));
            case OrFilter or:
                return Join(or.Operands, kind, absorbing: true, operands => new OrFilter([.. operands]));
            default:
                return (null, expression);
        }
    }

    // An operand equal to the absorbing constant decides the whole (false for 'and', true for 'or'); the other constant drops out.
    private static (bool? Constant, FilterExpression? Remainder) Join(IReadOnlyList<FilterExpression> operands, string kind, bool absorbing, Func<List<FilterExpression>, FilterExpression> build)
    {
        var rest = new List<FilterExpression>();
        foreach (var operand in operands)
        {
            var (constant, left) = Resolve(operand, kind);
            if (constant == absorbing)
            {
                return (absorbing, null);
            }

            if (left is not null)
            {
                rest.Add(left);
            }
        }

        return rest.Count switch
        {
            0 => (!absorbing, null),
            1 => (null, rest[0]),
            _ => (null, build(rest)),
        };
    }
}
