using System.Globalization;

namespace Visibility.Flows.Store;

/// <summary>
/// Rollups: flows summed per time bucket (1 minute, 5 minutes, 1 hour) without addresses, source ports and
/// free-form label maps, kept by materialized views (raw → 1 min → 5 min → 1 h, each reading the block the one
/// before inserted), and <c>edges</c>: when each workload-level edge was first and last seen, for new-edge findings.
/// <para>
/// Every measure is a sum over records, so any time range can be answered from any mix of tables and the answer
/// is the same (<see cref="RecordMeasures"/> defines them once for the views and for reads of the raw table):
/// <c>opened</c> counts the connections a record opens (NEW events), <c>closed</c> those it closes (DESTROY, or a
/// record with no event), and a range's <c>flows</c> is the greater of the two sums: a connection seen opening and
/// closing counts once, and so does one seen only opening or only closing. Running-total counters (conntrack) count
/// on the record that closes the connection, delta counters (Hubble, flow-log windows) on every record.
/// </para>
/// </summary>
public static partial class FlowSchema
{
    public const string EdgesTable = "edges";

    // Declared before the rollup tables, whose initializers read them (static initializers run in textual order).
    /// <summary>
    /// The dimensions of <see cref="AppRollups"/>. <c>src_peer</c>/<c>dst_peer</c> are the class of an end without a
    /// workload (<c>unknown</c>, <c>internet</c>, a named network) and empty for workloads; other tables derive them,
    /// and <c>services</c> too (a one-element set per row).
    /// </summary>
    public static string AppDimensions { get; } = FlowColumnTable.Names(FlowColumnTable.AppDimensions);

    /// <summary>A row's service set where a table keeps protocol and port.</summary>
    public static string ServicesExpression { get; } = FlowColumnTable.ByName["services"].Expression!;

    /// <summary>An end's peer class, derived on tables that keep workloads.</summary>
    public static string SrcPeerExpression { get; } = FlowColumnTable.ByName["src_peer"].Expression!;

    /// <inheritdoc cref="SrcPeerExpression"/>
    public static string DstPeerExpression { get; } = FlowColumnTable.ByName["dst_peer"].Expression!;

    /// <summary>The columns a rollup row is keyed by (besides its bucket), all present in the raw table too.</summary>
    public static string RollupDimensions { get; } = FlowColumnTable.Names(FlowColumnTable.RollupDimensions);

    /// <summary>The workload-level edge key of <see cref="EdgesTable"/>.</summary>
    public static string EdgeKey { get; } = FlowColumnTable.Names(FlowColumnTable.EdgeKeyColumns);

    /// <summary>The workload-level rollup tables, finest first.</summary>
    public static IReadOnlyList<RollupTable> Rollups { get; } =
    [
        new("flows_1m", TimeSpan.FromMinutes(1), "toStartOfMinute", "toDate", RollupDimensions),
        new("flows_5m", TimeSpan.FromMinutes(5), "toStartOfFiveMinutes", "toDate", RollupDimensions),
        new("flows_1h", TimeSpan.FromHours(1), "toStartOfHour", "toYYYYMM", RollupDimensions),
    ];

    /// <summary>
    /// The app × env rollups: per 5 minutes and per hour, only each end's app and environment (and, for peers without
    /// a workload, their class), findings, and the set of services seen (<c>services</c>: proto &lt;&lt; 16 | port,
    /// an exact set, not a key) — the default map, from tables many times smaller than the workload-level ones.
    /// The 5-minute table is fed from <c>flows_1m</c>'s inserts, the hourly one from <c>flows_5m</c>'s.
    /// </summary>
    public static IReadOnlyList<RollupTable> AppRollups { get; } =
    [
        new("flows_app_5m", TimeSpan.FromMinutes(5), "toStartOfFiveMinutes", "toDate", AppDimensions),
        new("flows_app_1h", TimeSpan.FromHours(1), "toStartOfHour", "toYYYYMM", AppDimensions),
    ];

    /// <summary>
    /// The app × env rollup per 6 hours (00:00, 06:00, 12:00, 18:00 UTC; migration 9), fed from <c>flows_app_1h</c>'s
    /// inserts: a day or a week is read mostly from it, and only the hours at the range's ends from the hourly table.
    /// It keeps rows as long as the hourly tables do. Its buckets are <c>toStartOfInterval(bucket, toIntervalHour(6))</c>.
    /// </summary>
    public static RollupTable AppSixHours { get; } = new("flows_app_6h", TimeSpan.FromHours(6), "toStartOfInterval", "toYYYYMM", AppDimensions);

