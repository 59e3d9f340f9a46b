using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Filtering;
using Visibility.Query.Graph;

namespace Visibility.Query.Planning;

/// <summary>
/// A compiled filter: a boolean SQL expression over the flow columns with its bound parameters, and whether it
/// reads a column only the raw table has. <see cref="Text"/> is the filter in canonical form.
/// </summary>
public sealed record FilterClause(string Text, string Sql, IReadOnlyList<QueryParameter> Parameters, bool NeedsRaw)
{
    /// <summary>The flow columns the filter reads.</summary>
    public IReadOnlySet<string> Columns { get; init; } = new HashSet<string>();

    private static readonly FrozenSet<string> RollupColumns =
        FlowColumnTable.RollupDimensions.Select(c => c.Name).ToFrozenSet(StringComparer.Ordinal);

    public static FilterClause All { get; } = new("", "1", [], false);

    /// <summary>The parsed filter the clause was compiled from.</summary>
    public FilterExpression Expression { get; init; } = MatchAllFilter.Instance;

    /// <summary>Whether the filter reads per-row findings (then new edges are marked per row, before filtering).</summary>
    public bool ReadsFindings => Columns.Contains("findings");

    /// <summary>
    /// The policy decisions the filter's <c>decision</c> terms let through (null: it has none). They are not part of
    /// <see cref="Sql"/>: decisions are computed after the rows are read, by the graph's decisions.
    /// </summary>
    public IReadOnlySet<string>? Decisions { get; init; }

    /// <summary>Parses and compiles the filter language (empty: everything); the error names the position and what was expected.</summary>
    public static bool TryCreate(string? text, [NotNullWhen(true)] out FilterClause? clause, [NotNullWhen(false)] out string? error) =>
        TryCreate(text, allowDecisions: false, out clause, out error);

    /// <summary>
    /// As <see cref="TryCreate(string?, out FilterClause?, out string?)"/>; with <paramref name="allowDecisions"/>
    /// (the graph) <c>decision</c> terms are taken when joined to the rest with <c>and</c>, and go to
    /// <see cref="Decisions"/>; elsewhere they are refused, naming the graph.
    /// </summary>
    public static bool TryCreate(string? text, bool allowDecisions, [NotNullWhen(true)] out FilterClause? clause, [NotNullWhen(false)] out string? error)
    {
        var parsed = FilterParser.Parse(text);
        if (!parsed.IsSuccess)
        {
            clause = null;
            error = $"filter: {parsed.Error.Message}";
            return false;
        }

        if (HasDecision(parsed.Filter))
        {
            clause = null;
            if (!allowDecisions)
            {
                error = "filter: 'decision' applies to the graph only (GET /api/v1/graph), where decisions are computed";
                return false;
            }

            if (Conjuncts(parsed.Filter).Any(c => c is not ComparisonFilter && HasDecision(c)))
            {
                error = "filter: 'decision' can only be joined to the rest of the filter with 'and' (not inside 'or' or 'not')";
                return false;
            }
        }

        if (parsed.Filter is MatchAllFilter)
        {
            clause = All;
            error = null;
            return true;
        }

        clause = FromExpression(parsed.Filter);
        error = null;
        return true;
    }

