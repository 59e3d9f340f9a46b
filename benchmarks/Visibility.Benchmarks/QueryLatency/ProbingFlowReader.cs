using System.Diagnostics;
using System.Globalization;
using System.Text;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Benchmarks.QueryLatency;

/// <summary>
/// Passes the queries to the real store's reader and records each query's statement, parameters and time since the
/// last <see cref="Clear"/>: where a graph request's time goes, call by call (the harness's <c>--profile</c>).
/// </summary>
internal sealed class ProbingFlowReader(IFlowReader inner) : IFlowReader
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
}
