using System.Globalization;
using System.Text;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>One Kafka partition as the store holds it.</summary>
public sealed record PartitionCheck(
    string Topic, int Partition, long Rows, long DistinctOffsets, long MinOffset, long MaxOffset, long? Progress, long BeyondProgress)
{
    public long Duplicates => Rows - DistinctOffsets;
}

/// <summary>A rollup table's sums of connections closed and bytes, to hold against the raw rows'.</summary>
public sealed record RollupCheck(string Table, long Closed, long Bytes);

/// <summary>What <see cref="StoreCheck.RunAsync"/> found: every partition, and the totals.</summary>
public sealed record StoreCheckResult(IReadOnlyList<PartitionCheck> Partitions)
{
    /// <summary>The raw rows' sums of connections closed and bytes, as the rollup views compute them.</summary>
    public RollupCheck Raw { get; init; } = new(FlowSchema.FlowsTable, 0, 0);

    /// <summary>Each rollup table's sums; equal to <see cref="Raw"/>'s unless an insert reached the raw table but not
    /// the views (the process died, or the disk filled, between them) or a table's TTL has removed rows.</summary>
    public IReadOnlyList<RollupCheck> Rollups { get; init; } = [];

    public bool RollupsMatch => Rollups.All(r => r.Closed == Raw.Closed && r.Bytes == Raw.Bytes);

    public long Rows => Partitions.Sum(p => p.Rows);

    public long Duplicates => Partitions.Sum(p => p.Duplicates);

    public long BeyondProgress => Partitions.Sum(p => p.BeyondProgress);

    /// <summary>No Kafka record is stored twice and no row lies beyond its partition's recorded progress.</summary>
    public bool ExactlyOnce => Duplicates == 0 && BeyondProgress == 0;
}

/// <summary>
/// Verifies the exactly-once effect: per Kafka partition, rows against distinct source offsets (a difference is a
/// record stored twice) and rows beyond the recorded progress (an unacknowledged insert, removed on resume).
/// </summary>
public static class StoreCheck
{
    public static async Task<StoreCheckResult> RunAsync(IFlowReader store, CancellationToken cancellationToken) =>
        await RunAsync(store, StoreLayout.SingleServer, cancellationToken);

    /// <summary>
    /// Checks the store laid out as <paramref name="layout"/>: the recorded progress first (on a cluster from every
    /// replica), then each partition's rows against it, in two queries rather than a join, which a cluster refuses
    /// between two Distributed tables under the default <c>distributed_product_mode</c>.
    /// </summary>
    public static async Task<StoreCheckResult> RunAsync(IFlowReader store, StoreLayout layout, CancellationToken cancellationToken)
    {
        var db = FlowSchema.QuoteDatabase(store.Database);
        var recorded = await IngestProgress.RecordedAsync(store.Database, layout, null,
            (sql, parameters, ct) => store.QueryAsync(sql, "TabSeparated", static span => Encoding.UTF8.GetString(span), parameters, ct), cancellationToken);
        var keys = recorded.Keys.ToList();
        var text = await store.QueryAsync(
            $$"""
            SELECT kafka_topic, kafka_partition, count(), uniqExact(kafka_offset), min(kafka_offset), max(kafka_offset),
                   any(slot) > 0, countIf(slot = 0 OR kafka_offset >= toInt64OrZero(splitByChar(',', {nexts:String})[slot]))
            FROM
            (
                SELECT kafka_topic, kafka_partition, kafka_offset, indexOf(splitByChar(',', {keys:String}), concat(kafka_topic, '/', toString(kafka_partition))) AS slot
                FROM {{db}}.{{FlowSchema.FlowsTable}}
                WHERE kafka_topic != ''
            )
            GROUP BY kafka_topic, kafka_partition
            ORDER BY kafka_topic, kafka_partition
            """,
            "TabSeparated", static span => Encoding.UTF8.GetString(span),
            [
                new QueryParameter("keys", IngestProgress.Keys(keys)),
                new QueryParameter("nexts", IngestProgress.NumberList(keys.Select(k => recorded[k].Next))),
            ],
            cancellationToken);
        var partitions = new List<PartitionCheck>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            long L(int i) => long.Parse(f[i], CultureInfo.InvariantCulture);
            var partition = new KafkaPartition(f[0], int.Parse(f[1], CultureInfo.InvariantCulture));
            partitions.Add(new PartitionCheck(partition.Topic, partition.Partition, L(2), L(3), L(4), L(5),
                recorded.TryGetValue(partition, out var progress) ? progress.Next : null, L(7)));
        }

        async Task<RollupCheck> SumsAsync(string table, string closed, string bytes)
        {
            var sums = await store.QueryAsync($"SELECT sum({closed}), sum({bytes}) FROM {db}.{table}", "TabSeparated",
                static span => Encoding.UTF8.GetString(span), [], cancellationToken);
            var f = sums.Trim().Split('\t');
            return new RollupCheck(table, long.Parse(f[0], CultureInfo.InvariantCulture), long.Parse(f[1], CultureInfo.InvariantCulture));
        }

        var raw = await SumsAsync(FlowSchema.FlowsTable, FlowSchema.ClosedExpression, FlowSchema.BytesExpression);
        var rollups = new List<RollupCheck>();
        foreach (var rollup in FlowSchema.AllRollups)
        {
            rollups.Add(await SumsAsync(rollup.Name, "closed", "bytes"));
        }

        return new StoreCheckResult(partitions) { Raw = raw, Rollups = rollups };
    }
}
