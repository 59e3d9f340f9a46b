using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Store;
using Visibility.Ingest.Kafka;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Reads the topics and feeds each record to the <see cref="FlowPipeline"/>, delivering the dead letters it returns;
/// hands each due batch to the writer. When the writer's queue stays full (the store is down or failing), the source
/// pauses its partitions and keeps polling until the writer takes batches again.
/// </summary>
public sealed class KafkaSource(
    IngestOptions options, KafkaOptions kafka, FlowPipeline pipeline, BatchChannel queue, DeadLetterPublisher deadLetters, KafkaLogStart logStart,
    SourceMetrics metrics, ILogger logger, string? groupInstanceId = null)
{
    /// <summary>
    /// How long the consume thread waits for room in a full queue before it pauses its partitions. Normal
    /// backpressure (an insert that takes a while) just waits: pausing drops the client's prefetched records, which
    /// are then fetched again. A longer stall is the store failing, and then polling must go on (see <see cref="HandOrPause"/>).
    /// </summary>
    private static readonly TimeSpan PauseAfter = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Builds the consumer, its rebalance handlers on <paramref name="rebalance"/> and its log on
    /// <paramref name="clientLog"/> (librdkafka's own lines, see <see cref="KafkaLog"/>), and subscribes to <paramref name="topics"/>.
    /// </summary>
    public IConsumer<byte[]?, byte[]?> Open(string bootstrapServers, IEnumerable<string> topics, KafkaRebalance rebalance, ILogger clientLog, CancellationToken stopping)
    {
        var config = KafkaClientConfig.Apply(new ConsumerConfig
        {
            GroupId = kafka.GroupId,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            // Only for a partition without a position (no progress, no committed offset): KafkaLogStart gives every
            // other one an offset inside its log, and reports a position that fell off it.
            AutoOffsetReset = kafka.ResetsToLatest ? AutoOffsetReset.Latest : AutoOffsetReset.Earliest,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,

            // Records prefetched by the client count against memory too: a backlog must not grow them beyond this.
            QueuedMaxMessagesKbytes = options.PrefetchKilobytes,

            // When that prefetch is full, librdkafka waits this long before fetching the partition again (1 s by
            // default): measured, consumption then stalls half of every second. The queue drains in milliseconds.
            FetchQueueBackoffMs = 10,

            // Statistics (lag, broker round trips) for /metrics and /readyz: the handler only keeps the document.
            StatisticsIntervalMs = (int)kafka.StatisticsInterval.TotalMilliseconds,
        }, kafka, bootstrapServers);
        if (groupInstanceId is not null)
        {
            config.GroupInstanceId = groupInstanceId;
        }

        metrics.Kafka.Interval = kafka.StatisticsInterval;
        var builder = new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, e) => logger.LogWarning("Kafka consumer error {Code}: {Reason}", e.Code, e.Reason))
            .SetLogHandler(KafkaLog.Handler(clientLog))
            .SetPartitionsAssignedHandler((c, parts) => rebalance.OnAssigned(c, parts, stopping))
            .SetPartitionsRevokedHandler((c, parts) => rebalance.OnRevoked(c, parts))
            .SetPartitionsLostHandler((c, parts) => rebalance.OnLost(c, parts));
        if (kafka.StatisticsInterval > TimeSpan.Zero)
        {
            builder.SetStatisticsHandler((client, json) => metrics.Kafka.Update(client.Name, json));
        }

        var consumer = builder.Build();
        consumer.Subscribe(topics);
        return consumer;
    }

    /// <summary>Reads until <paramref name="stopping"/> fires, then hands what it read to the writer if it takes it within <paramref name="grace"/>.</summary>
    public void ConsumeLoop(IConsumer<byte[]?, byte[]?> consumer, CancellationToken stopping, CancellationToken grace)
    {
        while (!stopping.IsCancellationRequested)
        {
            if (!Poll(consumer, TimeSpan.FromMilliseconds(50), stopping, out var result))
            {
                break;
            }

            if (result is not null)
            {
                Accept(consumer, result);
            }

            if (pipeline.BatchDue && !HandOrPause(consumer, stopping))
            {
                break;
            }
        }

        // Whatever was read before the stop is stored and committed, if the writer takes it within the grace.
        if (pipeline.Current.Messages > 0 && !pipeline.Hand(grace))
        {
            var held = pipeline.Abandon();
            logger.LogWarning("Stopping: {Records} records read were not handed to the store within the shutdown grace; they are read again at the next start", held);
        }
    }

    /// <summary>One poll: <paramref name="record"/> is the message read, if any; false when the process is stopping.</summary>
    private bool Poll(IConsumer<byte[]?, byte[]?> consumer, TimeSpan timeout, CancellationToken stopping, out ConsumeResult<byte[]?, byte[]?>? record)
    {
        record = null;
        try
        {
            var result = consumer.Consume(timeout);
            if (result is { IsPartitionEOF: false, Message: not null })
            {
                record = result;
            }
        }
        catch (ConsumeException ex)
        {
            logger.LogWarning("Consume failed: {Reason}", ex.Error.Reason);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // A partition assignment gave up because the process is stopping.
            return false;
        }

        return true;
    }

    private void Accept(IConsumer<byte[]?, byte[]?> consumer, ConsumeResult<byte[]?, byte[]?> result)
    {
        logStart.Consumed(consumer, new KafkaPartition(result.Topic, result.Partition.Value), result.Offset.Value);
        var message = result.Message;
        var timestamp = message.Timestamp;
        var record = new SourceRecord(result.Topic, result.Partition.Value, result.Offset.Value,
            timestamp.Type == TimestampType.NotAvailable ? null : timestamp.UnixTimestampMs, message.Value);
        if (pipeline.Accept(record, out var deadLetter) == RecordOutcome.DeadLettered)
        {
            deadLetters.Publish(deadLetter, message);
        }
    }

    /// <summary>
    /// Hands the batch in hand to the writer. When the queue stays full longer than <see cref="PauseAfter"/> (the
    /// store is down or failing), the consumer pauses its partitions rather than block: librdkafka drops what it
    /// prefetched for them and resumes each at the record after the last one read, so nothing more is read into
    /// memory; and polling on keeps this member in its group (a consumer that stops polling for max.poll.interval.ms
    /// is expelled, and its partitions would be read again elsewhere while its queue still waits for the store) and
    /// serves rebalances. False when stopping.
    /// </summary>
    private bool HandOrPause(IConsumer<byte[]?, byte[]?> consumer, CancellationToken stopping)
    {
        if (pipeline.TryHand() || (queue.WaitForRoom(PauseAfter, stopping) && pipeline.TryHand()))
        {
            return true;
        }

        if (stopping.IsCancellationRequested)
        {
            return false;
        }

        var batch = pipeline.Current;
        var paused = consumer.Assignment;
        consumer.Pause(paused);
        metrics.SetPaused(true);
        var since = Environment.TickCount64;
        logger.LogWarning("The store has taken no batch for {Wait}; pausing {Partitions} partition(s) with {Buffered} records held until it does",
            PauseAfter, paused.Count, queue.Buffered);
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                // A rebalance handler may have handed the batch (a revocation drains before it completes).
                if (!ReferenceEquals(pipeline.Current, batch) || pipeline.TryHand() || (queue.WaitForRoom(TimeSpan.FromMilliseconds(100), stopping) && pipeline.TryHand()))
                {
                    return true;
                }

                if (!Poll(consumer, TimeSpan.Zero, stopping, out var result))
                {
                    break;
                }

                if (result is not null)
                {
                    // Only a partition assigned during the pause returns records (rare: an assignment waits for the
                    // writer to drain). The record is kept, and pausing the partition now resumes it after this record.
                    Accept(consumer, result);
                    consumer.Pause([result.TopicPartition]);
                }
            }

            return false;
        }
        finally
        {
            consumer.Resume(consumer.Assignment);
            metrics.SetPaused(false);
            logger.LogInformation("Reading resumed after a pause of {Seconds:F1} s", (Environment.TickCount64 - since) / 1000.0);
        }
    }
}
