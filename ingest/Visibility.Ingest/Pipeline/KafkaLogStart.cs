using System.Runtime.InteropServices;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Store;
using Visibility.Ingest.Kafka;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Makes falling off a partition's log loud. Kafka's retention deletes a partition's oldest records whether or not
/// a group has read them; a consumer asking for an offset below the log start is then reset by the client
/// (<c>auto.offset.reset</c>) with nothing but a client warning. Here, at assignment, the position the store (or the
/// group) resumes from is compared with the partition's log start and end before anything is fetched: below the
/// start, the records in between are gone, which is logged as an error naming the range and counted in
/// <see cref="SourceMetrics.RecordsLost"/>; beyond the end, the log is newer than the store's progress (a recreated
/// topic, or the development broker, which keeps nothing across restarts), which is said in one line and counted
/// as nothing. Either way reading starts where <see cref="KafkaOptions.AutoOffsetReset"/> says, so the client never
/// has to reset. While reading, a record whose offset jumps past the one expected while the log start has moved
/// beyond it is the client's own reset after the position fell off the log: counted and logged the same way.
/// With the development broker in this process (<paramref name="logsCreatedAt"/>: when it started, empty), progress
/// the store recorded before then belongs to the log of an earlier run: its records are stored, and the new log is
/// read from its start; one line says so. Used on the consume thread only (rebalance handlers run on it too).
/// </summary>
public sealed class KafkaLogStart(KafkaOptions kafka, SourceMetrics metrics, ILogger logger, DateTime? logsCreatedAt = null)
{
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(10);

    // The offset the next record of each partition should have; absent until known (a new group without progress).
    private readonly Dictionary<KafkaPartition, long> expected = [];

    /// <summary>
    /// <paramref name="resumes"/> without the store's progress on logs older than the development broker running in
    /// this process (it keeps nothing across restarts): such a partition starts at the new log's start, and nothing
    /// the store already holds is skipped in it.
    /// </summary>
    public IReadOnlyList<PartitionResume> OfCurrentLogs(IReadOnlyList<PartitionResume> resumes)
    {
        if (logsCreatedAt is not { } created)
        {
            return resumes;
        }

        var earlier = resumes.Where(r => r.NextOffset is not null && r.RecordedAt < created).ToList();
        if (earlier.Count == 0)
        {
            return resumes;
        }

        logger.LogInformation(
            "The development broker in this process started empty at {Started:u} (it keeps nothing across restarts); the store's progress on {Partitions} " +
            "belongs to the log of an earlier run, whose records are stored. Reading the new log of {Count} partition(s) from its start; nothing was lost",
            created, string.Join(", ", earlier.Select(r => $"{r.Source}@{r.NextOffset}")), earlier.Count);
        return [.. resumes.Select(r => earlier.Contains(r) ? new PartitionResume(r.Source, null) : r)];
    }

    /// <summary>
    /// Where each assigned partition starts: <paramref name="resumes"/>' offset from the store or else the group's
    /// committed offset, moved to the log start or end (per <see cref="KafkaOptions.AutoOffsetReset"/>) when it lies
    /// outside the partition's log. A partition with neither starts where the client's reset policy says.
    /// </summary>
    public List<TopicPartitionOffset> Check(IConsumer<byte[]?, byte[]?> consumer, IReadOnlyList<PartitionResume> resumes)
    {
        var committed = Committed(consumer, resumes.Where(r => r.NextOffset is null).Select(r => r.Source).ToList());
        var starts = new List<TopicPartitionOffset>(resumes.Count);
        foreach (var resume in resumes)
        {
            var tp = new TopicPartition(resume.Source.Topic, resume.Source.Partition);
            long? from = resume.NextOffset ?? (committed.TryGetValue(resume.Source, out var c) ? c : null);
            if (from is not { } position)
            {
                expected.Remove(resume.Source);
                starts.Add(new TopicPartitionOffset(tp, Offset.Unset));
                continue;
            }

            var start = position;
            if (Watermarks(consumer, resume.Source) is var (low, high))
            {
                var source = resume.NextOffset is null ? "the group's committed offset" : "the store's progress";
                if (position < low)
                {
                    start = kafka.ResetsToLatest ? high : low;
                    Lost(resume.Source, position, start, low, source);
                }
                else if (position > high)
                {
                    start = kafka.ResetsToLatest ? high : low;
                    logger.LogWarning(
                        "{Partition}: {Source} is at offset {Position} but the partition's log ends at {High}: the log is newer than what was read " +
                        "(the topic was recreated, or the development broker restarted, which keeps nothing); nothing was lost, reading from offset {Start} (Visibility:Kafka:AutoOffsetReset={Reset})",
                        resume.Source, source, position, high, start, kafka.AutoOffsetReset);
                }
            }

            expected[resume.Source] = start;
            starts.Add(new TopicPartitionOffset(tp, new Offset(start)));
        }

        return starts;
    }

