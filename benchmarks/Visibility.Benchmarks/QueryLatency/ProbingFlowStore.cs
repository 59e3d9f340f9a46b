using System.Diagnostics;
using System.Globalization;
using System.Text;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Benchmarks.QueryLatency;

/// <summary>
/// Passes everything to the real store and records each query's statement, parameters and time since the last
/// <see cref="Clear"/>: where a graph request's time goes, call by call (the harness's <c>--profile</c>).
/// </summary>
internal sealed class ProbingFlowStore(IFlowStore inner) : IFlowStore
{
    private readonly List<(string Sql, IReadOnlyList<QueryParameter> Parameters, double Ms)> calls = [];

    public string Database => inner.Database;

    public IReadOnlyList<(string Sql, IReadOnlyList<QueryParameter> Parameters, double Ms)> Calls => calls;

    public void Clear() => calls.Clear();

    /// <summary>A statement with its parameters as <c>-- param name value</c> lines, as <c>--sql @FILE</c> reads it.</summary>
    public static string Script(string sql, IReadOnlyList<QueryParameter> parameters)
    {
        var text = new StringBuilder();
        foreach (var p in parameters)
        {
            text.Append(CultureInfo.InvariantCulture, $"-- param {p.Name} {p.Value}\n");
        }

        return text.Append(sql).Append('\n').ToString();
    }

    /// <summary>Reads <see cref="Script"/>'s form back.</summary>
    public static (string Sql, List<QueryParameter> Parameters) ReadScript(string text)
    {
        var parameters = new List<QueryParameter>();
        var sql = new StringBuilder();
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("-- param ", StringComparison.Ordinal))
            {
                var parts = line["-- param ".Length..].Split(' ', 2);
                parameters.Add(new QueryParameter(parts[0], parts.Length > 1 ? parts[1] : ""));
            }
            else
            {
                sql.Append(line).Append('\n');
            }
        }

        return (sql.ToString().Trim(), parameters);
    }

    public async Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var result = await inner.QueryAsync(sql, format, read, parameters, cancellationToken);
        calls.Add((sql, [.. parameters], Stopwatch.GetElapsedTime(start).TotalMilliseconds));
        return result;
    }

    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public Task InsertFlowsAsync(ReadOnlyMemory<byte> rowBinary, CancellationToken cancellationToken) => inner.InsertFlowsAsync(rowBinary, cancellationToken);

    public Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, CancellationToken cancellationToken) =>
        inner.InsertFlowsAsync(chunks, encoding, cancellationToken);

    public Task RecordProgressAsync(IReadOnlyList<PartitionProgress> progress, CancellationToken cancellationToken) =>
        inner.RecordProgressAsync(progress, cancellationToken);

    public Task<IReadOnlyList<PartitionResume>> ResumeAsync(IReadOnlyCollection<KafkaPartition> partitions, CancellationToken cancellationToken) =>
        inner.ResumeAsync(partitions, cancellationToken);

    public Task InsertRowsAsync(string insertSql, string format, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        inner.InsertRowsAsync(insertSql, format, data, cancellationToken);

    public Task UpsertWorkloadsAsync(IReadOnlyList<WorkloadSpec> workloads, CancellationToken cancellationToken) =>
        inner.UpsertWorkloadsAsync(workloads, cancellationToken);

    public Task<IReadOnlyList<WorkloadSpec>> LoadWorkloadsAsync(CancellationToken cancellationToken) => inner.LoadWorkloadsAsync(cancellationToken);

    public Task<bool> DeleteWorkloadAsync(string name, CancellationToken cancellationToken) => inner.DeleteWorkloadAsync(name, cancellationToken);

    public Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken) => inner.AppliedMigrationsAsync(cancellationToken);
}
