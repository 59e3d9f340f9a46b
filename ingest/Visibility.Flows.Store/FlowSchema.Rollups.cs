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
/// on the record that closes the connection, delta counters (Hubble, flow-log windows) on every record. A refused
/// attempt (<c>attempt</c> = 1) is never a connection: it counts in <c>attempts</c> only (once, not per
/// retransmission), and its packets in neither <c>bytes</c> nor <c>packets</c>. <c>verdict</c> and <c>policies</c>
/// are dimensions, so a blocked edge and an allowed one stay apart in every table.
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

    /// <summary>The dimensions of <see cref="ServiceRollups"/>.</summary>
    public static string ServiceDimensions { get; } = FlowColumnTable.Names(FlowColumnTable.ServiceDimensions);

    /// <summary>
    /// The app × env service rollups (migration 18): per hour and per 6 hours, each end's app, environment and peer
    /// class, findings, and per service (<c>proto</c>, <c>dst_port</c>), verdict and enforcing policies — what a
    /// policy decision reads when the provisioned scopes and rules name only <c>app</c> and <c>env</c>, so the
    /// decisions on the app × env graph come mostly from tables near the size of the graph's own instead of the
    /// workload-level ones. The hourly table is fed from <c>flows_5m</c>'s inserts, the 6-hour one from the hourly
    /// one's. There is no 5-minute one: it would be fed from <c>flows_1m</c>'s inserts, the largest rollup block of
    /// each ingest insert, and cost the store path more than it saves the reads of a range's ends (BENCHMARKS.md,
    /// "Decisions on the graph (issue 20)").
    /// </summary>
    public static IReadOnlyList<RollupTable> ServiceRollups { get; } =
    [
        new("flows_app_svc_1h", TimeSpan.FromHours(1), "toStartOfHour", "toYYYYMM", ServiceDimensions),
        new("flows_app_svc_6h", TimeSpan.FromHours(6), "toStartOfInterval", "toYYYYMM", ServiceDimensions),
    ];

    /// <summary>
    /// Every rollup table, the planner's candidates: at the same granularity, later ones are smaller (workload-level,
    /// app × env per service, app × env).
    /// </summary>
    public static IReadOnlyList<RollupTable> AllRollups { get; } = [.. Rollups, .. ServiceRollups, .. AppRollups, AppSixHours];

    /// <summary>The rollup tables migrations 9 to 16 knew (before <see cref="ServiceRollups"/>).</summary>
    private static IEnumerable<RollupTable> RollupsBeforeServices => AllRollups.Except(ServiceRollups);

    /// <summary>Connections a raw record opens: NEW events, not of a refused attempt.</summary>
    public const string OpenedExpression = "if(event = 1 AND attempt = 0, connections, 0)";

    /// <summary>Connections a raw record closes: DESTROY events and records with no event, not of a refused attempt.</summary>
    public const string ClosedExpression = "if(event IN (0, 4) AND attempt = 0, connections, 0)";

    /// <summary>
    /// Refused attempts a raw record counts: every record of one except its retransmissions (UPDATE events), so an
    /// attempt counts once however many packets it sent.
    /// </summary>
    public const string AttemptsExpression = "if(attempt = 1 AND event != 2, connections, 0)";

    /// <summary>
    /// Bytes a raw record adds: all of a delta record's, a running total only on the closing record; a refused
    /// attempt's packets never reached their destination and add none.
    /// </summary>
    public const string BytesExpression = "if(attempt = 0 AND (counters_delta = 1 OR event IN (0, 4)), bytes_out + bytes_in, 0)";

    /// <summary>Packets a raw record adds, as <see cref="BytesExpression"/>.</summary>
    public const string PacketsExpression = "if(attempt = 0 AND (counters_delta = 1 OR event IN (0, 4)), packets_out + packets_in, 0)";

    /// <summary>
    /// The aggregates of raw records as the rollup views and raw-table reads compute them:
    /// <c>opened, closed, attempts, bytes, packets, first_seen, last_seen</c>.
    /// </summary>
    public const string RawAggregates =
        "sum(" + OpenedExpression + ") AS opened, sum(" + ClosedExpression + ") AS closed, sum(" + AttemptsExpression + ") AS attempts, " +
        "sum(" + BytesExpression + ") AS bytes, sum(" + PacketsExpression + ") AS packets, " +
        "min(ts) AS first_seen, max(greatest(ts, end_ts)) AS last_seen";

    /// <summary>The same aggregates over rollup rows.</summary>
    public const string RollupAggregates =
        "sum(opened) AS opened, sum(closed) AS closed, sum(attempts) AS attempts, sum(bytes) AS bytes, sum(packets) AS packets, " +
        "min(first_seen) AS first_seen, max(last_seen) AS last_seen";

    /// <summary>The raw aggregates before the verdicts (migrations 7 to 15): the views those migrations created.</summary>
    private const string RawAggregatesBeforeVerdicts =
        "sum(if(event = 1, connections, 0)) AS opened, sum(if(event IN (0, 4), connections, 0)) AS closed, " +
        "sum(if(counters_delta = 1 OR event IN (0, 4), bytes_out + bytes_in, 0)) AS bytes, sum(if(counters_delta = 1 OR event IN (0, 4), packets_out + packets_in, 0)) AS packets, " +
        "min(ts) AS first_seen, max(greatest(ts, end_ts)) AS last_seen";

    /// <summary>The rollup aggregates before the verdicts.</summary>
    private const string RollupAggregatesBeforeVerdicts =
        "sum(opened) AS opened, sum(closed) AS closed, sum(bytes) AS bytes, sum(packets) AS packets, " +
        "min(first_seen) AS first_seen, max(last_seen) AS last_seen";

    /// <summary>The sorting key of the workload-level rollups as migration 7 created them.</summary>
    private const string RollupKey =
        "bucket, src_env, dst_env, src_app, dst_app, src_role, dst_role, src_loc, dst_loc, src_workload, dst_workload, src_kind, dst_kind, proto, dst_port, findings";

    /// <summary>The sorting key of the app × env rollups as migrations 8 and 9 created them.</summary>
    private const string AppRollupKey = "bucket, src_env, dst_env, src_app, dst_app, src_peer, dst_peer, findings";

    private static bool HasVerdicts(int migration) => migration >= FlowColumnTable.VerdictsMigration;

    private static string RawAggregatesAt(int migration) => HasVerdicts(migration) ? RawAggregates : RawAggregatesBeforeVerdicts;

    private static string RollupAggregatesAt(int migration) => HasVerdicts(migration) ? RollupAggregates : RollupAggregatesBeforeVerdicts;

    /// <summary>The workload-level rollups' dimensions after <paramref name="migration"/>, comma-separated.</summary>
    private static string RollupDimensionsAt(int migration) => FlowColumnTable.Names(FlowColumnTable.DimensionsAt(FlowTables.Rollups, migration));

    /// <summary>A workload-level rollup table as migration 7 created it (migration 16 added the verdict columns).</summary>
    private static string RollupTableDdl(string db, RollupTable rollup, TimeSpan retention) => $"""
        CREATE TABLE IF NOT EXISTS {db}.{rollup.Name}
        (
            bucket DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
            {FlowColumnTable.Declarations(FlowColumnTable.DimensionsAt(FlowTables.Rollups, 7), c => c.DimensionDdl)},
            {MeasureColumns}
        )
        ENGINE = AggregatingMergeTree
        PARTITION BY {rollup.PartitionFunction}(bucket)
        ORDER BY ({RollupKey})
        TTL bucket + toIntervalSecond({Seconds(retention)})
        """;

    /// <summary>What a workload-level rollup's view (or backfill) selects from the table before it, as of <paramref name="migration"/>.</summary>
    private static string RollupSelect(string source, RollupTable rollup, bool fromRaw, int migration) => $"""
        SELECT {rollup.BucketFunction}({(fromRaw ? "ts" : "bucket")}) AS bucket, {RollupDimensionsAt(migration)},
            {(fromRaw ? RawAggregatesAt(migration) : RollupAggregatesAt(migration))}
        FROM {source}
        GROUP BY bucket, {RollupDimensionsAt(migration)}
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
        statements.AddRange(RollupViews(db, 7));
        statements.AddRange(Refill(db, [.. Rollups.Select(r => r.Name), EdgesTable],
            [$"INSERT INTO {db}.{Rollups[0].Name}\n" + RollupSelect($"{db}.{FlowsTable}", Rollups[0], fromRaw: true, 7)]));
        return statements;
    }

    /// <summary>
    /// The views that keep the workload-level rollups and <c>edges</c> as of <paramref name="migration"/> (7 creates
    /// them all; 16 creates again those it dropped, all but <c>edges</c>'s). Coarser tables are fed from the block the
    /// finer one just inserted, <c>edges</c> from the minute table; the minute table's view comes last, once the
    /// tables it feeds have theirs.
    /// </summary>
    private static List<string> RollupViews(string db, int migration)
    {
        var statements = new List<string>();
        for (var i = 1; i < Rollups.Count; i++)
        {
            statements.Add($"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{Rollups[i].Name}_mv TO {db}.{Rollups[i].Name} AS\n" +
                RollupSelect($"{db}.{Rollups[i - 1].Name}", Rollups[i], fromRaw: false, migration));
        }

        if (!HasVerdicts(migration))
        {
            statements.Add($"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{EdgesTable}_mv TO {db}.{EdgesTable} AS\n" + EdgesSelect($"{db}.{Rollups[0].Name}"));
        }

        statements.Add($"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{Rollups[0].Name}_mv TO {db}.{Rollups[0].Name} AS\n" +
            RollupSelect($"{db}.{FlowsTable}", Rollups[0], fromRaw: true, migration));
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
            var fill = Rollups[i + 1]; // filled from the rows already stored at the same bucket size
            statements.Add(AppTableDdl(db, app, retention));
            statements.Add(AppView(db, i, 8));
            fills.Add($"INSERT INTO {db}.{app.Name}\n" + AppSelect(app, $"{db}.{fill.Name}", 8));
        }

        statements.AddRange(Refill(db, AppRollups.Select(a => a.Name), fills));
        return statements;
    }

    /// <summary>The view that keeps <c>AppRollups[index]</c> from the inserts into <c>flows_1m</c> (5 minutes) or <c>flows_5m</c> (1 hour).</summary>
    private static string AppView(string db, int index, int migration) =>
        $"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{AppRollups[index].Name}_mv TO {db}.{AppRollups[index].Name} AS\n" +
        AppSelect(AppRollups[index], $"{db}.{Rollups[index].Name}", migration);

    /// <summary>An app × env rollup's rows from a workload-level table's, as of <paramref name="migration"/>.</summary>
    private static string AppSelect(RollupTable app, string source, int migration) => $"""
        SELECT {app.BucketFunction}(bucket) AS bucket, {string.Join(", ", AppKeysAt(migration).Select(c => c.Expression is null ? c.Name : $"{c.Expression} AS {c.Name}"))},
            groupUniqArray(toUInt32(proto) * 65536 + dst_port) AS services,
            {RollupAggregatesAt(migration)}
        FROM {source}
        GROUP BY bucket, {FlowColumnTable.Names(AppKeysAt(migration))}
        """;

    /// <summary>The app × env dimensions a row is grouped by as of <paramref name="migration"/>: all but the merged service sets.</summary>
    private static IEnumerable<FlowColumn> AppKeysAt(int migration) =>
        FlowColumnTable.DimensionsAt(FlowTables.AppRollups, migration).Where(c => c.Aggregate is null);

    /// <summary>
    /// The summed measures every rollup table was created with (see <see cref="RollupAggregates"/>); migration 16 adds
    /// <c>attempts</c> after <c>closed</c>.
    /// </summary>
    private const string MeasureColumns = """
        opened SimpleAggregateFunction(sum, UInt64),
            closed SimpleAggregateFunction(sum, UInt64),
            bytes SimpleAggregateFunction(sum, UInt64),
            packets SimpleAggregateFunction(sum, UInt64),
            first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
            last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
        """;

    /// <summary>
    /// An app × env rollup table as migrations 8 and 9 created it: both ends' app, env and peer class, findings, the
    /// services seen, the sums (migration 16 added the verdict columns).
    /// </summary>
    private static string AppTableDdl(string db, RollupTable table, StoreRetention retention) =>
        $"""
        CREATE TABLE IF NOT EXISTS {db}.{table.Name}
        (
            bucket DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
            {FlowColumnTable.Declarations(FlowColumnTable.DimensionsAt(FlowTables.AppRollups, 9), c => c.DimensionDdl)},
            {MeasureColumns}
        )
        ENGINE = AggregatingMergeTree
        PARTITION BY {table.PartitionFunction}(bucket)
        ORDER BY ({AppRollupKey})
        TTL bucket + toIntervalSecond({Seconds(retention.For(table))})
        """;

    /// <summary>
    /// Migration 9: <see cref="AppSixHours"/>, kept from <c>flows_app_1h</c>'s inserts, then filled from it
    /// (<see cref="Refill"/>).
    /// </summary>
    private static List<string> AppSixHoursMigration(string db, StoreRetention retention)
    {
        var table = AppSixHours;
        return
        [
            AppTableDdl(db, table, retention),
            AppSixHoursView(db, 9),
            .. Refill(db, [table.Name], [$"INSERT INTO {db}.{table.Name}\n" + AppSixHoursSelect(db, 9)]),
        ];
    }

    private static string AppSixHoursView(string db, int migration) =>
        $"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{AppSixHours.Name}_mv TO {db}.{AppSixHours.Name} AS\n" + AppSixHoursSelect(db, migration);

    private static string AppSixHoursSelect(string db, int migration) => $"""
        SELECT toStartOfInterval(bucket, toIntervalHour(6)) AS bucket, {FlowColumnTable.Names(AppKeysAt(migration))},
            groupUniqArrayArray(services) AS services,
            {RollupAggregatesAt(migration)}
        FROM {db}.{AppRollups[^1].Name}
        GROUP BY bucket, {FlowColumnTable.Names(AppKeysAt(migration))}
        """;

    /// <summary>
    /// Migration 16: the verdict columns (<see cref="FlowColumnTable.VerdictsMigration"/>). Raw flows gain
    /// <c>verdict</c>, <c>attempt</c>, <c>audited</c>, <c>verdict_reason</c> and <c>policies</c>; every rollup gains
    /// <c>verdict</c> and <c>policies</c> as dimensions at the end of its sorting key (a key may grow by columns the
    /// same <c>ALTER</c> adds, without rewriting a part) and the measure <c>attempts</c>. The rollup views are dropped
    /// first and created again with the new selects, which leave refused attempts out of <c>opened</c>, <c>closed</c>,
    /// <c>bytes</c> and <c>packets</c>. Rows stored before read as allowed, with no attempt (the store kept no verdict
    /// then), so nothing is filled again. Processes of this release do not ingest while it runs (README, "Upgrading").
    /// </summary>
    private static List<string> VerdictsMigration(string db)
    {
        string[] views = [.. Rollups.Select(r => r.Name), .. AppRollups.Select(r => r.Name), AppSixHours.Name];
        const int m = FlowColumnTable.VerdictsMigration;
        var statements = new List<string>();
        statements.AddRange(views.Select(v => $"DROP VIEW IF EXISTS {db}.{v}_mv"));
        statements.AddRange(AddColumns(db, m));
        var verdict = FlowColumnTable.ByName["verdict"];
        var policies = FlowColumnTable.ByName["policies"];
        foreach (var rollup in RollupsBeforeServices)
        {
            statements.Add(
                $"ALTER TABLE {db}.{rollup.Name} ADD COLUMN IF NOT EXISTS {verdict.DimensionDdl} AFTER findings, " +
                $"ADD COLUMN IF NOT EXISTS {policies.DimensionDdl} AFTER {verdict.Name}, " +
                "ADD COLUMN IF NOT EXISTS attempts SimpleAggregateFunction(sum, UInt64) AFTER closed, " +
                $"MODIFY ORDER BY ({(rollup.KeepsPeers ? AppRollupKey : RollupKey)}, {verdict.Name}, {policies.Name})");
        }

        statements.AddRange(RollupViews(db, m));
        statements.AddRange(AppRollups.Select((_, i) => AppView(db, i, m)));
        statements.Add(AppSixHoursView(db, m));
        return statements;
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

    /// <summary>Whether the table keeps the peers' classes as columns (the app × env tables) instead of deriving them from workloads.</summary>
    public bool KeepsPeers => Dimensions.Split(',', StringSplitOptions.TrimEntries).Contains("src_peer");

    /// <summary>Whether the table keeps service sets as a column (the app × env tables) instead of deriving them from protocol and port.</summary>
    public bool KeepsServices => Dimensions.Split(',', StringSplitOptions.TrimEntries).Contains("services");

    /// <summary>The bucket of a row of a finer rollup (its <c>bucket</c>) in this table.</summary>
    public string BucketOf(string bucket) => Granularity == TimeSpan.FromHours(6)
        ? $"toStartOfInterval({bucket}, toIntervalHour(6))"
        : $"{BucketFunction}({bucket})";
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