    /// <summary>Every rollup table, the planner's candidates: at the same granularity, later ones are smaller.</summary>
    public static IReadOnlyList<RollupTable> AllRollups { get; } = [.. Rollups, .. AppRollups, AppSixHours];

    /// <summary>Connections a raw record opens: NEW events.</summary>
    public const string OpenedExpression = "if(event = 1, connections, 0)";

    /// <summary>Connections a raw record closes: DESTROY events and records with no event.</summary>
    public const string ClosedExpression = "if(event IN (0, 4), connections, 0)";

    /// <summary>Bytes a raw record adds: all of a delta record's, a running total only on the closing record.</summary>
    public const string BytesExpression = "if(counters_delta = 1 OR event IN (0, 4), bytes_out + bytes_in, 0)";

    /// <summary>Packets a raw record adds, as <see cref="BytesExpression"/>.</summary>
    public const string PacketsExpression = "if(counters_delta = 1 OR event IN (0, 4), packets_out + packets_in, 0)";

    /// <summary>
    /// The aggregates of raw records as the rollup views and raw-table reads compute them:
    /// <c>opened, closed, bytes, packets, first_seen, last_seen</c>.
    /// </summary>
    public const string RawAggregates =
        "sum(" + OpenedExpression + ") AS opened, sum(" + ClosedExpression + ") AS closed, " +
        "sum(" + BytesExpression + ") AS bytes, sum(" + PacketsExpression + ") AS packets, " +
        "min(ts) AS first_seen, max(greatest(ts, end_ts)) AS last_seen";

    /// <summary>The same aggregates over rollup rows.</summary>
    public const string RollupAggregates =
        "sum(opened) AS opened, sum(closed) AS closed, sum(bytes) AS bytes, sum(packets) AS packets, " +
        "min(first_seen) AS first_seen, max(last_seen) AS last_seen";

    private static string RollupTableDdl(string db, RollupTable rollup, TimeSpan retention) => $"""
        CREATE TABLE IF NOT EXISTS {db}.{rollup.Name}
        (
            bucket DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
            {FlowColumnTable.Declarations(FlowColumnTable.RollupDimensions, c => c.DimensionDdl)},
            {MeasureColumns}
        )
        ENGINE = AggregatingMergeTree
        PARTITION BY {rollup.PartitionFunction}(bucket)
        ORDER BY (bucket, src_env, dst_env, src_app, dst_app, src_role, dst_role, src_loc, dst_loc, src_workload, dst_workload, src_kind, dst_kind, proto, dst_port, findings)
        TTL bucket + toIntervalSecond({Seconds(retention)})
        """;

    private static string RollupSelect(string source, RollupTable rollup, bool fromRaw) => $"""
        SELECT {rollup.BucketFunction}({(fromRaw ? "ts" : "bucket")}) AS bucket, {RollupDimensions},
            {(fromRaw ? RawAggregates : RollupAggregates)}
        FROM {source}
        GROUP BY bucket, {RollupDimensions}
        """;

    /// <summary>
    /// The latest value of each label <see cref="EdgesTable"/> keeps beside its key, under the column's name:
    /// <c>anyLast(src_role) AS src_role, …</c>, one line per end.
    /// </summary>
    public static string EdgeLabelsLatest { get; } = string.Join(",\n    ",
        FlowColumnTable.EdgeLabelColumns.GroupBy(c => c.Side).Select(end => string.Join(", ", end.Select(c => $"anyLast({c.Name}) AS {c.Name}"))));

    private static string EdgesTableDdl(string db) => $"""
        CREATE TABLE IF NOT EXISTS {db}.{EdgesTable}
        (
            {FlowColumnTable.Declarations(FlowColumnTable.EdgeKeyColumns, c => c.DimensionDdl)},
            {FlowColumnTable.Declarations(FlowColumnTable.EdgeLabelColumns, c => $"{c.Name} SimpleAggregateFunction(anyLast, {c.Type})")},
            first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
            last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
        )
        ENGINE = AggregatingMergeTree
        ORDER BY ({EdgeKey})
        """;

