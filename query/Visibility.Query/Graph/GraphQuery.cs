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
/// window; a refused attempt is no finding (<see cref="FlowSource.AttemptOnly"/>). All values are bound parameters.
/// </summary>
public sealed class GraphQuery(IFlowReader store, StoreRetention retention, FindingRules rules, TimeProvider? clock = null)
{
    public const int MaxLimit = 100_000;

    /// <summary>Counts the inventory's workloads whose labels match a node's; null when there is no inventory.</summary>
    public Func<IReadOnlyDictionary<string, string>, int>? WorkloadCounter { get; init; }

    /// <summary>Columns of the <c>edges</c> table a filter may read when new edges are found there.</summary>
    private static readonly HashSet<string> EdgeColumns =
        FlowColumnTable.EdgeKeyColumns.Concat(FlowColumnTable.EdgeLabelColumns).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);

    // When the store's first flow was read, and when it was (null: no flow yet).
    private (DateTimeOffset ReadAt, DateTimeOffset? First)? storeStart;

    public async Task<GraphResponse> RunAsync(GraphRequest request, CancellationToken cancellationToken)
    {
        using var activity = QueryTelemetry.Source.StartActivity(QueryTelemetry.Graph);
        GraphResponse response;
        try
        {
            response = await BuildAsync(request, cancellationToken);
        }
        catch (Exception ex) when (QueryTelemetry.Failed(activity, ex))
        {
            throw;
        }

        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("visibility.group_by", string.Join(',', response.GroupBy));
            activity.SetTag("visibility.nodes", response.Nodes.Count);
            activity.SetTag("visibility.edges", response.Edges.Count);
        }

        return response;
    }

    private async Task<GraphResponse> BuildAsync(GraphRequest request, CancellationToken cancellationToken)
    {
        var now = (clock ?? TimeProvider.System).GetUtcNow();

        // New edges are marked per row in SQL when the filter reads findings or the query reads raw flows anyway;
        // otherwise they are looked up once in the edges table and marked on the graph's edges here, which keeps
        // the per-row work (and the workload columns) out of the rollup reads.
        // Split for decisions, the edges' services come from each part's protocol and port.
        var split = request.Split;
        var extra = split?.Extra ?? [];
        var rawOnly = request.RawOnly || request.Filter.NeedsRaw || request.Keys.Concat(extra).Any(k => k.NeedsRaw);
        var newEdgesInSql = rawOnly || request.Filter.ReadsFindings || !request.Filter.Columns.IsSubsetOf(EdgeColumns);
        var columns = new List<string>(split is null ? FlowSource.BaseColumns : [.. FlowSource.BaseColumns.Where(c => c != "services"), "proto", "dst_port"]);
        columns.AddRange(request.Keys.Concat(extra).SelectMany(k => k.Columns).Concat(request.Filter.Columns).Concat(newEdgesInSql ? FlowSource.EdgeKeyColumns : []));
        if (rawOnly)
        {
            columns.Add("src_ip");
        }

        var plan = QueryPlanner.Plan(request.From, request.To, columns.ToHashSet(StringComparer.Ordinal), retention, now);
        var parameters = new List<QueryParameter>
        {
            new("limit", request.Limit.ToString(CultureInfo.InvariantCulture)),
        };
        parameters.AddRange(request.Keys.Concat(extra).Where(k => k.ParameterName is not null).Select(k => new QueryParameter(k.ParameterName!, k.Name)));
        var sql = BuildSql(store.Database, plan, [.. columns.Distinct(StringComparer.Ordinal)], request.Keys, request.Filter, newEdgesInSql, rules.NewEdgeBaseline, parameters, split);
        var rows = await store.QueryAsync(sql, "JSONEachRow", ParseRows, parameters, cancellationToken);

        var nodes = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        var edges = new List<(string Source, string Target, Row Row)>(rows.Count);
        foreach (var row in rows)
        {
            edges.Add((Node(row.SourceKind, row.SourceValues, request.Keys, nodes), Node(row.TargetKind, row.TargetValues, request.Keys, nodes), row));
        }

        var fresh = newEdgesInSql || edges.Count == 0
            ? []
            : await NewEdgePairsAsync(request, plan, cancellationToken);
        var result = edges.Select(e =>
        {
            // A new edge found by the lookup brings its environment pairs for the severity, as its rows' findings
            // would have on raw flows (where new edges are marked per row).
            var newPairs = fresh.GetValueOrDefault((e.Source, e.Target));
            // The lookup knows workload-level edges, not whether this edge's rows are more than refused attempts.
            var isNew = newPairs is not null && e.Row.Traffic;
            var kinds = (FindingKind)e.Row.Findings | (isNew ? FindingKind.NewEdge : FindingKind.None);
            var findingPairs = !isNew ? e.Row.FindingPairs : [.. e.Row.FindingPairs.Union(newPairs!)];
            return new GraphEdge(
                e.Source, e.Target, e.Row.Flows, e.Row.Bytes, e.Row.Packets, e.Row.Ports, (kinds & FindingKind.CrossEnv) != 0,
                FindingKinds.Names(kinds),
                DateTimeOffset.FromUnixTimeMilliseconds(e.Row.FirstMs), DateTimeOffset.FromUnixTimeMilliseconds(e.Row.LastMs))
            {
                PortCount = e.Row.PortCount,
                Blocked = e.Row.Blocked,
                Severity = kinds == FindingKind.None ? null : Severity(kinds, findingPairs),
                Parts = e.Row.Parts,
            };
        }).ToList();

        // Fewer rows than the limit are all the edges; at the limit, the edges are counted (a window count over every
        // row would cost each query the time).
        var total = rows.Count < request.Limit
            ? rows.Count
            : await store.QueryAsync(CountSql(sql), "TabSeparated", static span => long.Parse(span, CultureInfo.InvariantCulture), parameters, cancellationToken);
        return new GraphResponse(plan.From, plan.To, request.Keys.Select(k => k.Name).ToList(),
            nodes.Values.OrderBy(n => n.Id, StringComparer.Ordinal).ToList(), result, total > result.Count)
        {
            Filter = request.Filter.Text,
            TotalEdges = total,
            Plan = plan,
        };
    }

    /// <summary>The graph's (source, target) node pairs that hold a new workload-level edge passing the filter.</summary>
    private async Task<Dictionary<(string Source, string Target), HashSet<(string Src, string Dst)>>> NewEdgePairsAsync(GraphRequest request, QueryPlan plan, CancellationToken cancellationToken)
    {
        // Nothing can be new before the baseline window has passed: the store's first flow, read at most once a minute.
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        var known = storeStart;
        if (known is null || known.Value.First is null || now - known.Value.ReadAt > TimeSpan.FromMinutes(1))
        {
            var first = await store.QueryAsync(
                $"SELECT toUnixTimestamp64Milli(min(first_seen)), count() FROM {FlowSchema.QuoteDatabase(store.Database)}.{FlowSchema.EdgesTable}",
                "TabSeparated", static span => System.Text.Encoding.UTF8.GetString(span).Trim().Split('\t'), [], cancellationToken);
            known = (now, first[1] == "0" ? null : DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(first[0], CultureInfo.InvariantCulture)));
            storeStart = known;
        }

        if (known.Value.First is not { } start || start + rules.NewEdgeBaseline >= plan.To)
        {
            return [];
        }

        // Only an edge with a row first seen in the range (and after the baseline window) can be new: usually there is
        // none, and counting those rows is a short scan of one column; the grouping that confirms them comes only after.
        var parameters = new List<QueryParameter>();
        FlowSource.AddNewEdgeLookupParameters(plan.From, plan.To, start + rules.NewEdgeBaseline, parameters);
        var db = FlowSchema.QuoteDatabase(store.Database);
        var candidates = await store.QueryAsync(
            FlowSource.NewEdgeCandidateCount(db), "TabSeparated", static span => System.Text.Encoding.UTF8.GetString(span).Trim(), parameters, cancellationToken);
        if (candidates == "0")
        {
            return [];
        }

        parameters.AddRange(request.Filter.Parameters);
        var sql = $"""
            SELECT * FROM
            (
            {FlowSource.NewEdges(db)}
            )
            WHERE {request.Filter.Sql}
            """;
        var text = await store.QueryAsync(sql, "JSONEachRow", static span => System.Text.Encoding.UTF8.GetString(span), parameters, cancellationToken);
        var pairs = new Dictionary<(string Source, string Target), HashSet<(string Src, string Dst)>>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var key = (NodeId(r, "src", request.Keys), NodeId(r, "dst", request.Keys));
            if (!pairs.TryGetValue(key, out var envs))
            {
                pairs[key] = envs = [];
            }

            envs.Add((r.GetProperty("src_env").GetString()!, r.GetProperty("dst_env").GetString()!));
        }

        return pairs;
    }

    /// <summary>The node id an edges-table row's end falls in, as <see cref="Node"/> builds it.</summary>
    private static string NodeId(JsonElement row, string side, IReadOnlyList<GroupKey> keys)
    {
        var peer = row.GetProperty($"{side}_peer").GetString()!;
        if (peer.Length > 0)
        {
            return peer;
        }

        return string.Join(",", keys.Select(k => $"{k.Name}={row.GetProperty($"{side}_{k.Name}").GetString()}"));
    }

    /// <summary>
    /// The SQL for a plan, keys and filter (bound values are added to <paramref name="parameters"/>), with each edge's
    /// parts when <paramref name="split"/> is given; exposed for golden tests.
    /// </summary>
    public static string BuildSql(
        string database, QueryPlan plan, IReadOnlyCollection<string> columns, IReadOnlyList<GroupKey> keys, FilterClause filter, bool newEdgesInSql,
        TimeSpan newEdgeBaseline, List<QueryParameter> parameters, EdgeSplit? split = null)
    {
        // One level of subquery over the tables' rows: the engine's analysis of each extra level (aliases, `SELECT *`)
        // cost tens of milliseconds per query, more than grouping the rows of a day. With new edges marked per row
        // (raw flows), the rows come filtered from FlowSource.Filtered instead.
        string source;
        var where = "";
        if (newEdgesInSql)
        {
            source = FlowSource.Filtered(database, plan, columns, filter, newEdgesInSql, newEdgeBaseline, parameters);
        }
        else
        {
            source = FlowSource.Sql(database, plan, columns, parameters);
            parameters.AddRange(filter.Parameters);
            where = filter.Sql == FilterClause.All.Sql ? "" : $"\nWHERE {filter.Sql}";
        }

        // Grouped by each key's expression (grouping by arrays is slower); a service is proto << 16 | port until the end.
        var srcKeys = string.Join(", ", keys.Select(k => k.SourceExpression));
        var dstKeys = string.Join(", ", keys.Select(k => k.DestinationExpression));
        if (split is not null)
        {
            return SplitSql(source, where, keys, split, parameters);
        }

        return $$"""
            SELECT src_peer AS s_kind, [{{srcKeys}}] AS s_vals, dst_peer AS d_kind, [{{dstKeys}}] AS d_vals,
                greatest(sum(opened), sum(closed)) AS flows, sum(attempts) AS blocked, sum(bytes) AS bytes, sum(packets) AS packets,
                max(NOT {{FlowSource.AttemptOnly}}) AS traffic,
                groupUniqArrayArray(services) AS all_services,
                arrayMap(p -> concat({{ProtocolNameOf("intDiv(p, 65536)")}}, '/', toString(p % 65536)), arraySlice(arraySort(all_services), 1, 64)) AS ports,
                length(all_services) AS port_count,
                groupBitOr(findings) AS finding_bits,
                groupUniqArrayIf(16)((src_env, dst_env), findings != 0) AS finding_pairs,
                toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms
            FROM
            (
            {{source}}
            ){{where}}
            GROUP BY src_peer, {{srcKeys}}, dst_peer, {{dstKeys}}
            ORDER BY bytes DESC, flows DESC, blocked DESC, s_kind, s_vals, d_kind, d_vals
            LIMIT {limit:UInt32}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
    }

    /// <summary>
    /// The graph's statement with each edge's parts (<see cref="EdgeSplit"/>): the rows are first summed per edge and
    /// part, then per edge, where each part becomes a tuple of <c>parts</c>. The edge's measures are those of the plain
    /// statement (its services are its parts' protocols and ports, which is what a row's <c>services</c> holds).
    /// </summary>
    private static string SplitSql(string source, string where, IReadOnlyList<GroupKey> keys, EdgeSplit split, List<QueryParameter> parameters)
    {
        var epoch = EdgeSplit.EpochOf(split.Boundaries, parameters);

        static string List(IEnumerable<string> items) => string.Join(", ", items);
        var groupBy = List(keys.Select(k => k.SourceExpression).Prepend("src_peer").Append("dst_peer").Concat(keys.Select(k => k.DestinationExpression))
            .Concat(split.Extra.Select(k => k.SourceExpression)).Concat(split.Extra.Select(k => k.DestinationExpression)));
        return $$"""
            SELECT s_kind, s_vals, d_kind, d_vals,
                greatest(sum(p_opened), sum(p_closed)) AS flows, sum(p_attempts) AS blocked, max(p_traffic) AS traffic,
                sum(p_bytes) AS bytes, sum(p_packets) AS packets,
                groupUniqArray(toUInt32(proto) * 65536 + dst_port) AS all_services,
                arrayMap(p -> concat({{ProtocolNameOf("intDiv(p, 65536)")}}, '/', toString(p % 65536)), arraySlice(arraySort(all_services), 1, 64)) AS ports,
                length(all_services) AS port_count,
                groupBitOr(p_findings) AS finding_bits,
                groupUniqArrayArray(16)(p_pairs) AS finding_pairs,
                toUnixTimestamp64Milli(min(p_first)) AS first_ms, toUnixTimestamp64Milli(max(p_last)) AS last_ms,
                groupArray((proto, {{ProtocolName}}, dst_port, verdict = 'blocked', epoch, s_extra, d_extra, greatest(p_opened, p_closed), p_attempts)) AS parts
            FROM
            (
                SELECT src_peer AS s_kind, [{{List(keys.Select(k => k.SourceExpression))}}] AS s_vals,
                    dst_peer AS d_kind, [{{List(keys.Select(k => k.DestinationExpression))}}] AS d_vals,
                    proto, dst_port, verdict, {{epoch}} AS epoch,
                    [{{List(split.Extra.Select(k => k.SourceExpression))}}] AS s_extra, [{{List(split.Extra.Select(k => k.DestinationExpression))}}] AS d_extra,
                    sum(opened) AS p_opened, sum(closed) AS p_closed, sum(attempts) AS p_attempts, max(NOT {{FlowSource.AttemptOnly}}) AS p_traffic,
                    sum(bytes) AS p_bytes, sum(packets) AS p_packets,
                    groupBitOr(findings) AS p_findings, groupUniqArrayIf(16)((src_env, dst_env), findings != 0) AS p_pairs,
                    min(first_seen) AS p_first, max(last_seen) AS p_last
                FROM
                (
                {{source}}
                ){{where}}
                GROUP BY {{groupBy}}, proto, dst_port, verdict, epoch
            )
            GROUP BY s_kind, s_vals, d_kind, d_vals
            ORDER BY bytes DESC, flows DESC, blocked DESC, s_kind, s_vals, d_kind, d_vals
            LIMIT {limit:UInt32}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
    }

    /// <summary>The number of edges <paramref name="graphSql"/> (from <see cref="BuildSql"/>) finds, without its limit.</summary>
    private static string CountSql(string graphSql)
    {
        var end = graphSql.LastIndexOf("\nORDER BY ", StringComparison.Ordinal);
        return $"SELECT count() FROM\n(\n{graphSql[..end]}\n)";
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

    /// <summary>
    /// The id of the node a group of rows falls in: for a peer without a workload (<paramref name="peer"/> not empty)
    /// its class, with its address when grouping by address (<c>internet:203.0.113.7</c>); for workloads the grouped
    /// values (<c>app=db,env=prod</c>). Readers grouping by more keys than the graph (policy decisions) place their
    /// rows on the graph's nodes with it.
    /// </summary>
    public static string NodeId(string peer, IReadOnlyList<string> values, IReadOnlyList<GroupKey> keys)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(keys);
        if (peer.Length > 0)
        {
            var addressIndex = keys.ToList().FindIndex(k => k.Name == "address");
            return addressIndex >= 0 ? $"{peer}:{values[addressIndex]}" : peer;
        }

        var sb = new StringBuilder();
        for (var i = 0; i < keys.Count; i++)
        {
            sb.Append(i == 0 ? "" : ",").Append(keys[i].Name).Append('=').Append(values[i]);
        }

        return sb.ToString();
    }

    private string Node(string kind, IReadOnlyList<string> values, IReadOnlyList<GroupKey> keys, Dictionary<string, GraphNode> nodes)
    {
        var id = NodeId(kind, values, keys);
        Dictionary<string, string> labels;
        if (kind.Length > 0)
        {
            // A peer without a workload: its class, and its address when grouping by address.
            labels = new Dictionary<string, string>(StringComparer.Ordinal) { ["kind"] = kind };
            var addressIndex = keys.ToList().FindIndex(k => k.Name == "address");
            if (addressIndex >= 0)
            {
                labels["address"] = values[addressIndex];
            }
        }
        else
        {
            labels = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < keys.Count; i++)
            {
                labels[keys[i].Name] = values[i];
            }

            kind = "workload";
        }

        if (!nodes.ContainsKey(id))
        {
            nodes[id] = NodeFor(id, kind, labels);
        }

        return id;
    }

    private static List<Row> ParseRows(ReadOnlySpan<byte> output) => JsonRows.Read(output, r => new Row(
                r.GetProperty("s_kind").GetString()!,
                Strings(r.GetProperty("s_vals")),
                r.GetProperty("d_kind").GetString()!,
                Strings(r.GetProperty("d_vals")),
                r.GetProperty("flows").GetInt64(),
                r.GetProperty("blocked").GetInt64(),
                r.GetProperty("traffic").GetInt32() != 0,
                r.GetProperty("bytes").GetInt64(),
                r.GetProperty("packets").GetInt64(),
                Strings(r.GetProperty("ports")),
                r.GetProperty("port_count").GetInt64(),
                r.GetProperty("finding_bits").GetInt32(),
                [.. r.GetProperty("finding_pairs").EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!))],
                r.GetProperty("first_ms").GetInt64(),
                r.GetProperty("last_ms").GetInt64(),
                r.TryGetProperty("parts", out var parts) ? [.. parts.EnumerateArray().Select(Part)] : null));

    private static EdgePart Part(JsonElement p) => new(
        p[0].GetInt32(), p[1].GetString()!, p[2].GetInt32(), p[3].ValueKind == JsonValueKind.True || (p[3].ValueKind == JsonValueKind.Number && p[3].GetInt32() != 0),
        p[4].GetInt32(), Strings(p[5]), Strings(p[6]), p[7].GetInt64(), p[8].GetInt64());

    private static List<string> Strings(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetString()!)];

    private sealed record Row(
        string SourceKind, IReadOnlyList<string> SourceValues, string TargetKind, IReadOnlyList<string> TargetValues,
        long Flows, long Blocked, bool Traffic, long Bytes, long Packets, IReadOnlyList<string> Ports, long PortCount, int Findings,
        IReadOnlyList<(string Src, string Dst)> FindingPairs, long FirstMs, long LastMs, IReadOnlyList<EdgePart>? Parts);
}
