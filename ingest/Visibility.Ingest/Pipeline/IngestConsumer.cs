using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Findings;
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
/// bounded channel: when the store falls behind, the channel fills and consumption waits; when it stays full (the
/// store is down or failing), the consumer pauses its partitions and keeps polling until the writer takes batches again.
/// </summary>
public sealed class IngestConsumer
{
    /// <summary>
    /// How long the consume thread waits for room in a full queue before it pauses its partitions. Normal
    /// backpressure (an insert that takes a while) just waits: pausing drops the client's prefetched records, which
    /// are then fetched again. A longer stall is the store failing, and then polling must go on (see <see cref="HandOrPause"/>).
    /// </summary>
    private static readonly TimeSpan PauseAfter = TimeSpan.FromSeconds(1);

    private readonly IFlowStore store;
    private readonly IReadOnlyDictionary<string, IFlowDecoder> decoders;
    private readonly ILabelLookup labels;
    private readonly IngestMetrics metrics;
    private readonly IngestOptions options;
    private readonly KafkaOptions kafka;
    private readonly IProducer<byte[]?, byte[]?> deadLetters;
    private readonly ILogger logger;
    private readonly FindingRules findings;
    private readonly Channel<FlowBatch> filled;
    private readonly ConcurrentQueue<FlowBatch> spare = new();
    private readonly Dictionary<TopicPartition, SortedSet<long>> storedAhead = [];
    private readonly ConsumerWatermark? watermark;

    // Offsets stored in the store but not yet committed to Kafka, per partition; the writer adds, a revocation
    // removes. A failed commit is retried with the next one, so a transient error costs nothing.
    private readonly Dictionary<TopicPartition, long> pending = [];
    private readonly Lock pendingLock = new();

    // The batch being filled; owned by the consume thread (rebalance handlers run on it too).
    private FlowBatch current;
    private long handed;
    private long finished;
    private volatile bool writerDone;

