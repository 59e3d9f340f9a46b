using System.Globalization;
using System.Text;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Query.Planning;

/// <summary>
/// The rows a plan reads, as one SQL subquery with the same columns whatever table each segment comes from: the
/// columns the query asked for (the planner made sure every segment's table has them; <c>src_peer</c>,
/// <c>dst_peer</c> are derived where a table keeps workloads, <c>services</c> where it keeps protocol and port) and the measures
/// <c>opened, closed, attempts, bytes, packets, first_seen, last_seen</c> (<see cref="FlowSchema"/>: refused attempts
/// count in <c>attempts</c>, never in the others). Segment bounds are bound parameters.
/// <para>
/// Findings are about traffic that happened: a row of refused attempts only (<see cref="AttemptOnly"/>) reads with
/// <c>findings</c> 0, whatever ingest classified, and is never marked a new edge.
/// </para>
/// </summary>
public static class FlowSource
{
    /// <summary>
    /// Columns every graph over flows reads: the peers' classes, the service, findings, the environments, and the
    /// verdict (<see cref="AttemptOnly"/>).
    /// </summary>
    public static IReadOnlyList<string> BaseColumns { get; } = ["src_peer", "dst_peer", "services", "findings", "src_env", "dst_env", "verdict"];

    /// <summary>
    /// Whether a row of <see cref="Sql"/> holds refused attempts only (or their retransmissions): blocked, and opening
    /// or closing no connection. Every table keeps blocked and allowed rows apart, so a rollup row is one when every
    /// record summed into it is, and raw and rollup reads agree. Reads <c>verdict</c>, <c>opened</c>, <c>closed</c>.
    /// </summary>
    public const string AttemptOnly = "(verdict = 'blocked' AND opened = 0 AND closed = 0)";

    /// <summary><see cref="AttemptOnly"/> over the rows of <c>flows_raw</c> itself.</summary>
    public const string RawAttemptOnly =
        "(verdict = 'blocked' AND " + FlowSchema.OpenedExpression + " = 0 AND " + FlowSchema.ClosedExpression + " = 0)";

    /// <summary>What <see cref="WithNewEdges"/> reads.</summary>
    public static IReadOnlyList<string> EdgeKeyColumns { get; } = [.. FlowColumnTable.EdgeKeyColumns.Select(c => c.Name)];

