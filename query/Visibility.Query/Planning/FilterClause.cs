using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Filtering;

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

    /// <summary>Parses and compiles the filter language (empty: everything); the error names the position and what was expected.</summary>
    public static bool TryCreate(string? text, [NotNullWhen(true)] out FilterClause? clause, [NotNullWhen(false)] out string? error)
    {
        var parsed = FilterParser.Parse(text);
        if (!parsed.IsSuccess)
        {
            clause = null;
            error = $"filter: {parsed.Error.Message}";
            return false;
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

        var compiled = FilterCompiler.Compile(expression);
        return new FilterClause(expression.ToString(), compiled.Sql, compiled.Parameters, !compiled.CanRunOn(RollupColumns))
        {
            Columns = compiled.Columns,
            Expression = expression,
        };
    }
}