    private static string EdgesSelect(string source) => $"""
        SELECT {EdgeKey},
            {EdgeLabelsLatest},
            min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM {source}
        GROUP BY {EdgeKey}
        """;

    /// <summary>
    /// Migration 7's statements: the findings column, the rollup tables and <c>edges</c>, the views that keep them,
    /// then a backfill of the rows already stored (<see cref="Refill"/>).
    /// </summary>
    private static List<string> RollupMigration(string db, StoreRetention retention)
    {
        var statements = new List<string>
        {
            $"ALTER TABLE {db}.{FlowsTable} ADD COLUMN IF NOT EXISTS findings UInt8 DEFAULT 0 AFTER kafka_topic",
        };
        statements.AddRange(Rollups.Select(r => RollupTableDdl(db, r, retention.For(r))));
        statements.Add(EdgesTableDdl(db));

        // Coarser tables are fed from the block the finer one just inserted; edges from the minute table.
        for (var i = 1; i < Rollups.Count; i++)
        {
            statements.Add($"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{Rollups[i].Name}_mv TO {db}.{Rollups[i].Name} AS\n" +
                RollupSelect($"{db}.{Rollups[i - 1].Name}", Rollups[i], fromRaw: false));
        }

        statements.Add($"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{EdgesTable}_mv TO {db}.{EdgesTable} AS\n" + EdgesSelect($"{db}.{Rollups[0].Name}"));
        statements.Add($"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{Rollups[0].Name}_mv TO {db}.{Rollups[0].Name} AS\n" +
            RollupSelect($"{db}.{FlowsTable}", Rollups[0], fromRaw: true));
        statements.AddRange(Refill(db, [.. Rollups.Select(r => r.Name), EdgesTable],
            [$"INSERT INTO {db}.{Rollups[0].Name}\n" + RollupSelect($"{db}.{FlowsTable}", Rollups[0], fromRaw: true)]));
        return statements;
    }

    /// <summary>
    /// A backfill that can run again and misses nothing: it comes after the views that keep <paramref name="tables"/>
    /// exist (a row stored from then on reaches them through the views), empties the tables (the migration created
    /// them, so they hold only what a backfill or the views derived from rows still in the source) and fills them
    /// again from the rows stored (<paramref name="inserts"/>, whose blocks the views carry on to the coarser tables).
    /// Run twice, after a crash before the version was recorded, it leaves the same rows. A row stored by a process
    /// still ingesting between the emptying and the fill's read would count twice: processes of this release wait
    /// for the schema and do not ingest meanwhile (README, "Upgrading").
    /// </summary>
    private static IEnumerable<string> Refill(string db, IEnumerable<string> tables, IEnumerable<string> inserts) =>
        [.. tables.Select(t => $"TRUNCATE TABLE {db}.{t}"), .. inserts];

    /// <summary>
    /// Migration 8: the app × env rollups, kept from the inserts into <c>flows_1m</c> and <c>flows_5m</c>, then
    /// filled (<see cref="Refill"/>) from <c>flows_5m</c> and <c>flows_1h</c>, which hold every row at the same bucket size.
    /// </summary>
    private static List<string> AppRollupMigration(string db, StoreRetention retention)
    {
        var statements = new List<string>();
        var fills = new List<string>();
        for (var i = 0; i < AppRollups.Count; i++)
        {
            var app = AppRollups[i];
            var feeds = Rollups[i]; // flows_1m feeds the 5-minute table, flows_5m the hourly one
            var fill = Rollups[i + 1]; // filled from the rows already stored at the same bucket size
            var select = $"""
                SELECT {app.BucketFunction}(bucket) AS bucket, {string.Join(", ", AppKeys.Select(c => c.Expression is null ? c.Name : $"{c.Expression} AS {c.Name}"))},
                    groupUniqArray(toUInt32(proto) * 65536 + dst_port) AS services,
                    {RollupAggregates}
                FROM @source
                GROUP BY bucket, {FlowColumnTable.Names(AppKeys)}
                """;
            statements.Add(AppTableDdl(db, app, retention));
            statements.Add($"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{app.Name}_mv TO {db}.{app.Name} AS\n" +
                select.Replace("@source", $"{db}.{feeds.Name}", StringComparison.Ordinal));
            fills.Add($"INSERT INTO {db}.{app.Name}\n" + select.Replace("@source", $"{db}.{fill.Name}", StringComparison.Ordinal));
        }

        statements.AddRange(Refill(db, AppRollups.Select(a => a.Name), fills));
        return statements;
    }

