using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// The Kafka side of storing a group: its dead letters are delivered before its progress is recorded; once it is,
/// its offsets are committed, the lag read and the watermark moved. Offsets stored but not yet committed are kept
/// per partition (the writer adds, a revocation or loss removes), so a failed commit is retried with the next one,
/// or within a second when none comes, and a transient error costs nothing. The progress of a partition that has
/// been idle for <see cref="ProgressRefresh"/> is recorded again (<paramref name="recordProgress"/>), so that its next
/// owner looks for unacknowledged rows only among recent parts (<see cref="IngestProgress"/>).
/// </summary>
public sealed class KafkaCommitter(
    DeadLetterPublisher deadLetters, ConsumerWatermark? watermark, SourceMetrics metrics, ILogger logger,
    Func<IReadOnlyList<PartitionProgress>, CancellationToken, Task>? recordProgress = null, TimeSpan? progressRefresh = null) : IStoreAcknowledgement
{
    /// <summary>How long a partition's progress may go unrecorded before it is recorded again, by default.</summary>
    public static readonly TimeSpan ProgressRefresh = TimeSpan.FromMinutes(1);

    private readonly long refreshMilliseconds = (long)(progressRefresh ?? ProgressRefresh).TotalMilliseconds;

    private readonly Dictionary<KafkaPartition, long> pending = [];
    private readonly Dictionary<KafkaPartition, (long Next, long At)> recorded = [];
    private readonly Lock gate = new();
    private IConsumer<byte[]?, byte[]?>? consumer;
    private int failingCommits;

    /// <summary>The consumer whose offsets are committed; set once the source has built it, before anything is read.</summary>
    public void Attach(IConsumer<byte[]?, byte[]?> kafka) => consumer = kafka;

    public void DeliverDeadLetters() => deadLetters.Flush();

    public void Stored(IReadOnlyList<FlowBatch> group, IReadOnlyList<PartitionProgress> progress)
    {
        lock (gate)
        {
            foreach (var batch in group)
            {
                batch.MergeOffsetsInto(pending);
            }

            TryCommit();
            foreach (var p in progress)
            {
                recorded[p.Source] = (p.NextOffset, Environment.TickCount64);
            }
        }

        UpdateLag(progress);
        foreach (var p in progress)
        {
            watermark?.Stored(new TopicPartition(p.Source.Topic, p.Source.Partition), p.NextOffset);
        }
    }

    /// <summary>Partitions were assigned: the store holds their records below where each resumes.</summary>
    public void Resumed(IReadOnlyList<PartitionResume> resumes)
    {
        foreach (var resume in resumes.Where(r => r.NextOffset is not null))
        {
            lock (gate)
            {
                recorded[resume.Source] = (resume.NextOffset!.Value, Environment.TickCount64);
            }

            watermark?.Stored(new TopicPartition(resume.Source.Topic, resume.Source.Partition), resume.NextOffset!.Value);
        }
    }

    /// <summary>Partitions are revoked: what is stored of them is committed first, so their next owner resumes right after it.</summary>
    public void CommitAndForget(List<TopicPartitionOffset> partitions)
    {
        lock (gate)
        {
            if (pending.Count > 0)
            {
                TryCommit();
            }

            Forget(partitions);
        }
    }

    /// <summary>Partitions were lost: they can no longer be committed.</summary>
    public void ForgetLost(List<TopicPartitionOffset> partitions)
    {
        lock (gate)
        {
            Forget(partitions);
        }
    }

    /// <summary>After the writer stopped: a few more tries for offsets a failed commit left behind.</summary>
    public async Task CommitRemainingAsync()
    {
        for (var attempt = 0; attempt < 5 && PendingCount() > 0; attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200 * (attempt + 1)), CancellationToken.None);
            lock (gate)
            {
                TryCommit();
            }
        }

        if (PendingCount() > 0)
        {
            // Harmless for the store (it resumes from its own progress); the group's lag just reads high.
            logger.LogWarning("Offsets of {Partitions} partition(s) could not be committed to Kafka", PendingCount());
        }
    }

    /// <summary>
    /// About once a second: the partitions' end offsets (the watermark moves once the store reaches them), and another
    /// try for offsets whose commit failed, which would otherwise wait for a batch that may never come (the stream's
    /// last records).
    /// </summary>
    public async Task ProbeAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                watermark?.Probe(consumer!, TimeSpan.FromSeconds(5));
            }
            catch (KafkaException ex)
            {
                logger.LogDebug("Watermark probe failed: {Reason}", ex.Error.Reason);
            }

            lock (gate)
            {
                if (pending.Count > 0)
                {
                    TryCommit();
                }
            }

            await RefreshIdleProgressAsync(stopping);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task RefreshIdleProgressAsync(CancellationToken stopping)
    {
        if (recordProgress is null)
        {
            return;
        }

        List<PartitionProgress> idle;
        var now = Environment.TickCount64;
        lock (gate)
        {
            idle = [.. recorded.Where(r => now - r.Value.At >= refreshMilliseconds).Select(r => new PartitionProgress(r.Key, r.Value.Next))];
        }

        if (idle.Count == 0)
        {
            return;
        }

        try
        {
            await recordProgress(idle, stopping);
            lock (gate)
            {
                foreach (var p in idle.Where(p => recorded.TryGetValue(p.Source, out var r) && r.Next == p.NextOffset))
                {
                    recorded[p.Source] = (p.NextOffset, now);
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Only the next owner's resume scan grows; tried again within a second.
            logger.LogDebug("Recording the progress of {Partitions} idle partition(s) failed: {Reason}", idle.Count, ex.Message);
        }
    }

    /// <summary>This consumer stops vouching for the watermark.</summary>
    public void Leave() => watermark?.Leave();

    private void Forget(List<TopicPartitionOffset> partitions)
    {
        foreach (var p in partitions)
        {
            var partition = new KafkaPartition(p.Topic, p.Partition.Value);
            pending.Remove(partition);
            recorded.Remove(partition);
            metrics.Lag.TryRemove(partition, out _);
            watermark?.Forget(p.TopicPartition);
        }
    }

    private int PendingCount()
    {
        lock (gate)
        {
            return pending.Count;
        }
    }

    private void TryCommit()
    {
        try
        {
            consumer!.Commit(pending.Select(kv => new TopicPartitionOffset(kv.Key.Topic, kv.Key.Partition, new Offset(kv.Value))));
            pending.Clear();
            if (failingCommits > 0)
            {
                logger.LogInformation("Offset commit succeeded after {Failures} failed attempt(s)", failingCommits);
                failingCommits = 0;
            }
        }
        catch (KafkaException ex)
        {
            metrics.CountCommitError();

            // Retried each second while the broker is away: the first failure is a warning, the rest are counted.
            var level = failingCommits++ == 0 ? LogLevel.Warning : LogLevel.Debug;
            logger.Log(level, "Offset commit failed ({Reason}); retried with the next batch or within a second", ex.Error.Reason);
        }
    }

    private void UpdateLag(IReadOnlyList<PartitionProgress> progress)
    {
        foreach (var p in progress)
        {
            var high = consumer!.GetWatermarkOffsets(new TopicPartition(p.Source.Topic, p.Source.Partition)).High;
            if (high != Offset.Unset)
            {
                metrics.Lag[p.Source] = Math.Max(0, high.Value - p.NextOffset);
            }
        }
    }
}
