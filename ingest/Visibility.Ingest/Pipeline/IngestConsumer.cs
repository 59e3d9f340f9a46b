using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// One member of the ingest consumer group: a thread that consumes its topics (each with its own decoder),
/// decodes, enriches and encodes records into
/// batches, and a writer that inserts each batch and only then commits its offsets. The two are joined by a
/// bounded channel: when the store falls behind, the channel fills and consumption waits.
/// </summary>
public sealed class IngestConsumer
{
    private readonly IFlowStore store;
    private readonly IReadOnlyDictionary<string, IFlowDecoder> decoders;
    private readonly ILabelLookup labels;
    private readonly IngestMetrics metrics;
    private readonly IngestOptions options;
    private readonly KafkaOptions kafka;
    private readonly IProducer<byte[]?, byte[]?> deadLetters;
    private readonly ILogger logger;
    private readonly Channel<FlowBatch> filled;
    private readonly ConcurrentQueue<FlowBatch> spare = new();

    public IngestConsumer(
        IFlowStore store, IReadOnlyDictionary<string, IFlowDecoder> decoders, ILabelLookup labels, IngestMetrics metrics,
        IngestOptions options, KafkaOptions kafka, IProducer<byte[]?, byte[]?> deadLetters, ILogger logger)
    {
        this.store = store;
        this.decoders = decoders;
        this.labels = labels;
        this.metrics = metrics;
        this.options = options;
        this.kafka = kafka;
        this.deadLetters = deadLetters;
        this.logger = logger;
        filled = Channel.CreateBounded<FlowBatch>(new BoundedChannelOptions(options.QueueDepth)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
    }

    /// <summary>Runs until <paramref name="stopping"/> fires, then stores and commits what it has read.</summary>
    public async Task RunAsync(string bootstrapServers, CancellationToken stopping)
    {
        var config = KafkaClientConfig.Apply(new ConsumerConfig
        {
            GroupId = kafka.GroupId,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
        }, kafka, bootstrapServers);

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, e) => logger.LogWarning("Kafka consumer error {Code}: {Reason}", e.Code, e.Reason))
            .SetPartitionsAssignedHandler((_, parts) => logger.LogInformation("Assigned {Partitions}", string.Join(",", parts.Select(p => p.Partition.Value))))
            .SetPartitionsRevokedHandler((_, parts) => logger.LogInformation("Revoked {Partitions}", string.Join(",", parts.Select(p => p.Partition.Value))))
            .Build();
        consumer.Subscribe(decoders.Keys);