    /// <summary>
    /// Checks a record's offset against the one expected next from its partition (one lookup per record). A jump
    /// past it is looked at further (see <see cref="Jumped"/>).
    /// </summary>
    public void Consumed(IConsumer<byte[]?, byte[]?> consumer, KafkaPartition partition, long offset)
    {
        ref var next = ref CollectionsMarshal.GetValueRefOrAddDefault(expected, partition, out var known);
        if (known && offset != next)
        {
            Jumped(consumer, partition, next, offset);
        }

        next = offset + 1;
    }

    /// <summary>A partition leaves this consumer: its next owner checks it.</summary>
    public void Forget(KafkaPartition partition) => expected.Remove(partition);

    /// <summary>
    /// The offset moved from <paramref name="wanted"/> to <paramref name="got"/> without this consumer asking: the
    /// client reset it. Past a log start that moved beyond <paramref name="wanted"/>, retention took the records in
    /// between before they were read. Gaps inside the log (transaction markers, compaction) are not losses.
    /// </summary>
    private void Jumped(IConsumer<byte[]?, byte[]?> consumer, KafkaPartition partition, long wanted, long got)
    {
        if (got < wanted)
        {
            logger.LogWarning(
                "{Partition}: the log restarted at offset {Offset} after offset {Wanted} was expected (the topic was recreated, or the broker lost its log); reading on from there",
                partition, got, wanted);
            return;
        }

        // The client learns each partition's log start from its fetches: no request needed.
        var tp = new TopicPartition(partition.Topic, partition.Partition);
        var cached = consumer.GetWatermarkOffsets(tp);
        var low = cached.Low.Value >= 0 ? cached.Low.Value : Watermarks(consumer, partition)?.Low ?? -1;
        if (low > wanted)
        {
            Lost(partition, wanted, got, low, "the consumer's position");
        }
    }

    /// <summary>Logs and counts the records <paramref name="from"/> up to <paramref name="resumeAt"/> (exclusive) as lost.</summary>
    private void Lost(KafkaPartition partition, long from, long resumeAt, long logStart, string source)
    {
        var count = resumeAt - from;
        metrics.CountRecordsLost(partition, count);
        logger.LogError(
            "{Partition}: {Count} records lost, offsets {First}..{Last}: {Source} ({From}) is below the partition's log start ({LogStart}); " +
            "retention deleted them before they were read (the consumer was stopped or too slow for the topic's retention). Reading from offset {Start} (Visibility:Kafka:AutoOffsetReset={Reset})",
            partition, count, from, resumeAt - 1, source, from, logStart, resumeAt, kafka.AutoOffsetReset);
    }

    private (long Low, long High)? Watermarks(IConsumer<byte[]?, byte[]?> consumer, KafkaPartition partition)
    {
        try
        {
            var w = consumer.QueryWatermarkOffsets(new TopicPartition(partition.Topic, partition.Partition), QueryTimeout);
            return (w.Low.Value, w.High.Value);
        }
        catch (KafkaException ex)
        {
            // Without the log's bounds the client's own reset applies; a jump it makes is still caught while reading.
            logger.LogWarning("{Partition}: could not read the partition's log start and end ({Reason}); not checked before reading", partition, ex.Error.Reason);
            return null;
        }
    }

    private Dictionary<KafkaPartition, long> Committed(IConsumer<byte[]?, byte[]?> consumer, List<KafkaPartition> partitions)
    {
        if (partitions.Count == 0)
        {
            return [];
        }

        try
        {
            return consumer.Committed(partitions.Select(p => new TopicPartition(p.Topic, p.Partition)), QueryTimeout)
                .Where(c => c.Offset.Value >= 0)
                .ToDictionary(c => new KafkaPartition(c.Topic, c.Partition.Value), c => c.Offset.Value);
        }
        catch (KafkaException ex)
        {
            logger.LogWarning("Could not read the group's committed offsets of {Partitions} ({Reason}); they are not checked against the log start",
                string.Join(", ", partitions), ex.Error.Reason);
            return [];
        }
    }
}
