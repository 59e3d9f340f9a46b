using Visibility.Flows.Store.Chdb;

namespace Visibility.Query.Planning;

/// <summary>
/// A compiled filter: a boolean SQL expression over the flow columns with its bound parameters, and whether it
/// reads a column only the raw table has. <see cref="Text"/> is the filter as the user wrote it (canonical form).
/// </summary>
public sealed record FilterClause(string Text, string Sql, IReadOnlyList<QueryParameter> Parameters, bool NeedsRaw)
{
    public static FilterClause All { get; } = new("", "1", [], false);
}