    /// <summary>Compiles a filter built in code (an access scope joined to a user's filter).</summary>
    public static FilterClause FromExpression(FilterExpression expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        if (expression is MatchAllFilter)
        {
            return All;
        }

        // Decision terms among the top-level 'and' terms narrow the decisions; the rest compiles to SQL.
        var terms = Conjuncts(expression).ToList();
        var decisionTerms = terms.OfType<ComparisonFilter>().Where(IsDecision).ToList();
        HashSet<string>? decisions = null;
        foreach (var term in decisionTerms)
        {
            var values = term.Values.ToHashSet(StringComparer.Ordinal);
            var allowed = term.Operator is FilterOperator.Equal or FilterOperator.In
                ? values
                : [.. PolicyDecisions.All.Where(d => !values.Contains(d))];
            decisions = decisions is null ? allowed : [.. decisions.Intersect(allowed)];
        }

        var rest = terms.Where(t => t is not ComparisonFilter c || !IsDecision(c)).ToList();
        var sqlPart = decisionTerms.Count == 0 ? expression : rest.Count switch
        {
            0 => MatchAllFilter.Instance,
            1 => rest[0],
            _ => new AndFilter([.. rest]),
        };
        if (sqlPart is MatchAllFilter)
        {
            return All with { Text = expression.ToString(), Expression = expression, Decisions = decisions };
        }

        var compiled = FilterCompiler.Compile(sqlPart);
        return new FilterClause(expression.ToString(), compiled.Sql, compiled.Parameters, !compiled.CanRunOn(RollupColumns))
        {
            Columns = compiled.Columns,
            Expression = expression,
            Decisions = decisions,
        };
    }

    /// <summary>
    /// The filter the findings of a kind computed at query time (<see cref="FindingKinds.Computed"/>, such as
    /// <c>policy_violation</c>) are read with: each <c>finding</c> term decided as it holds for a finding of that kind
    /// (<c>finding = policy_violation</c> true, <c>finding = cross_env</c> false, <c>finding != cross_env</c> true),
    /// the rest kept. Null when the filter then selects nothing. (In <see cref="Sql"/> such a kind has no bit, so a
    /// term naming only it selects no stored row.)
    /// </summary>
    public FilterClause? ForComputedFinding(string kind)
    {
        ArgumentNullException.ThrowIfNull(kind);
        if (!ReadsFindings)
        {
            return this;
        }

        var (constant, rest) = DecideFindings(Expression, kind);
        return constant switch
        {
            false => null,
            true => All,
            null => FromExpression(rest!),
        };
    }

    /// <summary><paramref name="expression"/> with its <c>finding</c> terms decided for <paramref name="kind"/>: a constant, or what is left.</summary>
    private static (bool? Constant, FilterExpression? Remaining) DecideFindings(FilterExpression expression, string kind)
    {
        switch (expression)
        {
            case ComparisonFilter { Field: { Side: FieldSide.None, Key: FilterFields.Finding } } c:
                return (c.Values.Contains(kind, StringComparer.Ordinal) ^ (c.Operator is FilterOperator.NotEqual or FilterOperator.NotIn), null);
            case NotFilter not:
                var (value, operand) = DecideFindings(not.Operand, kind);
                return value is { } v ? (!v, null) : (null, new NotFilter(operand!));
            case AndFilter or OrFilter:
                var isAnd = expression is AndFilter;
                var operands = new List<FilterExpression>();
                foreach (var (c, rest) in (expression is AndFilter and ? and.Operands : ((OrFilter)expression).Operands).Select(o => DecideFindings(o, kind)))
                {
                    if (c == !isAnd)
                    {
                        // false in an 'and', true in an 'or', decides it.
                        return (c, null);
                    }

                    if (rest is not null)
                    {
                        operands.Add(rest);
                    }
                }

                return operands.Count switch
                {
                    0 => (isAnd, null),
                    1 => (null, operands[0]),
                    _ => (null, isAnd ? new AndFilter([.. operands]) : new OrFilter([.. operands])),
                };
            default:
                return (null, expression);
        }
    }

    private static bool IsDecision(ComparisonFilter comparison) =>
        comparison.Field is { Side: FieldSide.None, Key: FilterFields.Decision };

    /// <summary>The terms of the top-level 'and' (through nested ones), or the expression itself.</summary>
    private static IEnumerable<FilterExpression> Conjuncts(FilterExpression expression) =>
        expression is AndFilter and ? and.Operands.SelectMany(Conjuncts) : [expression];

    private static bool HasDecision(FilterExpression expression) => expression switch
    {
        ComparisonFilter c => IsDecision(c),
        AndFilter and => and.Operands.Any(HasDecision),
        OrFilter or => or.Operands.Any(HasDecision),
        NotFilter not => HasDecision(not.Operand),
        _ => false,
    };
}
