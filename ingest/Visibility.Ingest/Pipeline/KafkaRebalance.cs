using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// The consumer group's rebalances, handled on the consume thread: partitions arriving resume where the store says
/// (skipping what an unacknowledged insert already stored), partitions leaving are stored and committed first, and
/// partitions lost are forgotten. Either way, whatever was read before is stored before anything else happens, so a
/// rebalance neither loses nor repeats a record.
/// </summary>
public sealed class KafkaRebalance(
    FlowPipeline pipeline, BatchChannel queue, BatchWriter writer, KafkaCommitter committer, KafkaLogStart logStart, SourceMetrics metrics, ILogger logger)
{
    /// <summary>
    /// New partitions: ask the store where each resumes, and which records beyond that an insert that was never
    /// acknowledged already stored (those are skipped), so a crash anywhere between insert and commit neither loses
    /// nor repeats a record. Where each starts is checked against the partition's log (<see cref="KafkaLogStart"/>).
    /// </summary>
    public List<TopicPartitionOffset> OnAssigned(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartition> partitions, CancellationToken stopping)
    {
        metrics.CountAssigned();

        // Records of these partitions may still be on their way to the store (this consumer lost them, say after a
        // session timeout, and now has them back): where they resume is asked only once everything read is stored,
        // or those records would be read and stored again.
        DrainToStore(stopping);
        var wanted = partitions.Select(p => new KafkaPartition(p.Topic, p.Partition.Value)).ToList();
        var resumes = logStart.OfCurrentLogs(writer.Resume(wanted, stopping));
        pipeline.SkipStored(resumes);
        committer.Resumed(resumes);
        var starts = logStart.Check(consumer, resumes);
        logger.LogInformation("Assigned {Partitions}", string.Join(", ", starts.Select(s => $"{s.Topic}/{s.Partition.Value}@{(s.Offset.Value >= 0 ? s.Offset.Value.ToString(CultureInfo.InvariantCulture) : "start")}")));
        return starts;
    }

    /// <summary>
    /// Partitions leaving this consumer: store and commit everything read from them first, so their next owner
    /// resumes right after it.
    /// </summary>
    public void OnRevoked(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartitionOffset> partitions)
    {
        metrics.CountRevoked();
        DrainToStore(CancellationToken.None);
        committer.CommitAndForget(partitions);
        Forget(consumer, partitions);
        logger.LogInformation("Revoked {Partitions}", string.Join(", ", partitions.Select(p => $"{p.Topic}/{p.Partition.Value}")));
    }

    /// <summary>Partitions taken away without a revocation (the session expired): they can no longer be committed.</summary>
    public void OnLost(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartitionOffset> partitions)
    {
        metrics.CountLost();
        committer.ForgetLost(partitions);
        Forget(consumer, partitions);
        logger.LogWarning("Lost {Partitions}; their next owner resumes from the store's progress", string.Join(", ", partitions.Select(p => $"{p.Topic}/{p.Partition.Value}")));
    }

    /// <summary>Hands the batch being filled to the writer and waits until it has finished every batch handed to it.</summary>
    private void DrainToStore(CancellationToken cancellation)
    {
        if (!queue.WriterDone && pipeline.Current.Messages > 0)
        {
            pipeline.Hand(cancellation);
        }

        queue.WaitForWriter(cancellation);
    }

    /// <summary>
    /// Drops what this consumer kept about partitions leaving it. They leave unpaused: the client keeps a partition's
    /// pause across its revocation, so one revoked while the source had paused it (the store falling behind) would
    /// otherwise never be read again when a later rebalance gives it back.
    /// </summary>
    private void Forget(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartitionOffset> partitions)
    {
        consumer.Resume(partitions.Select(p => p.TopicPartition));
        foreach (var p in partitions)
        {
            pipeline.Forget(new KafkaPartition(p.Topic, p.Partition.Value));
            logStart.Forget(new KafkaPartition(p.Topic, p.Partition.Value));
        }
    }
}
