using System.Globalization;
using System.Text;
using System.Text.Json;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Planning;

namespace Visibility.Query.Graph;

/// <summary>
/// Builds the dependency graph. The planner picks the tables (rollups where they can answer, raw flows for
/// addresses and free-form labels); rows are grouped by the requested keys on each end, filtered, and summed
/// (see <see cref="FlowSchema"/> for what the measures count). Edges carry their findings: the per-flow kinds
/// stored at ingest plus <c>new_edge</c> for workload-level edges first seen in the range after the baseline
/// window. All values are bound parameters.
/// </summary>
public sealed class GraphQuery(IFlowStore store, StoreRetention retention, FindingRules rules, TimeProvider? clock = null)
{
    public const int MaxLimit = 100_000;

    /// <summary>Counts the inventory's workloads whose labels match a node's; null when there is no inventory.</summary>
    public Func<IReadOnlyDictionary<string, string>, int>? WorkloadCounter { get; init; }

    public async Task<GraphResponse> RunAsync(GraphRequest request, CancellationToken cancellationToken)
    {
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        var needsRaw = request.RawOnly || request.Filter.NeedsRaw || request.Keys.Any(k => k.NeedsRaw);
        var plan = QueryPlanner.Plan(request.From, request.To, needsRaw, retention, now);
        var parameters = new List<QueryParameter>
        {
            new("limit", request.Limit.ToString(CultureInfo.InvariantCulture)),
        };
        parameters.AddRange(request.Keys.Where(k => k.ParameterName is not null).Select(k => new QueryParameter(k.ParameterName!, k.Name)));
        var sql = BuildSql(store.Database, plan, request.Keys, request.Filter, rules.NewEdgeBaseline, parameters);
        var rows = await store.QueryAsync(sql, "JSONEachRow", ParseRows, parameters, cancellationToken);

        var nodes = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        var edges = new List<GraphEdge>(rows.Count);
        foreach (var row in rows)
        {
            var source = Node(row.SourceKind, row.SourceValues, request.Keys, nodes);
            var target = Node(row.TargetKind, row.TargetValues, request.Keys, nodes);
            var kinds = (FindingKind)row.Findings;
            edges.Add(new GraphEdge(
                source, target, row.Flows, row.Bytes, row.Packets, row.Ports, (kinds & FindingKind.CrossEnv) != 0,
                FindingKinds.Names(kinds),
                DateTimeOffset.FromUnixTimeMilliseconds(row.FirstMs), DateTimeOffset.FromUnixTimeMilliseconds(row.LastMs))
            {
                PortCount = row.PortCount,
                Severity = kinds == FindingKind.None ? null : Severity(kinds, row.FindingPairs),
            });
        }

        var total = rows.Count > 0 ? rows[0].TotalEdges : 0;
        return new GraphResponse(plan.From, plan.To, request.Keys.Select(k => k.Name).ToList(),
            nodes.Values.OrderBy(n => n.Id, StringComparer.Ordinal).ToList(), edges, total > edges.Count)
        {
            Filter = request.Filter.Text,
            TotalEdges = total,
            Plan = plan,
        };
    }

