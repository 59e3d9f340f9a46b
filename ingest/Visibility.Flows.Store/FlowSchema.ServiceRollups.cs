namespace Visibility.Flows.Store;

/// <summary>
/// Migration 18: the app × env service rollups (<see cref="ServiceRollups"/>). A policy decision needs the service
/// and the verdict of the traffic it judges, which the app × env tables keep only as a set of services per row; without
/// these tables a decided app × env graph reads the workload-level rollups, about ten times the rows.
/// </summary>
public static partial class FlowSchema
{
    /// <summary>The sorting key of the service rollups: the app × env tables' key, then the service and the verdict.</summary>
    private const string ServiceRollupKey =
        "bucket, src_env, dst_env, src_app, dst_app, src_peer, dst_peer, findings, proto, dst_port, verdict, policies";

    /// <summary>The summed measures of a rollup created after migration 16: <see cref="MeasureColumns"/> with <c>attempts</c> after <c>closed</c>.</summary>
    private static readonly string ServiceMeasureColumns = MeasureColumns.Replace(
        "closed SimpleAggregateFunction(sum, UInt64),", "closed SimpleAggregateFunction(sum, UInt64),\n    attempts SimpleAggregateFunction(sum, UInt64),", StringComparison.Ordinal);

    /// <summary>
    /// The tables; the settings every table an ingest insert writes has (<see cref="DeduplicationMigration"/>); the
    /// views (the 6-hour one first, so each table has its view before the table feeding it gets one); then a
    /// <see cref="Refill"/> of the hourly table from <c>flows_1h</c>, which holds every stored row at the same bucket
    /// size (the hourly table's view carries the rows on to the 6-hour one).
    /// </summary>
    private static List<string> ServiceRollupsMigration(string db, StoreRetention retention)
    {
        var (hour, sixHours) = (ServiceRollups[0], ServiceRollups[1]);
        return
        [
            .. ServiceRollups.Select(table => ServiceTableDdl(db, table, retention)),
            .. ServiceRollups.Select(table =>
                $"ALTER TABLE {db}.{table.Name} MODIFY SETTING non_replicated_deduplication_window = {DeduplicationWindow}, ttl_only_drop_parts = 1"),
            ServiceView(db, sixHours, hour.Name),
            ServiceView(db, hour, Rollups[1].Name),
            .. Refill(db, ServiceRollups.Select(t => t.Name), [$"INSERT INTO {db}.{hour.Name}\n" + ServiceSelect(hour, $"{db}.{Rollups[2].Name}")]),
        ];
    }

    private static string ServiceTableDdl(string db, RollupTable table, StoreRetention retention) => $"""
        CREATE TABLE IF NOT EXISTS {db}.{table.Name}
        (
            bucket DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
            {FlowColumnTable.Declarations(FlowColumnTable.ServiceDimensions, c => c.DimensionDdl)},
            {ServiceMeasureColumns}
        )
        ENGINE = AggregatingMergeTree
        PARTITION BY {table.PartitionFunction}(bucket)
        ORDER BY ({ServiceRollupKey})
        TTL bucket + toIntervalSecond({Seconds(retention.For(table))})
        """;

    private static string ServiceView(string db, RollupTable table, string source) =>
        $"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{table.Name}_mv TO {db}.{table.Name} AS\n" + ServiceSelect(table, $"{db}.{source}");

    /// <summary>
    /// A service rollup's rows from a finer table's: a workload-level rollup (the peers' classes derived from the
    /// workloads) or a finer service rollup.
    /// </summary>
    private static string ServiceSelect(RollupTable table, string source)
    {
        var fromServices = ServiceRollups.Any(r => source.EndsWith("." + r.Name, StringComparison.Ordinal));
        var dimensions = FlowColumnTable.ServiceDimensions
            .Select(c => c.Expression is null || fromServices ? c.Name : $"{c.Expression} AS {c.Name}");
        return $"""
            SELECT {table.BucketOf("bucket")} AS bucket, {string.Join(", ", dimensions)},
                {RollupAggregates}
            FROM {source}
            GROUP BY bucket, {ServiceDimensions}
            """;
    }
}
