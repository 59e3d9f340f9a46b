using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>A partition of a Kafka topic.</summary>
public readonly record struct KafkaPartition(string Topic, int Partition)
{
    public override string ToString() => $"{Topic}/{Partition}";
}

/// <summary>The store holds every record of <see cref="Source"/> below <see cref="NextOffset"/>.</summary>
public readonly record struct PartitionProgress(KafkaPartition Source, long NextOffset);

/// <summary>
/// Where to resume a partition: <see cref="NextOffset"/> from the store (null when the store has no progress for
/// it, so the group's committed offset applies), and the offsets at or beyond it that the store already holds
/// (an insert whose progress was never recorded), ascending: the consumer skips those records.
/// </summary>
public sealed record PartitionResume(KafkaPartition Source, long? NextOffset, IReadOnlyList<long> StoredOffsets)
{
    public PartitionResume(KafkaPartition source, long? nextOffset)
        : this(source, nextOffset, [])
    {
    }

    /// <summary>When the store last recorded progress of <see cref="Source"/> (UTC); null without progress.</summary>
    public DateTime? RecordedAt { get; init; }

    public bool Equals(PartitionResume? other) =>
        other is not null && Source == other.Source && NextOffset == other.NextOffset && StoredOffsets.SequenceEqual(other.StoredOffsets);

    public override int GetHashCode() => HashCode.Combine(Source, NextOffset, StoredOffsets.Count);
}

/// <summary>
/// Exactly-once effect into the store. Every flow row carries the Kafka topic, partition and offset it came from.
/// After each acknowledged insert the writer records, per partition, the offset after the last record of the
/// batch (<see cref="FlowSchema.ProgressTable"/>); only then does it commit to Kafka. When a consumer is assigned a
/// partition it asks the store where to resume: consumption restarts at the recorded offset, and rows at or beyond
/// it belong to an insert whose progress was never recorded (the process died in between, or mid-insert with part
/// of the rows written), so the consumer skips the records the store already holds instead of storing them again.
/// Rows are never deleted: the rollups that materialized views build from inserted rows stay equal to the raw
/// table. Kafka's committed offsets trail the store's and serve lag monitoring and stores without progress (a new
/// store on an old group).
/// </summary>
public static partial class IngestProgress
{
    /// <summary>Rows of an unacknowledged insert are younger than the last progress of their partition; the slack
    /// covers clock differences between the nodes of a cluster.</summary>
    private static readonly TimeSpan ClockSlack = TimeSpan.FromMinutes(10);

    public static string InsertSql(string database) =>
        $"INSERT INTO {FlowSchema.QuoteDatabase(database)}.{FlowSchema.ProgressTable} (topic, partition, next_offset)";

    /// <summary>RowBinary rows for <see cref="InsertSql"/>.</summary>
    public static ReadOnlyMemory<byte> Encode(IReadOnlyList<PartitionProgress> progress)
    {
        var buffer = new ArrayBufferWriter<byte>(progress.Count * 32);
        foreach (var p in progress)
        {
            RowBinary.WriteString(buffer, p.Source.Topic);
            RowBinary.WriteInt32(buffer, p.Source.Partition);
            RowBinary.WriteInt64(buffer, p.NextOffset);
        }

        return buffer.WrittenMemory;
    }

    /// <summary>At most this many already-stored offsets are returned per call (a few inserts' worth is normal).</summary>
    public const int MaxStoredOffsets = 5_000_000;

    /// <summary>
    /// Finds the store's progress for <paramref name="partitions"/> and the offsets it already holds beyond it, and
    /// returns where to resume. <paramref name="query"/> runs a query and returns TabSeparated text.
    /// <para>
    /// Two queries, no join, so that both are valid on a cluster (a join of two Distributed tables is refused under
    /// the default <c>distributed_product_mode</c>). On a cluster both read every replica of every shard
    /// (<c>clusterAllReplicas</c>, skipping one that does not answer): a replica that has not fetched the latest
    /// progress or rows yet cannot hide them, since the quorum insert put them on a majority of each shard's replicas.
    /// Each partition's rows are looked for only where they can be: written since that partition's own last progress
    /// (less <see cref="ClockSlack"/>); the parts scanned are those at least as young as the oldest of these.
    /// </para>
    /// </summary>
    public static async Task<IReadOnlyList<PartitionResume>> ResumeAsync(
        string database,
        StoreLayout layout,
        IReadOnlyCollection<KafkaPartition> partitions,
        Func<string, IReadOnlyList<QueryParameter>, CancellationToken, Task<string>> query,
        CancellationToken cancellationToken)
    {
        if (partitions.Count == 0)
        {
            return [];
        }

        var assigned = new QueryParameter("assigned", PartitionList(partitions));
        var recorded = await RecordedAsync(database, layout, assigned, query, cancellationToken);

        // Per assigned partition, in the order of `assigned`: the offset its rows are strays from, and since when they
        // can have been written.
        var nexts = partitions.Select(p => recorded.TryGetValue(p, out var r) ? r.Next : 0).ToList();
        var sinces = partitions.Select(p => recorded.TryGetValue(p, out var r) ? Milliseconds(r.At - ClockSlack) : 0).ToList();
        var strayText = await query(
            $$"""
            SELECT kafka_topic, kafka_partition, arrayStringConcat(arraySort(groupUniqArray(kafka_offset)), ',')
            FROM {{Source(database, layout, FlowSchema.FlowsTable)}}
            WHERE ingested_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
              AND (indexOf(splitByChar(',', {keys:String}), concat(kafka_topic, '/', toString(kafka_partition))) AS slot) > 0
              AND kafka_offset >= toInt64OrZero(splitByChar(',', {nexts:String})[slot])
              AND ingested_at >= fromUnixTimestamp64Milli(toInt64OrZero(splitByChar(',', {sinces:String})[slot]), 'UTC')
            GROUP BY kafka_topic, kafka_partition
            {{Settings(layout)}}
            """,
            [
                new QueryParameter("since", sinces.Min().ToString(CultureInfo.InvariantCulture)),
                assigned with { Name = "keys" },
                new QueryParameter("nexts", NumberList(nexts)),
                new QueryParameter("sinces", NumberList(sinces)),
            ],
            cancellationToken);
        var strays = new Dictionary<KafkaPartition, long[]>();
        var total = 0L;
        foreach (var line in strayText.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            var offsets = f[2].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(o => long.Parse(o, CultureInfo.InvariantCulture)).ToArray();
            total += offsets.Length;
            if (total > MaxStoredOffsets)
            {
                throw new InvalidOperationException(
                    $"the store holds more than {MaxStoredOffsets} rows beyond the recorded progress of {string.Join(", ", partitions)}; " +
                    "run `visibility verify-store` and check that one store is not shared by two consumer groups");
            }

            strays[new KafkaPartition(f[0], int.Parse(f[1], CultureInfo.InvariantCulture))] = offsets;
        }

        return [.. partitions.Select(p => new PartitionResume(
            p, recorded.TryGetValue(p, out var r) ? r.Next : null, strays.TryGetValue(p, out var stored) ? stored : [])
        {
            RecordedAt = recorded.TryGetValue(p, out var at) ? at.At : null,
        })];
    }