        // The writer must outlive the stop signal long enough to store what was consumed before it.
        using var grace = new CancellationTokenSource();
        var writer = Task.Run(() => WriteLoopAsync(consumer, grace.Token), CancellationToken.None);
        var reader = Task.Factory.StartNew(() => ConsumeLoop(consumer, stopping), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await reader;
        }
        finally
        {
            filled.Writer.TryComplete();
            grace.CancelAfter(options.ShutdownGrace);
            await writer;
            consumer.Close();
        }
    }

    private void ConsumeLoop(IConsumer<byte[]?, byte[]?> consumer, CancellationToken stopping)
    {
        var batch = Rent();
        var record = default(FlowRecord);
        var linger = (long)options.BatchLinger.TotalMilliseconds;
        var index = labels.Current;
        while (!stopping.IsCancellationRequested)
        {
            ConsumeResult<byte[]?, byte[]?>? result;
            try
            {
                result = consumer.Consume(TimeSpan.FromMilliseconds(50));
            }
            catch (ConsumeException ex)
            {
                logger.LogWarning("Consume failed: {Reason}", ex.Error.Reason);
                continue;
            }

            if (result is { IsPartitionEOF: false, Message: not null })
            {
                if (batch.Messages == 0)
                {
                    // A relabel takes effect from the next batch on.
                    index = labels.Current;
                }

                Handle(result, batch, ref record, index);
            }

            if (batch.Messages > 0 && (batch.Count >= options.BatchSize || Environment.TickCount64 - batch.StartedAt >= linger))
            {
                if (!Hand(batch, stopping))
                {
                    break;
                }

                batch = Rent();
            }
        }

        // Whatever was read before the stop is stored and committed.
        if (batch.Messages > 0)
        {
            filled.Writer.WriteAsync(batch, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }
    }

    private void Handle(ConsumeResult<byte[]?, byte[]?> result, FlowBatch batch, ref FlowRecord record, Flows.Labels.WorkloadIndex index)
    {
        metrics.CountIn();
        var value = result.Message.Value ?? [];
        var decoder = decoders[result.Topic];
        var status = decoder.Decode(value, ref record, out var reason);
        switch (status)
        {
            case DecodeStatus.Ok:
                if (record.StartMs == 0)
                {
                    // Some records carry no time (conntrack -L without timestamps): the time Kafka has for the
                    // message stands in.
                    record.StartMs = result.Message.Timestamp.Type == TimestampType.NotAvailable
                        ? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()
                        : result.Message.Timestamp.UnixTimestampMs;
                }

                FlowEnricher.Enrich(ref record, index);
                record.SourcePartition = result.Partition.Value;
                record.SourceOffset = result.Offset.Value;
                batch.Add(record);
                metrics.CountDecoded();
                break;
            case DecodeStatus.Skipped:
                metrics.CountSkipped();
                break;
            default:
                DeadLetter(result, decoder.Format, reason ?? "invalid");
                break;
        }

        batch.Track(result.TopicPartitionOffset);
    }

    private void DeadLetter(ConsumeResult<byte[]?, byte[]?> result, string format, string reason)
    {
        metrics.CountInvalid(reason);
        var headers = new Headers
        {
            { "visibility-reason", Encoding.UTF8.GetBytes(reason) },
            { "visibility-format", Encoding.UTF8.GetBytes(format) },
            { "visibility-source", Encoding.UTF8.GetBytes($"{result.Topic}/{result.Partition.Value}/{result.Offset.Value}") },
        };
        try
        {
            deadLetters.Produce(kafka.DeadLetterTopic, new Message<byte[]?, byte[]?> { Key = result.Message.Key, Value = result.Message.Value, Headers = headers },
                report =>
                {
                    if (report.Error.IsError)
                    {
                        metrics.CountDeadLetterError();
                        logger.LogError("Dead-letter delivery failed: {Reason}", report.Error.Reason);
                    }
                });
        }
        catch (ProduceException<byte[]?, byte[]?> ex)
        {
            metrics.CountDeadLetterError();
            logger.LogError("Dead-letter produce failed: {Reason}", ex.Error.Reason);
        }
    }

    private bool Hand(FlowBatch batch, CancellationToken stopping)
    {
        try
        {
            filled.Writer.WriteAsync(batch, stopping).AsTask().GetAwaiter().GetResult();
            return true;
        }
        catch (OperationCanceledException)
        {
            // Stopping while the queue is full: the shutdown path hands this batch over.
            return false;
        }
    }

    private async Task WriteLoopAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken grace)
    {
        // Offsets stored but not yet committed, per partition. A failed commit is retried with the next one, so a
        // transient error (a rebalance in progress) costs nothing; the last ones are retried before closing.
        var pending = new Dictionary<TopicPartition, long>();
        var stalled = false;
        await foreach (var batch in filled.Reader.ReadAllAsync(CancellationToken.None))
        {
            if (stalled || (batch.Count > 0 && !await InsertAsync(batch, grace)))
            {
                // Not stored within the shutdown grace: neither this batch's offsets nor any later ones may be
                // committed, or its records would be skipped; they are read again after the restart.
                stalled = true;
                Return(batch);
                continue;
            }

            if (deadLetters.Flush(TimeSpan.FromSeconds(10)) > 0)
            {
                logger.LogWarning("Dead-letter records still in flight; offsets of this batch are committed regardless");
            }

            batch.MergeOffsetsInto(pending);
            TryCommit(consumer, pending);
            metrics.CountStored(batch.Count);
            Return(batch);
        }

        for (var attempt = 0; attempt < 5 && pending.Count > 0; attempt++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200 * (attempt + 1)), CancellationToken.None);
            TryCommit(consumer, pending);
        }

        if (pending.Count > 0)
        {
            logger.LogWarning("Offsets of {Partitions} partition(s) could not be committed; their last records will be read again", pending.Count);
        }
    }

    private void TryCommit(IConsumer<byte[]?, byte[]?> consumer, Dictionary<TopicPartition, long> pending)
    {
        try
        {
            consumer.Commit(pending.Select(kv => new TopicPartitionOffset(kv.Key, new Offset(kv.Value))));
            pending.Clear();
        }
        catch (KafkaException ex)
        {
            metrics.CountCommitError();
            logger.LogWarning("Offset commit failed ({Reason}); retried with the next batch", ex.Error.Reason);
        }
    }

    private async Task<bool> InsertAsync(FlowBatch batch, CancellationToken grace)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                await store.InsertFlowsAsync(batch.Rows, grace);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                metrics.CountInsertRetry();
                logger.LogError(ex, "Inserting a batch of {Rows} rows failed; retrying in {Delay}", batch.Count, delay);
                try
                {
                    await Task.Delay(delay, grace);
                }
                catch (OperationCanceledException)
                {
                    return false;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private FlowBatch Rent() => spare.TryDequeue(out var batch) ? batch : new FlowBatch();

    private void Return(FlowBatch batch)
    {
        batch.Reset();
        if (spare.Count < options.QueueDepth + 2)
        {
            spare.Enqueue(batch);
        }
    }
}
