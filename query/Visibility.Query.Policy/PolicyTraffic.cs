using System.Globalization;
using System.Text.Json;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Graph;
using Visibility.Query.Planning;

namespace Visibility.Query.Policy;

/// <summary>
/// Observed traffic per (source group, destination group, protocol, destination port) at a grouping: what drafts are
/// made from and simulations are judged on. A group is a peer class (<c>unknown</c>, <c>internet</c>, a named
/// network) or a workload's values for the grouping keys. Only connections that happened: a service reached by
/// refused attempts alone is no traffic to draft an allow rule from.
/// </summary>
public sealed record TrafficRow(
    string SourcePeer,
    IReadOnlyDictionary<string, string> SourceLabels,
    string DestinationPeer,
    IReadOnlyDictionary<string, string> DestinationLabels,
    string Protocol,
    int Port,
    long Flows,
    long Bytes,
    long FindingBits,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen);

/// <summary>Reads <see cref="TrafficRow"/>s through the planner (rollups where they keep what is asked), with a filter.</summary>
public sealed class PolicyTraffic(IFlowReader store, StoreRetention retention, TimeProvider? clock = null)
{
    /// <summary>The most rows one read returns (distinct group pairs × services).</summary>
    public const int MaxRows = 200_000;

    public async Task<(IReadOnlyList<TrafficRow> Rows, bool Truncated)> ReadAsync(
        DateTimeOffset from, DateTimeOffset to, IReadOnlyList<GroupKey> keys, FilterClause filter, CancellationToken cancellationToken)
    {
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        var columns = new List<string> { "src_peer", "dst_peer", "proto", "dst_port", "findings" };
        columns.AddRange(keys.SelectMany(k => k.Columns).Concat(filter.Columns));
        if (filter.NeedsRaw || keys.Any(k => k.NeedsRaw))
        {
            columns.Add("src_ip");
        }

        columns = [.. columns.Distinct(StringComparer.Ordinal)];
        var plan = QueryPlanner.Plan(from, to, columns.ToHashSet(StringComparer.Ordinal), retention, now);
        var parameters = new List<QueryParameter> { new("limit", (MaxRows + 1).ToString(CultureInfo.InvariantCulture)) };
        parameters.AddRange(keys.Where(k => k.ParameterName is not null).Select(k => new QueryParameter(k.ParameterName!, k.Name)));
        var source = FlowSource.Filtered(store.Database, plan, columns, filter, newEdges: false, TimeSpan.Zero, parameters);
        var srcKeys = keys.Count == 0 ? "''" : string.Join(", ", keys.Select(k => k.SourceExpression));
        var dstKeys = keys.Count == 0 ? "''" : string.Join(", ", keys.Select(k => k.DestinationExpression));
        var sql = $$"""
            SELECT src_peer, [{{srcKeys}}] AS s_vals, dst_peer, [{{dstKeys}}] AS d_vals,
                {{GraphQuery.ProtocolName}} AS protocol, dst_port,
                greatest(sum(opened), sum(closed)) AS flows, sum(bytes) AS bytes, groupBitOr(findings) AS finding_bits,
                toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms
            FROM
            (
            {{source}}
            )
            GROUP BY src_peer, {{srcKeys}}, dst_peer, {{dstKeys}}, proto, dst_port
            HAVING flows > 0
            ORDER BY flows DESC, src_peer, s_vals, dst_peer, d_vals, protocol, dst_port
            LIMIT {limit:UInt32}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
        var names = keys.Select(k => k.Name).ToList();
        var rows = await store.QueryAsync(sql, "JSONEachRow", span => JsonRows.Read(span, r => Row(r, names)), parameters, cancellationToken);
        return rows.Count > MaxRows ? (rows[..MaxRows], true) : (rows, false);
    }

    private static TrafficRow Row(JsonElement r, List<string> keys) => new(
        r.GetProperty("src_peer").GetString()!,
        Labels(r.GetProperty("s_vals"), keys),
        r.GetProperty("dst_peer").GetString()!,
        Labels(r.GetProperty("d_vals"), keys),
        r.GetProperty("protocol").GetString()!,
        r.GetProperty("dst_port").GetInt32(),
        r.GetProperty("flows").GetInt64(),
        r.GetProperty("bytes").GetInt64(),
        r.GetProperty("finding_bits").GetInt64(),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetProperty("first_ms").GetInt64()),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetProperty("last_ms").GetInt64()));

    private static Dictionary<string, string> Labels(JsonElement values, List<string> keys)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        foreach (var value in values.EnumerateArray())
        {
            if (i < keys.Count && value.GetString() is { Length: > 0 } text)
            {
                labels[keys[i]] = text;
            }

            i++;
        }

        return labels;
    }
}