    public static string Sql(string database, QueryPlan plan, IReadOnlyCollection<string> columns, List<QueryParameter> parameters)
    {
        var db = FlowSchema.QuoteDatabase(database);
        var sql = new StringBuilder();

        // One read per table, however many segments come from it (the range's two ends from the same finer tables):
        // each table read costs a few milliseconds however few rows it finds.
        var tables = plan.Segments.Select((segment, i) => (segment, i)).GroupBy(s => s.segment.Table).ToList();
        foreach (var table in tables)
        {
            var isRaw = table.First().segment.IsRaw;
            var ranges = new List<string>();
            foreach (var (segment, i) in table)
            {
                var from = $"seg{i}_from";
                var to = $"seg{i}_to";
                parameters.Add(new QueryParameter(from, segment.From.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
                parameters.Add(new QueryParameter(to, segment.To.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
                ranges.Add(isRaw
                    ? $"ts >= fromUnixTimestamp64Milli({{{from}:Int64}}, 'UTC') AND ts < fromUnixTimestamp64Milli({{{to}:Int64}}, 'UTC')"
                    : $"bucket >= toDateTime(intDiv({{{from}:Int64}}, 1000), 'UTC') AND bucket < toDateTime(intDiv({{{to}:Int64}}, 1000), 'UTC')");
            }

            if (sql.Length > 0)
            {
                sql.Append("\n    UNION ALL\n");
            }

            var where = ranges.Count == 1 ? ranges[0] : string.Join(" OR ", ranges.Select(r => $"({r})"));
            var rollup = FlowSchema.AllRollups.FirstOrDefault(r => r.Name == table.Key);
            var keepsPeers = rollup is { KeepsPeers: true };
            var keepsServices = rollup is { KeepsServices: true };
            var projection = string.Join(", ", columns.Select(c => c switch
            {
                "src_peer" when !keepsPeers => FlowSchema.SrcPeerExpression + " AS src_peer",
                "dst_peer" when !keepsPeers => FlowSchema.DstPeerExpression + " AS dst_peer",
                "services" when !keepsServices => FlowSchema.ServicesExpression + " AS services",
                "findings" => $"if({(isRaw ? RawAttemptOnly : AttemptOnly)}, 0, findings) AS findings",
                _ => c,
            }));
            if (isRaw)
            {
                sql.Append(CultureInfo.InvariantCulture,
                    $"    SELECT {projection}, {FlowSchema.OpenedExpression} AS opened, {FlowSchema.ClosedExpression} AS closed, {FlowSchema.AttemptsExpression} AS attempts, " +
                    $"{FlowSchema.BytesExpression} AS bytes, {FlowSchema.PacketsExpression} AS packets, ts AS first_seen, greatest(ts, end_ts) AS last_seen\n" +
                    $"    FROM {db}.{FlowSchema.FlowsTable}\n" +
                    $"    WHERE {where}");
            }
            else
            {
                sql.Append(CultureInfo.InvariantCulture,
                    $"    SELECT {projection}, opened, closed, attempts, bytes, packets, first_seen, last_seen\n" +
                    $"    FROM {db}.{table.Key}\n" +
                    $"    WHERE {where}");
            }
        }

        return sql.ToString();
    }

    /// <summary>
    /// The plan's rows, filtered; with <paramref name="newEdges"/>, <c>new_edge</c> is added to <c>findings</c> first
    /// on rows that are not <see cref="AttemptOnly"/> (workload-level edges whose first sighting is in the plan's range
    /// and after <paramref name="newEdgeBaseline"/> from the store's first one; <paramref name="columns"/> must then
    /// include <see cref="EdgeKeyColumns"/> and <c>verdict</c>).
    /// </summary>
    public static string Filtered(string database, QueryPlan plan, IReadOnlyCollection<string> columns, FilterClause filter, bool newEdges, TimeSpan newEdgeBaseline, List<QueryParameter> parameters)
    {
        var db = FlowSchema.QuoteDatabase(database);
        var source = Sql(database, plan, columns, parameters);
        parameters.AddRange(filter.Parameters);
        if (!newEdges)
        {
            return $$"""
                SELECT *
                FROM
                (
                {{source}}
                )
                WHERE {{filter.Sql}}
                """;
        }

        AddNewEdgeParameters(plan.From, plan.To, newEdgeBaseline, parameters);
        return $$"""
            SELECT *
            FROM
            (
                SELECT * REPLACE (if({{AttemptOnly}}, findings, {{WithNewEdges(db)}}) AS findings)
                FROM
                (
            {{source}}
                )
            )
            WHERE {{filter.Sql}}
            """;
    }

    /// <summary>The parameters <see cref="WithNewEdges"/> and <see cref="NewEdges"/> read.</summary>
    public static void AddNewEdgeParameters(DateTimeOffset from, DateTimeOffset to, TimeSpan baseline, List<QueryParameter> parameters)
    {
        parameters.Add(new QueryParameter("ne_from", from.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
        parameters.Add(new QueryParameter("ne_to", to.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
        parameters.Add(new QueryParameter("ne_baseline", ((long)baseline.TotalSeconds).ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// The parameters <see cref="NewEdges"/> reads: the range, and when the baseline window ends (the store's first
    /// flow plus the baseline, as the caller last read it).
    /// </summary>
    public static void AddNewEdgeLookupParameters(DateTimeOffset from, DateTimeOffset to, DateTimeOffset baselineEnd, List<QueryParameter> parameters)
    {
        parameters.Add(new QueryParameter("ne_from", Math.Max(from.ToUnixTimeMilliseconds(), baselineEnd.ToUnixTimeMilliseconds()).ToString(CultureInfo.InvariantCulture)));
        parameters.Add(new QueryParameter("ne_to", to.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// The workload-level edges first seen in <c>[ne_from, ne_to)</c> (<see cref="AddNewEdgeLookupParameters"/>:
    /// <c>ne_from</c> is already no earlier than the baseline window's end), with their ends' labels:
    /// <c>src_workload, src_kind, dst_workload, dst_kind, proto, dst_port, src_role … dst_loc, src_peer, dst_peer</c>.
    /// Only edges with a row first seen in the range can be new, so the work grows with those: none in a stable
    /// estate. The labels are read for the confirmed edges only.
    /// <para>
    /// Every subquery here is <c>GLOBAL IN</c>: on a cluster the edges table is <c>Distributed</c>, and ClickHouse
    /// refuses an <c>IN</c> over a distributed subquery inside a distributed query under the default
    /// <c>distributed_product_mode = 'deny'</c> (code 288). <c>GLOBAL</c> runs the subquery once, on the node that
    /// took the query, and sends its set to the shards; on one engine it is a plain <c>IN</c>.
    /// </para>
    /// </summary>
    public static string NewEdges(string quotedDatabase) => $$"""
        SELECT {{FlowSchema.EdgeKey}},
            {{FlowSchema.EdgeLabelsLatest}},
            {{FlowSchema.SrcPeerExpression}} AS src_peer, {{FlowSchema.DstPeerExpression}} AS dst_peer
        FROM {{quotedDatabase}}.{{FlowSchema.EdgesTable}}
        WHERE ({{FlowSchema.EdgeKey}}) GLOBAL IN
        (
            SELECT {{FlowSchema.EdgeKey}}
            FROM {{quotedDatabase}}.{{FlowSchema.EdgesTable}}
            WHERE ({{FlowSchema.EdgeKey}}) GLOBAL IN ({{Candidates(quotedDatabase)}})
            GROUP BY {{FlowSchema.EdgeKey}}
            HAVING min(first_seen) >= fromUnixTimestamp64Milli({ne_from:Int64}, 'UTC')
               AND min(first_seen) < fromUnixTimestamp64Milli({ne_to:Int64}, 'UTC')
        )
        GROUP BY {{FlowSchema.EdgeKey}}
        """;

    /// <summary>How many rows of the edges table were first seen in <c>[ne_from, ne_to)</c>: when none, no edge is new there.</summary>
    public static string NewEdgeCandidateCount(string quotedDatabase) =>
        $"SELECT count() FROM {quotedDatabase}.{FlowSchema.EdgesTable} WHERE {FirstSeenInRange}";

    private const string FirstSeenInRange =
        "first_seen >= fromUnixTimestamp64Milli({ne_from:Int64}, 'UTC') AND first_seen < fromUnixTimestamp64Milli({ne_to:Int64}, 'UTC')";

    /// <summary>
    /// Edges with a row first seen in the range: an edge whose first sighting is in the range is one of them, so the
    /// grouping that confirms it reads only these instead of every edge.
    /// </summary>
    private static string Candidates(string quotedDatabase) =>
        $"SELECT {FlowSchema.EdgeKey} FROM {quotedDatabase}.{FlowSchema.EdgesTable} WHERE {FirstSeenInRange}";

    /// <summary>
    /// <c>findings</c> with the <c>new_edge</c> bit set on rows of new edges; reads parameters <c>ne_from</c>,
    /// <c>ne_to</c> (Unix milliseconds) and <c>ne_baseline</c> (seconds). <c>GLOBAL IN</c> as in <see cref="NewEdges"/>.
    /// </summary>
    public static string WithNewEdges(string quotedDatabase) => $$"""
        bitOr(findings, if(({{FlowSchema.EdgeKey}}) GLOBAL IN
            (
                SELECT {{FlowSchema.EdgeKey}}
                FROM {{quotedDatabase}}.{{FlowSchema.EdgesTable}}
                WHERE ({{FlowSchema.EdgeKey}}) GLOBAL IN ({{Candidates(quotedDatabase)}})
                GROUP BY {{FlowSchema.EdgeKey}}
                HAVING min(first_seen) >= fromUnixTimestamp64Milli({ne_from:Int64}, 'UTC')
                   AND min(first_seen) < fromUnixTimestamp64Milli({ne_to:Int64}, 'UTC')
                   AND min(first_seen) >= (SELECT min(first_seen) FROM {{quotedDatabase}}.{{FlowSchema.EdgesTable}}) + toIntervalSecond({ne_baseline:UInt32})
            ), 8, 0))
        """;
}