    public IngestConsumer(
        IFlowStore store, IReadOnlyDictionary<string, IFlowDecoder> decoders, ILabelLookup labels, IngestMetrics metrics,
        IngestOptions options, KafkaOptions kafka, IProducer<byte[]?, byte[]?> deadLetters, ILogger logger,
        FindingRules? findings = null, IngestWatermark? watermark = null)
    {
        this.findings = findings ?? FindingRules.Default;
        this.watermark = watermark is null ? null : new ConsumerWatermark(watermark, TimeProvider.System);
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
        current = Rent();
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

            // Records prefetched by the client count against memory too: a backlog must not grow them beyond this.
            QueuedMaxMessagesKbytes = options.PrefetchKilobytes,

            // When that prefetch is full, librdkafka waits this long before fetching the partition again (1 s by
            // default): measured, consumption then stalls half of every second. The queue drains in milliseconds.
            FetchQueueBackoffMs = 10,
        }, kafka, bootstrapServers);

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, e) => logger.LogWarning("Kafka consumer error {Code}: {Reason}", e.Code, e.Reason))
            .SetPartitionsAssignedHandler((_, parts) => OnAssigned(parts, stopping))
            .SetPartitionsRevokedHandler((c, parts) => OnRevoked(c, parts))
            .SetPartitionsLostHandler((_, parts) => OnLost(parts))
            .Build();
        consumer.Subscribe(decoders.Keys);

        // The writer must outlive the stop signal long enough to store what was consumed before it, but no longer
        // than the shutdown grace: while the store is down, the last hand-over and the writer's retries give up then
        // (what they held is neither stored nor committed, so it is read again at the next start).
        using var grace = new CancellationTokenSource();
        var armed = 0;
        void Arm()
        {
            if (Interlocked.Exchange(ref armed, 1) == 0)
            {
                grace.CancelAfter(options.ShutdownGrace);
            }
        }

        using var arming = stopping.Register(Arm);
        var writer = Task.Run(() => WriteLoopAsync(consumer, grace.Token), CancellationToken.None);
        var reader = Task.Factory.StartNew(() => ConsumeLoop(consumer, stopping, grace.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var probing = watermark is null ? Task.CompletedTask : Task.Run(() => ProbeLoopAsync(consumer, stopping), CancellationToken.None);
        try
        {
            await reader;
        }
        finally
        {
            filled.Writer.TryComplete();
            Arm();
            await writer;
            await probing;
            watermark?.Leave();
            consumer.Close();
        }
    }

    /// <summary>About once a second, the partitions' end offsets: the watermark moves once the store reaches them.</summary>
    private async Task ProbeLoopAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                watermark!.Probe(consumer, TimeSpan.FromSeconds(5));
            }
            catch (KafkaException ex)
            {
                logger.LogDebug("Watermark probe failed: {Reason}", ex.Error.Reason);
            }

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

    private void ConsumeLoop(IConsumer<byte[]?, byte[]?> consumer, CancellationToken stopping, CancellationToken grace)
    {
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
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                // A partition assignment gave up because the process is stopping.
                break;
            }

            if (result is { IsPartitionEOF: false, Message: not null })
            {
                if (current.Messages == 0)
                {
                    // A relabel takes effect from the next batch on.
                    index = labels.Current;
                }

                Handle(result, current, ref record, index);
            }

            if (current.Messages > 0 && (current.Count >= options.BatchSize || Environment.TickCount64 - current.StartedAt >= linger)
                && !HandOrPause(consumer, ref record, index, stopping))
            {
                break;
            }
        }

        // Whatever was read before the stop is stored and committed, if the writer takes it within the grace.
        if (current.Messages > 0 && !Hand(grace))
        {
            metrics.Release(current.Messages);
            logger.LogWarning("Stopping: {Records} records read were not handed to the store within the shutdown grace; they are read again at the next start", current.Messages);
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
    private bool HandOrPause(IConsumer<byte[]?, byte[]?> consumer, ref FlowRecord record, Flows.Labels.WorkloadIndex index, CancellationToken stopping)
    {
        if (TryHand() || (WaitForRoom(PauseAfter, stopping) && TryHand()))
        {
            return true;
        }

        if (stopping.IsCancellationRequested)
        {
            return false;
        }

        var batch = current;
        var paused = consumer.Assignment;
        consumer.Pause(paused);
        metrics.SetPaused(true);
        var since = Environment.TickCount64;
        logger.LogWarning("The store has taken no batch for {Wait}; pausing {Partitions} partition(s) with {Buffered} records held until it does",
            PauseAfter, paused.Count, metrics.Buffered);
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                // A rebalance handler may have handed the batch (a revocation drains before it completes).
                if (!ReferenceEquals(current, batch) || TryHand() || (WaitForRoom(TimeSpan.FromMilliseconds(100), stopping) && TryHand()))
                {
                    return true;
                }

                ConsumeResult<byte[]?, byte[]?>? result;
                try
                {
                    result = consumer.Consume(TimeSpan.Zero);
                }
                catch (ConsumeException ex)
                {
                    logger.LogWarning("Consume failed: {Reason}", ex.Error.Reason);
                    continue;
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    break;
                }

                if (result is { IsPartitionEOF: false, Message: not null })
                {
                    // Only a partition assigned during the pause returns records (rare: an assignment waits for the
                    // writer to drain). The record is kept, and pausing the partition now resumes it after this record.
                    Handle(result, current, ref record, index);
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

    /// <summary>Waits until the queue has room for a batch, at most <paramref name="timeout"/>.</summary>
    private bool WaitForRoom(TimeSpan timeout, CancellationToken stopping)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        wait.CancelAfter(timeout);
        try
        {
            return filled.Writer.WaitToWriteAsync(wait.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Waits until the writer has finished every batch handed to it (stored, or given up at shutdown).</summary>
    private void WaitForWriter(CancellationToken stopping)
    {
        var target = Interlocked.Read(ref handed);
        while (!writerDone && Interlocked.Read(ref finished) < target)
        {
            stopping.ThrowIfCancellationRequested();
            Thread.Sleep(5);
        }
    }

    /// <summary>
    /// New partitions: ask the store where each resumes, and which records beyond that an insert that was never
    /// acknowledged already stored (those are skipped), so a crash anywhere between insert and commit neither loses
    /// nor repeats a record.
    /// </summary>
    private List<TopicPartitionOffset> OnAssigned(List<TopicPartition> partitions, CancellationToken stopping)
    {
        metrics.CountAssigned();

        // Records of these partitions may still be on their way to the store (this consumer lost them, say after a
        // session timeout, and now has them back): where they resume is asked only once everything read is stored,
        // or those records would be read and stored again.
        if (!writerDone && current.Messages > 0)
        {
            Hand(stopping);
        }

        WaitForWriter(stopping);
        var wanted = partitions.Select(p => new KafkaPartition(p.Topic, p.Partition.Value)).ToList();
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                var resumes = store.ResumeAsync(wanted, stopping).GetAwaiter().GetResult();
                foreach (var resume in resumes)
                {
                    if (resume.StoredOffsets.Count > 0)
                    {
                        storedAhead[new TopicPartition(resume.Source.Topic, resume.Source.Partition)] = [.. resume.StoredOffsets];
                        logger.LogWarning("{Partition}: the store already holds {Rows} records from offset {Offset} on (an insert that was never acknowledged); they are skipped",
                            resume.Source, resume.StoredOffsets.Count, resume.NextOffset ?? 0);
                    }
                    else
                    {
                        storedAhead.Remove(new TopicPartition(resume.Source.Topic, resume.Source.Partition));
                    }
                }

                foreach (var resume in resumes.Where(r => r.NextOffset is not null))
                {
                    watermark?.Stored(new TopicPartition(resume.Source.Topic, resume.Source.Partition), resume.NextOffset!.Value);
                }

                logger.LogInformation("Assigned {Partitions}", string.Join(", ", resumes.Select(r => $"{r.Source}@{(r.NextOffset is { } n ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) : "committed")}")));
                return resumes.Select(r => new TopicPartitionOffset(r.Source.Topic, r.Source.Partition, r.NextOffset is { } next ? new Offset(next) : Offset.Unset)).ToList();
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ex is not OutOfMemoryException)
            {
                // Reading a partition without knowing what the store holds could duplicate records: wait for the store.
                metrics.CountStoreError("resume");
                logger.LogError(ex, "Could not read the store's progress for {Partitions}; retrying in {Delay}", string.Join(", ", wanted), delay);
                stopping.WaitHandle.WaitOne(delay);
                stopping.ThrowIfCancellationRequested();
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    /// <summary>
    /// Partitions leaving this consumer: store and commit everything read from them first, so their next owner
    /// resumes right after it.
    /// </summary>
    private void OnRevoked(IConsumer<byte[]?, byte[]?> consumer, List<TopicPartitionOffset> partitions)
    {
        metrics.CountRevoked();
        if (!writerDone && current.Messages > 0)
        {
            Hand(CancellationToken.None);
        }

        WaitForWriter(CancellationToken.None);

        lock (pendingLock)
        {
            if (pending.Count > 0)
            {
                TryCommit(consumer);
            }

            Forget(partitions);
        }

        logger.LogInformation("Revoked {Partitions}", string.Join(", ", partitions.Select(p => $"{p.Topic}/{p.Partition.Value}")));
    }

    /// <summary>Partitions taken away without a revocation (the session expired): they can no longer be committed.</summary>
    private void OnLost(List<TopicPartitionOffset> partitions)
    {
        metrics.CountLost();
        lock (pendingLock)
        {
            Forget(partitions);
        }

        logger.LogWarning("Lost {Partitions}; their next owner resumes from the store's progress", string.Join(", ", partitions.Select(p => $"{p.Topic}/{p.Partition.Value}")));
    }

    private void Forget(List<TopicPartitionOffset> partitions)
    {
        foreach (var p in partitions)
        {
            pending.Remove(p.TopicPartition);
            storedAhead.Remove(p.TopicPartition);
            metrics.Lag.TryRemove(new KafkaPartition(p.Topic, p.Partition.Value), out _);
            watermark?.Forget(p.TopicPartition);
        }
    }

    private void Handle(ConsumeResult<byte[]?, byte[]?> result, FlowBatch batch, ref FlowRecord record, Flows.Labels.WorkloadIndex index)
    {
        metrics.CountIn();
        if (storedAhead.Count > 0 && IsStoredAhead(result))
        {
            metrics.CountAlreadyStored();
            batch.Track(result.TopicPartitionOffset);
            return;
        }

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

                metrics.CountDecoded();
                FlowEnricher.Enrich(ref record, index);
                record.Findings = findings.Classify(record.Src!, record.Dst!);
                metrics.CountEnriched();
                record.SourceTopic = result.Topic;
                record.SourcePartition = result.Partition.Value;
                record.SourceOffset = result.Offset.Value;
                batch.Add(record);
                batch.Track(result.TopicPartitionOffset, row: true);
                return;
            case DecodeStatus.Skipped:
                metrics.CountSkipped();
                break;
            default:
                DeadLetter(result, decoder.Format, reason ?? "invalid");
                break;
        }

        batch.Track(result.TopicPartitionOffset);
    }

    /// <summary>Whether an unacknowledged insert already stored this record (see <see cref="OnAssigned"/>).</summary>
    private bool IsStoredAhead(ConsumeResult<byte[]?, byte[]?> result)
    {
        if (!storedAhead.TryGetValue(result.TopicPartition, out var offsets))
        {
            return false;
        }

        var stored = offsets.Remove(result.Offset.Value);
        if (offsets.Count == 0 || result.Offset.Value >= offsets.Max)
        {
            storedAhead.Remove(result.TopicPartition);
        }

        return stored;
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

    /// <summary>Hands the batch in hand to the writer, waiting for room; false if <paramref name="cancellation"/> fires first.</summary>
    private bool Hand(CancellationToken cancellation)
    {
        try
        {
            current.HandedAt = Environment.TickCount64;
            filled.Writer.WriteAsync(current, cancellation).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            // Stopping while the queue is full: the shutdown path hands this batch over.
            return false;
        }
        catch (ChannelClosedException)
        {
            return false;
        }

        Interlocked.Increment(ref handed);
        current = Rent();
        return true;
    }

    /// <summary>Hands the batch in hand to the writer if the queue has room.</summary>
    private bool TryHand()
    {
        current.HandedAt = Environment.TickCount64;
        if (!filled.Writer.TryWrite(current))
        {
            return false;
        }

        Interlocked.Increment(ref handed);
        current = Rent();
        return true;
    }

    private async Task WriteLoopAsync(IConsumer<byte[]?, byte[]?> consumer, CancellationToken grace)
    {
        var stalled = false;
        var group = new List<FlowBatch>();
        try
        {
            while (await filled.Reader.WaitToReadAsync(CancellationToken.None))
            {
                // Batches that queued up while the last insert ran are stored together: under load, fewer and
                // larger inserts (cheaper parts and merges); when idle, each batch goes alone, as soon as it is full.
                group.Clear();
                var rows = 0;
                while (rows < options.InsertRows && filled.Reader.TryRead(out var batch))
                {
                    group.Add(batch);
                    rows += batch.Count;
                }

                // Stored means: rows inserted, dead letters delivered, then progress recorded. Only then are the
                // offsets committed. A group not stored within the shutdown grace stops all later ones: neither its
                // offsets nor any after it may be recorded, or its records would be skipped.
                var progress = Progress(group);
                stalled = stalled || !await StoreAsync(group, rows, progress, grace);
                if (!stalled)
                {
                    // Counted before the Kafka commit, so whoever sees the offsets committed sees the count too.
                    metrics.CountStored(rows, (Environment.TickCount64 - group[0].HandedAt) / 1000.0);
                    lock (pendingLock)
                    {
                        foreach (var batch in group)
                        {
                            batch.MergeOffsetsInto(pending);
                        }

                        TryCommit(consumer);
                    }

                    UpdateLag(consumer, progress);
                    foreach (var p in progress)
                    {
                        watermark?.Stored(new TopicPartition(p.Source.Topic, p.Source.Partition), p.NextOffset);
                    }
                }

                var messages = 0L;
                foreach (var batch in group)
                {
                    messages += batch.Messages;
                    Return(batch);
                }

                metrics.Release(messages);
                Interlocked.Add(ref finished, group.Count);
            }

            for (var attempt = 0; attempt < 5 && PendingCount() > 0; attempt++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * (attempt + 1)), CancellationToken.None);
                lock (pendingLock)
                {
                    TryCommit(consumer);
                }
            }

            if (PendingCount() > 0)
            {
                // Harmless for the store (it resumes from its own progress); the group's lag just reads high.
                logger.LogWarning("Offsets of {Partitions} partition(s) could not be committed to Kafka", PendingCount());
            }
        }
        finally
        {
            writerDone = true;
        }
    }

    private async Task<bool> StoreAsync(List<FlowBatch> group, int rows, List<PartitionProgress> progress, CancellationToken grace)
    {
        var unstored = group.Where(b => b.Count > 0).ToList();
        var failedBefore = false;
        async Task InsertAsync()
        {
            if (failedBefore)
            {
                // A failed insert may have stored its rows all the same: the answer was lost (the connection dropped,
                // the server died after writing the part) or a materialized view failed after the raw part was
                // written (a full disk). What the store holds now is not inserted again.
                unstored = await UnstoredAsync(unstored, grace);
            }

            failedBefore = true;
            if (unstored.Count > 0)
            {
                await store.InsertFlowsAsync(unstored.Select(b => b.Rows).ToList(), group[0].Encoding, grace);
            }
        }

        if (unstored.Count > 0 && !await RetryAsync("insert", rows, InsertAsync, grace))
        {
            return false;
        }

        if (deadLetters.Flush(TimeSpan.FromSeconds(10)) > 0)
        {
            logger.LogWarning("Dead-letter records still in flight; the batch's progress is recorded regardless");
        }

        return await RetryAsync("progress", rows, () => store.RecordProgressAsync(progress, grace), grace);
    }

    /// <summary>Per partition, the offset after the last record of any batch in the group.</summary>
    private static List<PartitionProgress> Progress(List<FlowBatch> group)
    {
        var next = new Dictionary<TopicPartition, long>();
        foreach (var batch in group)
        {
            batch.MergeOffsetsInto(next);
        }

        return next.Select(kv => new PartitionProgress(new KafkaPartition(kv.Key.Topic, kv.Key.Partition.Value), kv.Value)).ToList();
    }

    private int PendingCount()
    {
        lock (pendingLock)
        {
            return pending.Count;
        }
    }

    private void TryCommit(IConsumer<byte[]?, byte[]?> consumer)
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

    private void UpdateLag(IConsumer<byte[]?, byte[]?> consumer, List<PartitionProgress> progress)
    {
        foreach (var p in progress)
        {
            var high = consumer.GetWatermarkOffsets(new TopicPartition(p.Source.Topic, p.Source.Partition)).High;
            if (high != Offset.Unset)
            {
                metrics.Lag[p.Source] = Math.Max(0, high.Value - p.NextOffset);
            }
        }
    }

    /// <summary>
    /// The batches of <paramref name="batches"/> the store does not hold yet. The store is asked, as on an assignment,
    /// which offsets beyond each partition's recorded progress it holds; a batch whose rows are all there was stored.
    /// A batch with only some of its rows there (an insert split into parts, one of which failed) is inserted whole
    /// again: a batch cannot be split once encoded, and duplicates are what <c>verify-store</c> finds, unlike loss.
    /// </summary>
    private async Task<List<FlowBatch>> UnstoredAsync(List<FlowBatch> batches, CancellationToken cancellation)
    {
        var partitions = batches.SelectMany(b => b.RowRanges).Select(r => new KafkaPartition(r.Partition.Topic, r.Partition.Partition.Value)).Distinct().ToList();
        var stored = (await store.ResumeAsync(partitions, cancellation)).ToDictionary(r => r.Source, r => r.StoredOffsets);
        var remaining = new List<FlowBatch>(batches.Count);
        var landed = 0;
        foreach (var batch in batches)
        {
            var found = 0;
            foreach (var (partition, range) in batch.RowRanges)
            {
                if (stored.TryGetValue(new KafkaPartition(partition.Topic, partition.Partition.Value), out var offsets))
                {
                    found += CountBetween(offsets, range.First, range.Last);
                }
            }

            if (found >= batch.Count)
            {
                landed++;
                continue;
            }

            if (found > 0)
            {
                logger.LogWarning("A failed insert stored {Found} of a batch's {Rows} rows; the batch is inserted again whole (a replicated table drops the repeated block, a single server stores those rows twice)", found, batch.Count);
            }

            remaining.Add(batch);
        }

        if (landed > 0)
        {
            metrics.CountLandedUnacknowledged(landed);
            logger.LogWarning("{Landed} of {Batches} batch(es) were stored by an insert that reported a failure; they are not inserted again", landed, batches.Count);
        }

        return remaining;
    }

    /// <summary>How many of the ascending <paramref name="offsets"/> lie in [<paramref name="first"/>, <paramref name="last"/>].</summary>
    private static int CountBetween(IReadOnlyList<long> offsets, long first, long last)
    {
        static int LowerBound(IReadOnlyList<long> offsets, long value)
        {
            var (lo, hi) = (0, offsets.Count);
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                (lo, hi) = offsets[mid] < value ? (mid + 1, hi) : (lo, mid);
            }

            return lo;
        }

        return LowerBound(offsets, last + 1) - LowerBound(offsets, first);
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, with exponential backoff up to 10 s, until
    /// <paramref name="grace"/> fires. A streak of failures marks the store unavailable (<c>/readyz</c>,
    /// <c>visibility_store_available</c>) until an attempt succeeds; its first failure is logged as an error, each
    /// retry with the streak's length.
    /// </summary>
    private async Task<bool> RetryAsync(string operation, int rows, Func<Task> attempt, CancellationToken grace)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        var failures = 0;
        var since = DateTimeOffset.MinValue;
        while (true)
        {
            try
            {
                await attempt();
                if (failures > 0)
                {
                    metrics.StoreRecovered();
                    logger.LogInformation("Store {Operation} succeeded after {Failures} failed attempt(s) over {Seconds:F1} s; the store is available again",
                        operation, failures, (DateTimeOffset.UtcNow - since).TotalSeconds);
                }

                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                failures++;
                since = failures == 1 ? DateTimeOffset.UtcNow : since;
                metrics.CountStoreError(operation);
                metrics.CountInsertRetry();
                metrics.StoreFailed(failures == 1, new StoreFailure(operation, ex.Message, since, failures));

                // The store's own errors say what happened; anything else gets its stack trace.
                var detail = ex is StoreException or Flows.Store.Chdb.ChdbException ? null : ex;
                if (failures == 1)
                {
                    logger.LogError(detail, "Store {Operation} of {Rows} rows failed: {Reason}. Retrying with backoff; reading pauses while batches wait ({Buffered} records held)",
                        operation, rows, ex.Message, metrics.Buffered);
                }
                else
                {
                    logger.LogError(detail, "Store {Operation} of {Rows} rows failed again ({Failures} attempts in {Seconds:F0} s; next in {Delay}): {Reason}",
                        operation, rows, failures, (DateTimeOffset.UtcNow - since).TotalSeconds, delay, ex.Message);
                }

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

    private FlowBatch Rent() => spare.TryDequeue(out var batch) ? batch : new FlowBatch(options.Encoding);

    private void Return(FlowBatch batch)
    {
        batch.Reset();
        if (spare.Count < options.QueueDepth + 2)
        {
            spare.Enqueue(batch);
        }
    }
}
