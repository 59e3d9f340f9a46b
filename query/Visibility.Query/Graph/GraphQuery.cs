using System.Globalization;
using System.Text;
using System.Text.Json;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Query.Graph;

/// <summary>
/// Builds the dependency graph from raw flows. Records are first folded per connection (a NEW and a DESTROY
/// record of one connection become one connection with its final counters; records with delta counters add
/// up), then grouped by the requested keys on each end. All values are bound parameters.
/// </summary>
public sealed class GraphQuery(IFlowStore store)
{
    public const int MaxLimit = 100_000;

    public async Task<GraphResponse> RunAsync(GraphRequest request, IReadOnlyList<GroupKey> keys, CancellationToken cancellationToken)
    {
        var parameters = new List<QueryParameter>
        {
            new("from", request.From.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
            new("to", request.To.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
            new("limit", (request.Limit + 1).ToString(CultureInfo.InvariantCulture)),
        };
        parameters.AddRange(keys.Where(k => k.ParameterName is not null).Select(k => new QueryParameter(k.ParameterName!, k.Name)));

        var sql = BuildSql(store.Database, keys);
        var rows = await store.QueryAsync(sql, "JSONEachRow", ParseRows, parameters, cancellationToken);
        var truncated = rows.Count > request.Limit;
        if (truncated)
        {
            rows.RemoveAt(rows.Count - 1);
        }

        var nodes = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        var edges = new List<GraphEdge>(rows.Count);
        foreach (var row in rows)
        {
            var source = Node(row.SourceKind, row.SourceValues, keys, nodes);
            var target = Node(row.TargetKind, row.TargetValues, keys, nodes);
            edges.Add(new GraphEdge(
                source, target, row.Flows, row.Bytes, row.Packets, row.Ports, row.CrossFlows > 0,
                row.CrossFlows > 0 ? ["cross_env"] : [],
                DateTimeOffset.FromUnixTimeMilliseconds(row.FirstMs), DateTimeOffset.FromUnixTimeMilliseconds(row.LastMs)));
        }

        return new GraphResponse(request.From, request.To, keys.Select(k => k.Name).ToList(),
            nodes.Values.OrderBy(n => n.Id, StringComparer.Ordinal).ToList(), edges, truncated);
    }

    /// <summary>The SQL for <paramref name="keys"/>; exposed for golden tests.</summary>
    public static string BuildSql(string database, IReadOnlyList<GroupKey> keys)
    {
        var table = $"{FlowSchema.QuoteDatabase(database)}.{FlowSchema.FlowsTable}";
        var srcValues = string.Join(", ", keys.Select(k => k.SourceExpression));
        var dstValues = string.Join(", ", keys.Select(k => k.DestinationExpression));
        return $"""
            SELECT s_kind, s_vals, d_kind, d_vals,
                sum(conn_count) AS flows, sum(conn_bytes) AS bytes, sum(conn_packets) AS packets,
                arraySort(groupUniqArray(64)(port)) AS ports,
                countIf(cross_env) AS cross_flows,
                toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms
            FROM
            (
                SELECT conn_id,
                    max(connections) AS conn_count,
                    any(if(src_workload = '', src_kind, '')) AS s_kind,
                    any([{srcValues}]) AS s_vals,
                    any(if(dst_workload = '', dst_kind, '')) AS d_kind,
                    any([{dstValues}]) AS d_vals,
                    if(max(counters_delta) = 1, sum(bytes_out + bytes_in), max(bytes_out + bytes_in)) AS conn_bytes,
                    if(max(counters_delta) = 1, sum(packets_out + packets_in), max(packets_out + packets_in)) AS conn_packets,
                    any(concat(multiIf(proto = 6, 'tcp', proto = 17, 'udp', proto = 1, 'icmp', proto = 58, 'icmpv6', toString(proto)), '/', toString(dst_port))) AS port,
                    any(src_env != '' AND dst_env != '' AND src_env != dst_env) AS cross_env,
                    min(ts) AS first_seen,
                    max(greatest(ts, end_ts)) AS last_seen
                FROM {table}
                WHERE ts >= fromUnixTimestamp64Milli({"{from:Int64}"}, 'UTC') AND ts < fromUnixTimestamp64Milli({"{to:Int64}"}, 'UTC')
                GROUP BY conn_id
            )
            GROUP BY s_kind, s_vals, d_kind, d_vals
            ORDER BY bytes DESC, flows DESC
            LIMIT {"{limit:UInt32}"}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
    }

    private static string Node(string kind, IReadOnlyList<string> values, IReadOnlyList<GroupKey> keys, Dictionary<string, GraphNode> nodes)
    {
        string id;
        Dictionary<string, string> labels;
        if (kind.Length > 0)
        {
            // A peer without a workload: its class, and its address when grouping by address.
            labels = new Dictionary<string, string>(StringComparer.Ordinal) { ["kind"] = kind };
            var addressIndex = keys.ToList().FindIndex(k => k.Name == "address");
            id = kind;
            if (addressIndex >= 0)
            {
                labels["address"] = values[addressIndex];
                id = $"{kind}:{values[addressIndex]}";
            }
        }
        else
        {
            labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var sb = new StringBuilder();
            for (var i = 0; i < keys.Count; i++)
            {
                labels[keys[i].Name] = values[i];
                sb.Append(i == 0 ? "" : ",").Append(keys[i].Name).Append('=').Append(values[i]);
            }

            id = sb.ToString();
            kind = "workload";
        }

        nodes.TryAdd(id, new GraphNode(id, kind, labels));
        return id;
    }

    private static List<Row> ParseRows(ReadOnlySpan<byte> output)
    {
        var rows = new List<Row>();
        while (!output.IsEmpty)
        {
            var end = output.IndexOf((byte)'\n');
            var line = end < 0 ? output : output[..end];
            output = end < 0 ? [] : output[(end + 1)..];
            if (line.IsEmpty)
            {
                continue;
            }

            var reader = new Utf8JsonReader(line);
            using var doc = JsonDocument.ParseValue(ref reader);
            var r = doc.RootElement;
            rows.Add(new Row(
                r.GetProperty("s_kind").GetString()!,
                r.GetProperty("s_vals").EnumerateArray().Select(v => v.GetString()!).ToList(),
                r.GetProperty("d_kind").GetString()!,
                r.GetProperty("d_vals").EnumerateArray().Select(v => v.GetString()!).ToList(),
                r.GetProperty("flows").GetInt64(),
                r.GetProperty("bytes").GetInt64(),
                r.GetProperty("packets").GetInt64(),
                r.GetProperty("ports").EnumerateArray().Select(v => v.GetString()!).ToList(),
                r.GetProperty("cross_flows").GetInt64(),
                r.GetProperty("first_ms").GetInt64(),
                r.GetProperty("last_ms").GetInt64()));
        }

        return rows;
    }

    private sealed record Row(
        string SourceKind, IReadOnlyList<string> SourceValues, string TargetKind, IReadOnlyList<string> TargetValues,
        long Flows, long Bytes, long Packets, IReadOnlyList<string> Ports, long CrossFlows, long FirstMs, long LastMs);
}
