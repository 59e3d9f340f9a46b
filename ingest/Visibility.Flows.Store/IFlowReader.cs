using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>
/// The read path: queries over the flow tables and the control tables. Values reach the engine only as bound
/// <see cref="QueryParameter"/>s; the statement names its tables in <see cref="Database"/>.
/// </summary>
public interface IFlowReader
{
    /// <summary>The database holding the tables, unquoted: readers and control-table writers name tables in it.</summary>
    string Database { get; }

    /// <summary>Runs a read query; <paramref name="format"/> is a ClickHouse output format.</summary>
    Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken);
}
