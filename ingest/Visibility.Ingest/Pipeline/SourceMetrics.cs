using System.Collections.Concurrent;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>Counters of the Kafka source: rebalances, pauses, commits, dead-letter deliveries, lag and records lost to retention.</summary>
public sealed class SourceMetrics
{
    private long commitErrors;
    private long deadLetterErrors;
    private long assignments;
    private long revocations;
    private long losses;
    private long paused;
    private long recordsLost;

    public long CommitErrors => Interlocked.Read(ref commitErrors);

    public long DeadLetterErrors => Interlocked.Read(ref deadLetterErrors);

    public long Assignments => Interlocked.Read(ref assignments);

    public long Revocations => Interlocked.Read(ref revocations);

    public long Losses => Interlocked.Read(ref losses);

    /// <summary>Consumers whose partitions are paused because their queue to the store is full.</summary>
    public long PausedConsumers => Interlocked.Read(ref paused);

    /// <summary>Records retention deleted from a partition before this group read them (see <see cref="KafkaLogStart"/>), in total.</summary>
    public long RecordsLostTotal => Interlocked.Read(ref recordsLost);

    /// <summary>Records retention deleted before this group read them, per partition.</summary>
    public ConcurrentDictionary<KafkaPartition, long> RecordsLost { get; } = new();

    /// <summary>Records behind the end of each assigned partition, as of the last batch stored from it.</summary>
    public ConcurrentDictionary<KafkaPartition, long> Lag { get; } = new();

    /// <summary>librdkafka's own statistics of the consumers (lag per partition, broker round trips), kept unparsed until read.</summary>
    public KafkaStatistics Kafka { get; } = new();

    internal void CountCommitError() => Interlocked.Increment(ref commitErrors);

    internal void CountDeadLetterError() => Interlocked.Increment(ref deadLetterErrors);

    internal void CountAssigned() => Interlocked.Increment(ref assignments);

    internal void CountRevoked() => Interlocked.Increment(ref revocations);

    internal void CountLost() => Interlocked.Increment(ref losses);

    internal void CountRecordsLost(KafkaPartition partition, long records)
    {
        RecordsLost.AddOrUpdate(partition, records, (_, before) => before + records);
        Interlocked.Add(ref recordsLost, records);
    }

    internal void SetPaused(bool on) => Interlocked.Add(ref paused, on ? 1 : -1);
}