    /// <summary>The app × env dimensions a row is grouped by: all but the merged service sets.</summary>
    private static IEnumerable<FlowColumn> AppKeys => FlowColumnTable.AppDimensions.Where(c => c.Aggregate is null);

    /// <summary>The summed measures every rollup table keeps (see <see cref="RollupAggregates"/>).</summary>
    private const string MeasureColumns = """
        opened SimpleAggregateFunction(sum, UInt64),
            closed SimpleAggregateFunction(sum, UInt64),
            bytes SimpleAggregateFunction(sum, UInt64),
            packets SimpleAggregateFunction(sum, UInt64),
            first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
            last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
        """;

    /// <summary>An app × env rollup table: both ends' app, env and peer class, findings, the services seen, the sums.</summary>
    private static string AppTableDdl(string db, RollupTable table, StoreRetention retention) =>
        $"""
        CREATE TABLE IF NOT EXISTS {db}.{table.Name}
        (
            bucket DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
            {FlowColumnTable.Declarations(FlowColumnTable.AppDimensions, c => c.DimensionDdl)},
            {MeasureColumns}
        )
        ENGINE = AggregatingMergeTree
        PARTITION BY {table.PartitionFunction}(bucket)
        ORDER BY (bucket, src_env, dst_env, src_app, dst_app, src_peer, dst_peer, findings)
        TTL bucket + toIntervalSecond({Seconds(retention.For(table))})
        """;

    /// <summary>
    /// Migration 9: <see cref="AppSixHours"/>, kept from <c>flows_app_1h</c>'s inserts, then filled from it
    /// (<see cref="Refill"/>).
    /// </summary>
    private static List<string> AppSixHoursMigration(string db, StoreRetention retention)
    {
        var table = AppSixHours;
        var select = $"""
            SELECT toStartOfInterval(bucket, toIntervalHour(6)) AS bucket, {FlowColumnTable.Names(AppKeys)},
                groupUniqArrayArray(services) AS services,
                {RollupAggregates}
            FROM {db}.{AppRollups[^1].Name}
            GROUP BY bucket, {FlowColumnTable.Names(AppKeys)}
            """;
        return
        [
            AppTableDdl(db, table, retention),
            $"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{table.Name}_mv TO {db}.{table.Name} AS\n" + select,
            .. Refill(db, [table.Name], [$"INSERT INTO {db}.{table.Name}\n" + select]),
        ];
    }

    private static string Seconds(TimeSpan span) => ((long)span.TotalSeconds).ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A rollup table: its name, bucket width, the ClickHouse function that computes a bucket, its partitioning, and the
/// dimensions it keeps (comma-separated).
/// </summary>
public sealed record RollupTable(string Name, TimeSpan Granularity, string BucketFunction, string PartitionFunction, string Dimensions)
{
    /// <summary>The dimension columns, as a set (with <c>src_peer</c>, <c>dst_peer</c> and <c>services</c>, which every rollup can give).</summary>
    public IReadOnlySet<string> Columns { get; } =
        Dimensions.Split(',', StringSplitOptions.TrimEntries).Concat(["src_peer", "dst_peer", "services"]).ToHashSet(StringComparer.Ordinal);

    /// <summary>Whether the table keeps peers and services as columns (the app × env tables) instead of deriving them.</summary>
    public bool KeepsPeers => Dimensions.Contains("services", StringComparison.Ordinal);
}

/// <summary>How long each table keeps its rows (table TTLs).</summary>
public sealed record StoreRetention(TimeSpan Raw, TimeSpan OneMinute, TimeSpan FiveMinutes, TimeSpan OneHour)
{
    public static StoreRetention RawOnly(TimeSpan raw) =>
        new(raw, Max(raw, TimeSpan.FromDays(30)), Max(raw, TimeSpan.FromDays(90)), Max(raw, TimeSpan.FromDays(400)));

    public TimeSpan For(RollupTable rollup) => rollup.Granularity.TotalMinutes switch
    {
        1 => OneMinute,
        5 => FiveMinutes,
        _ => OneHour,
    };

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
