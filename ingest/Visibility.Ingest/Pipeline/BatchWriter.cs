using Microsoft.Extensions.Logging;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Stores the batches the pipeline hands over: batches that queued up while an insert ran go together as one insert,
/// then the group's progress is recorded, and only then is the source told (<see cref="IStoreAcknowledgement"/>),
/// which commits the offsets. An insert is retried with the same rows under the same <see cref="InsertToken"/>, so
/// what a failed attempt stored is not stored twice.
/// </summary>
public sealed class BatchWriter
{
    private readonly IFlowWriter store;
    private readonly BatchChannel queue;
    private readonly IStoreAcknowledgement acknowledgement;
    private readonly int insertRows;
    private readonly WriterMetrics metrics;
    private readonly ILogger logger;
    private readonly StoreRetry retry;

    public BatchWriter(IFlowWriter store, BatchChannel queue, IStoreAcknowledgement acknowledgement, IngestOptions options, WriterMetrics metrics, ILogger logger)
    {
        this.store = store;
        this.queue = queue;
        this.acknowledgement = acknowledgement;
        this.metrics = metrics;
        this.logger = logger;
        insertRows = options.InsertRows;
        retry = new StoreRetry(queue, metrics, logger);
    }

    /// <summary>Stores batches until the queue is completed and drained; gives up on what is not stored when <paramref name="grace"/> fires.</summary>
    public async Task RunAsync(CancellationToken grace)
    {
        var stalled = false;
        var group = new List<FlowBatch>();
        while (await queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // Batches that queued up while the last insert ran are stored together: under load, fewer and
            // larger inserts (cheaper parts and merges); when idle, each batch goes alone, as soon as it is full.
            group.Clear();
            var rows = 0;
            while (rows < insertRows && queue.Reader.TryRead(out var batch))
            {
                group.Add(batch);
                rows += batch.Count;
            }

            // Stored means: rows inserted, dead letters delivered, then progress recorded. Only then are the
            // offsets committed. A group not stored within the shutdown grace stops all later ones: neither its
            // offsets nor any after it may be recorded, or its records would be skipped.
            var progress = Progress(group);
            stalled = stalled || !await TracedStoreAsync(group, rows, progress, grace);
            if (!stalled)
            {
                // Counted before the commit, so whoever sees the offsets committed sees the count too.
                metrics.CountStored(rows, (Environment.TickCount64 - group[0].HandedAt) / 1000.0);
                using var committing = IngestTelemetry.StartGroup(IngestTelemetry.Commit, group, rows);
                acknowledgement.Stored(group, progress);
            }

            foreach (var batch in group)
            {
                batch.EndTrace(stalled ? "not stored within the shutdown grace" : null);
            }

            queue.Finished(group);
        }
    }

    /// <summary>
    /// Where <paramref name="partitions"/> resume according to the store, and what it holds beyond that; asked when
    /// partitions are assigned. Reading a partition without knowing what the store holds could duplicate records,
    /// so this waits for the store, retrying with backoff until it answers or <paramref name="stopping"/> fires.
    /// </summary>
    public IReadOnlyList<PartitionResume> Resume(List<KafkaPartition> partitions, CancellationToken stopping)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return store.ResumeAsync(partitions, stopping).GetAwaiter().GetResult();
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ex is not OutOfMemoryException)
            {
                metrics.CountStoreError("resume");
                logger.LogError(ex, "Could not read the store's progress for {Partitions}; retrying in {Delay}", string.Join(", ", partitions), delay);
                stopping.WaitHandle.WaitOne(delay);
                stopping.ThrowIfCancellationRequested();
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    /// <summary><see cref="StoreAsync"/> in the group's store span, the current span of the store's own spans.</summary>
    private async Task<bool> TracedStoreAsync(List<FlowBatch> group, int rows, List<PartitionProgress> progress, CancellationToken grace)
    {
        using var storing = IngestTelemetry.StartGroup(IngestTelemetry.Store, group, rows);
        var stored = await StoreAsync(group, rows, progress, grace);
        if (!stored)
        {
            storing?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "not stored within the shutdown grace");
        }

        return stored;
    }

    private async Task<bool> StoreAsync(List<FlowBatch> group, int rows, List<PartitionProgress> progress, CancellationToken grace)
    {
        // A failed insert may have stored some of its rows all the same: the answer was lost (the connection dropped,
        // the server died after writing the part), a view failed after the raw part was written (a full disk), one
        // shard of several took its rows. The retry sends the same rows under the same token, and every table keeps
        // what it has and adds what it missed.
        var batches = group.Where(b => b.Count > 0).ToList();
        if (batches.Count > 0)
        {
            var chunks = batches.Select(b => b.Rows).ToList();
            var token = Token(batches);
            if (!await retry.RunAsync("insert", rows, () => store.InsertFlowsAsync(chunks, group[0].Encoding, token, grace), grace))
            {
                return false;
            }
        }

        acknowledgement.DeliverDeadLetters();
        return await retry.RunAsync("progress", rows, () => store.RecordProgressAsync(progress, grace), grace);
    }

    /// <summary>
    /// The insert token of <paramref name="batches"/>: the Kafka records their rows came from (per batch, each
    /// partition's first and last offset with rows, and the number of rows). Other rows (after a restart, the records
    /// the store did not hold, batched anew) give another token.
    /// </summary>
    internal static InsertToken Token(IReadOnlyList<FlowBatch> batches)
    {
        var origin = new System.Text.StringBuilder();
        foreach (var batch in batches)
        {
            foreach (var (partition, range) in batch.RowRanges)
            {
                origin.Append(partition.Topic).Append('/').Append(partition.Partition).Append(':')
                    .Append(range.First).Append('-').Append(range.Last).Append('#').Append(range.Rows).Append(';');
            }

            origin.Append('|');
        }

        return InsertToken.Of(origin.ToString());
    }

    /// <summary>Per partition, the offset after the last record of any batch in the group.</summary>
    private static List<PartitionProgress> Progress(List<FlowBatch> group)
    {
        var next = new Dictionary<KafkaPartition, long>();
        foreach (var batch in group)
        {
            batch.MergeOffsetsInto(next);
        }

        return next.Select(kv => new PartitionProgress(kv.Key, kv.Value)).ToList();
    }
}