    /// <summary>
    /// Each partition's recorded progress: the highest next offset, and when it was recorded (the latest recording of
    /// that offset: a worker re-records an idle partition's progress, which keeps its window short). All partitions
    /// when <paramref name="assigned"/> is null.
    /// </summary>
    public static async Task<Dictionary<KafkaPartition, (long Next, DateTime At)>> RecordedAsync(
        string database,
        StoreLayout layout,
        QueryParameter? assigned,
        Func<string, IReadOnlyList<QueryParameter>, CancellationToken, Task<string>> query,
        CancellationToken cancellationToken)
    {
        var text = await query(
            $$"""
            SELECT topic, partition, max(next_offset), toUnixTimestamp64Milli(argMax(recorded_at, (next_offset, recorded_at)))
            FROM {{Source(database, layout, FlowSchema.ProgressTable)}}
            {{(assigned is null ? "" : "WHERE has(splitByChar(',', {assigned:String}), concat(topic, '/', toString(partition)))")}}
            GROUP BY topic, partition
            {{Settings(layout)}}
            """, assigned is null ? [] : new[] { assigned.Value }, cancellationToken);
        var recorded = new Dictionary<KafkaPartition, (long Next, DateTime At)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            recorded[new KafkaPartition(f[0], int.Parse(f[1], CultureInfo.InvariantCulture))] =
                (long.Parse(f[2], CultureInfo.InvariantCulture), DateTime.UnixEpoch.AddMilliseconds(long.Parse(f[3], CultureInfo.InvariantCulture)));
        }

        return recorded;
    }

    /// <summary>Where progress and strays are read: the table itself on one server; every replica's local table on a cluster.</summary>
    private static string Source(string database, StoreLayout layout, string table) => layout.Cluster is { } cluster
        ? $"clusterAllReplicas('{cluster}', {FlowSchema.QuoteDatabase(database)}, {table}{StoreLayout.LocalSuffix})"
        : $"{FlowSchema.QuoteDatabase(database)}.{table}";

    private static string Settings(StoreLayout layout) => layout.IsCluster ? "SETTINGS skip_unavailable_shards = 1" : "";

    /// <summary>Numbers separated by commas: a plain String parameter on every transport (split again in the query).</summary>
    public static string NumberList(IEnumerable<long> numbers) => string.Join(",", numbers.Select(n => n.ToString(CultureInfo.InvariantCulture)));

    /// <summary>"topic/partition" entries separated by commas, topics checked (see <see cref="PartitionList"/>).</summary>
    public static string Keys(IEnumerable<KafkaPartition> partitions) => PartitionList(partitions);

    private static long Milliseconds(DateTime at) => Math.Max(0, (long)(at - DateTime.UnixEpoch).TotalMilliseconds);

    /// <summary>"topic/partition" entries separated by commas: a plain String parameter on every transport.</summary>
    private static string PartitionList(IEnumerable<KafkaPartition> partitions)
    {
        var text = new StringBuilder();
        foreach (var p in partitions)
        {
            // Kafka topic names are letters, digits, '.', '_' and '-', so ',' and '/' cannot occur in them; anything
            // else is refused rather than escaped.
            if (!TopicName().IsMatch(p.Topic))
            {
                throw new ArgumentException($"'{p.Topic}' is not a valid Kafka topic name", nameof(partitions));
            }

            text.Append(text.Length > 0 ? "," : "").Append(p.Topic).Append('/').Append(p.Partition.ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,249}$")]
    private static partial Regex TopicName();
}
