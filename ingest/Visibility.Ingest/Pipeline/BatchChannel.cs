using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// The hand-over from the pipeline to the batch writer: a bounded channel of filled batches (when the store falls
/// behind it fills, and whoever hands a batch waits or pauses its source), and the spare batches the writer gives
/// back, so that buffers are reused rather than allocated. Counts what it hands and what the writer finished, so a
/// rebalance can wait until everything read is stored.
/// </summary>
public sealed class BatchChannel
{
    private readonly Channel<FlowBatch> filled;
    private readonly ConcurrentQueue<FlowBatch> spare = new();
    private readonly IngestOptions options;
    private readonly PipelineMetrics metrics;
    private long handed;
    private long finished;
    private volatile bool writerDone;

    public BatchChannel(IngestOptions options, PipelineMetrics metrics)
    {
        this.options = options;
        this.metrics = metrics;
        filled = Channel.CreateBounded<FlowBatch>(new BoundedChannelOptions(options.QueueDepth)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
    }

    /// <summary>The writer's end.</summary>
    public ChannelReader<FlowBatch> Reader => filled.Reader;

    /// <summary>Whether the writer has stopped taking batches (it only stops once the queue is completed).</summary>
    public bool WriterDone => writerDone;

    /// <inheritdoc cref="PipelineMetrics.Buffered"/>
    public long Buffered => metrics.Buffered;

    public FlowBatch Rent() => spare.TryDequeue(out var batch) ? batch : new FlowBatch(options.Encoding);

    /// <summary>Hands <paramref name="batch"/> to the writer if the queue has room.</summary>
    public bool TryHand(FlowBatch batch)
    {
        batch.HandedAt = Environment.TickCount64;
        if (!filled.Writer.TryWrite(batch))
        {
            return false;
        }

        Interlocked.Increment(ref handed);
        return true;
    }

    /// <summary>Hands <paramref name="batch"/> to the writer, waiting for room; false if <paramref name="cancellation"/> fires first.</summary>
    public bool Hand(FlowBatch batch, CancellationToken cancellation)
    {
        try
        {
            batch.HandedAt = Environment.TickCount64;
            filled.Writer.WriteAsync(batch, cancellation).AsTask().GetAwaiter().GetResult();
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
        return true;
    }

    /// <summary>Waits until the queue has room for a batch, at most <paramref name="timeout"/>.</summary>
    public bool WaitForRoom(TimeSpan timeout, CancellationToken stopping)
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

    /// <summary>No more batches come: the writer stores what is queued and ends.</summary>
    public void Complete() => filled.Writer.TryComplete();

    /// <summary>The writer is done with <paramref name="group"/> (stored, or given up at shutdown): its records are released and its batches reused.</summary>
    public void Finished(List<FlowBatch> group)
    {
        var messages = 0L;
        foreach (var batch in group)
        {
            messages += batch.Messages;
            Return(batch);
        }

        metrics.Release(messages);
        Interlocked.Add(ref finished, group.Count);
    }

    /// <summary>Records of a batch that was never handed over (stopping): they are no longer held.</summary>
    public void Abandon(FlowBatch batch) => metrics.Release(batch.Messages);

    public void MarkWriterDone() => writerDone = true;

    /// <summary>Waits until the writer has finished every batch handed to it (stored, or given up at shutdown).</summary>
    public void WaitForWriter(CancellationToken stopping)
    {
        var target = Interlocked.Read(ref handed);
        while (!writerDone && Interlocked.Read(ref finished) < target)
        {
            stopping.ThrowIfCancellationRequested();
            Thread.Sleep(5);
        }
    }

    private void Return(FlowBatch batch)
    {
        batch.Reset();
        if (spare.Count < options.QueueDepth + 2)
        {
            spare.Enqueue(batch);
        }
    }
}