    /// <summary>The SQL for a plan, keys and filter (bound values are added to <paramref name="parameters"/>); exposed for golden tests.</summary>
    public static string BuildSql(string database, QueryPlan plan, IReadOnlyList<GroupKey> keys, FilterClause filter, TimeSpan newEdgeBaseline, List<QueryParameter> parameters)
    {
        var source = FlowSource.Filtered(database, plan, filter, newEdgeBaseline, parameters);
        // Each key is a column of its own (grouping by arrays is slower); a port is proto << 16 | port until the end.
        var srcColumns = string.Join(", ", keys.Select((k, i) => $"{k.SourceExpression} AS s{i}"));
        var dstColumns = string.Join(", ", keys.Select((k, i) => $"{k.DestinationExpression} AS d{i}"));
        var srcNames = string.Join(", ", keys.Select((_, i) => $"s{i}"));
        var dstNames = string.Join(", ", keys.Select((_, i) => $"d{i}"));
        return $$"""
            SELECT s_kind, [{{srcNames}}] AS s_vals, d_kind, [{{dstNames}}] AS d_vals,
                greatest(sum(opened), sum(closed)) AS flows, sum(bytes) AS bytes, sum(packets) AS packets,
                arrayMap(p -> concat({{ProtocolNameOf("intDiv(p, 65536)")}}, '/', toString(p % 65536)), arraySort(groupUniqArray(64)(service))) AS ports,
                uniqExact(service) AS port_count,
                groupBitOr(findings) AS finding_bits,
                groupUniqArrayIf(16)((src_env, dst_env), findings != 0) AS finding_pairs,
                toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms,
                count() OVER () AS total_edges
            FROM
            (
                SELECT if(src_workload = '', src_kind, '') AS s_kind, {{srcColumns}},
                    if(dst_workload = '', dst_kind, '') AS d_kind, {{dstColumns}},
                    toUInt32(proto) * 65536 + dst_port AS service,
                    opened, closed, bytes, packets, findings, src_env, dst_env, first_seen, last_seen
                FROM
                (
            {{source}}
                )
            )
            GROUP BY s_kind, {{srcNames}}, d_kind, {{dstNames}}
            ORDER BY bytes DESC, flows DESC, s_kind, s_vals, d_kind, d_vals
            LIMIT {limit:UInt32}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
    }

    /// <summary>The protocol's name for a protocol number expression (the number when it has none here).</summary>
    public static string ProtocolNameOf(string expression) =>
        $"multiIf({expression} = 6, 'tcp', {expression} = 17, 'udp', {expression} = 1, 'icmp', {expression} = 58, 'icmpv6', {expression} = 132, 'sctp', toString({expression}))";

    /// <summary>The protocol's name for <c>proto</c> (its number when it has none here).</summary>
    public const string ProtocolName =
        "multiIf(proto = 6, 'tcp', proto = 17, 'udp', proto = 1, 'icmp', proto = 58, 'icmpv6', proto = 132, 'sctp', toString(proto))";

    private string Severity(FindingKind kinds, IReadOnlyList<(string Src, string Dst)> pairs)
    {
        var levels = new List<string>();
        foreach (var (kind, _) in FindingKinds.All)
        {
            if ((kinds & kind) == 0)
            {
                continue;
            }

            if (pairs.Count == 0)
            {
                levels.Add(rules.Severity(kind, "", ""));
            }

            levels.AddRange(pairs.Select(p => rules.Severity(kind, p.Src, p.Dst)));
        }

        return FindingRules.Highest(levels);
    }

    private GraphNode NodeFor(string id, string kind, Dictionary<string, string> labels) =>
        new(id, kind, labels) { Workloads = kind == "workload" && WorkloadCounter is { } count ? count(labels) : null };

    private string Node(string kind, IReadOnlyList<string> values, IReadOnlyList<GroupKey> keys, Dictionary<string, GraphNode> nodes)
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

        if (!nodes.ContainsKey(id))
        {
            nodes[id] = NodeFor(id, kind, labels);
        }

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
                Strings(r.GetProperty("s_vals")),
                r.GetProperty("d_kind").GetString()!,
                Strings(r.GetProperty("d_vals")),
                r.GetProperty("flows").GetInt64(),
                r.GetProperty("bytes").GetInt64(),
                r.GetProperty("packets").GetInt64(),
                Strings(r.GetProperty("ports")),
                r.GetProperty("port_count").GetInt64(),
                r.GetProperty("finding_bits").GetInt32(),
                [.. r.GetProperty("finding_pairs").EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!))],
                r.GetProperty("first_ms").GetInt64(),
                r.GetProperty("last_ms").GetInt64(),
                r.GetProperty("total_edges").GetInt64()));
        }

        return rows;
    }

    private static List<string> Strings(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetString()!)];

    private sealed record Row(
        string SourceKind, IReadOnlyList<string> SourceValues, string TargetKind, IReadOnlyList<string> TargetValues,
        long Flows, long Bytes, long Packets, IReadOnlyList<string> Ports, long PortCount, int Findings,
        IReadOnlyList<(string Src, string Dst)> FindingPairs, long FirstMs, long LastMs, long TotalEdges);
}
