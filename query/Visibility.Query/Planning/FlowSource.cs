using System.Globalization;
using System.Text;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Query.Planning;

/// <summary>
/// The rows a plan reads, as one SQL subquery with the same columns whatever table each segment comes from: the
/// rollup dimensions (<see cref="FlowSchema.RollupDimensions"/>), the raw-only columns when the plan reads only
/// <c>flows_raw</c>, and the measures <c>opened, closed, bytes, packets, first_seen, last_seen</c>. Segment bounds
/// are bound parameters.
/// </summary>
public static class FlowSource
{
    /// <summary>Columns only <c>flows_raw</c> has, available to raw-only plans.</summary>
    public const string RawOnlyColumns = "src_ip, dst_ip, src_port, src_labels, dst_labels, conn_id";

    /// <summary>
    /// The plan's rows with <c>new_edge</c> added to <c>findings</c> (workload-level edges whose first sighting is
    /// in the plan's range and after <paramref name="newEdgeBaseline"/> from the store's first one), filtered.
    /// </summary>
    public static string Filtered(string database, QueryPlan plan, FilterClause filter, TimeSpan newEdgeBaseline, List<QueryParameter> parameters)
    {
        var db = FlowSchema.QuoteDatabase(database);
        var source = Sql(database, plan, parameters);
        parameters.Add(new QueryParameter("ne_from", plan.From.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
        parameters.Add(new QueryParameter("ne_to", plan.To.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
        parameters.Add(new QueryParameter("ne_baseline", ((long)newEdgeBaseline.TotalSeconds).ToString(CultureInfo.InvariantCulture)));
        parameters.AddRange(filter.Parameters);
        return $$"""
            SELECT *
            FROM
            (
                SELECT * REPLACE ({{WithNewEdges(db)}} AS findings)
                FROM
                (
            {{source}}
                )
            )
            WHERE {{filter.Sql}}
            """;
    }

    /// <summary>
    /// <c>findings</c> with the <c>new_edge</c> bit set on rows of new edges; reads parameters <c>ne_from</c>,
    /// <c>ne_to</c> (Unix milliseconds) and <c>ne_baseline</c> (seconds).
    /// </summary>
    public static string WithNewEdges(string quotedDatabase) => $$"""
        bitOr(findings, if(({{FlowSchema.EdgeKey}}) IN
            (
                SELECT {{FlowSchema.EdgeKey}}
                FROM {{quotedDatabase}}.{{FlowSchema.EdgesTable}}
                GROUP BY {{FlowSchema.EdgeKey}}
                HAVING min(first_seen) >= fromUnixTimestamp64Milli({ne_from:Int64}, 'UTC')
                   AND min(first_seen) < fromUnixTimestamp64Milli({ne_to:Int64}, 'UTC')
                   AND min(first_seen) >= (SELECT min(first_seen) FROM {{quotedDatabase}}.{{FlowSchema.EdgesTable}}) + toIntervalSecond({ne_baseline:UInt32})
            ), 8, 0))
        """;

    public static string Sql(string database, QueryPlan plan, List<QueryParameter> parameters)
    {
        var db = FlowSchema.QuoteDatabase(database);
        var sql = new StringBuilder();
        for (var i = 0; i < plan.Segments.Count; i++)
        {
            var segment = plan.Segments[i];
            var from = $"seg{i}_from";
            var to = $"seg{i}_to";
            parameters.Add(new QueryParameter(from, segment.From.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
            parameters.Add(new QueryParameter(to, segment.To.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
            if (i > 0)
            {
                sql.Append("\n    UNION ALL\n");
            }

            if (segment.IsRaw)
            {
                var extra = plan.RawOnly ? RawOnlyColumns + ", " : "";
                sql.Append(CultureInfo.InvariantCulture,
                    $"    SELECT {FlowSchema.RollupDimensions}, {extra}{FlowSchema.OpenedExpression} AS opened, {FlowSchema.ClosedExpression} AS closed, " +
                    $"{FlowSchema.BytesExpression} AS bytes, {FlowSchema.PacketsExpression} AS packets, ts AS first_seen, greatest(ts, end_ts) AS last_seen\n" +
                    $"    FROM {db}.{FlowSchema.FlowsTable}\n" +
                    $"    WHERE ts >= fromUnixTimestamp64Milli({{{from}:Int64}}, 'UTC') AND ts < fromUnixTimestamp64Milli({{{to}:Int64}}, 'UTC')");
            }
            else
            {
                sql.Append(CultureInfo.InvariantCulture,
                    $"    SELECT {FlowSchema.RollupDimensions}, opened, closed, bytes, packets, first_seen, last_seen\n" +
                    $"    FROM {db}.{segment.Table}\n" +
                    $"    WHERE bucket >= toDateTime(intDiv({{{from}:Int64}}, 1000), 'UTC') AND bucket < toDateTime(intDiv({{{to}:Int64}}, 1000), 'UTC')");
            }
        }

        return sql.ToString();
    }
}
