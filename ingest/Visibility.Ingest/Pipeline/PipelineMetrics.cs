using System.Collections.Concurrent;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Counters of the pipeline stage (decode → enrich → classify → batch), and the records it holds: read, and not yet
/// released by the writer (stored, or given up at shutdown).
/// </summary>
public sealed class PipelineMetrics
{
    private long recordsIn;
    private long decoded;
    private long enriched;
    private long skipped;
    private long alreadyStored;
    private long released;

    public long RecordsIn => Interlocked.Read(ref recordsIn);

    public long Decoded => Interlocked.Read(ref decoded);

    public long Enriched => Interlocked.Read(ref enriched);

    public long Skipped => Interlocked.Read(ref skipped);

    /// <summary>Records skipped on resume because an insert whose progress was never recorded already stored them.</summary>
    public long AlreadyStored => Interlocked.Read(ref alreadyStored);

    /// <summary>
    /// Records read from Kafka and held in this process until their batch is stored (or given up at shutdown): the
    /// batch being filled, batches queued for the writer and the group it is inserting. Per consumer it stays below
    /// InsertRows + BatchSize + (QueueDepth + 1) × BatchSize rows, whatever the store does.
    /// </summary>
    public long Buffered => Interlocked.Read(ref recordsIn) - Interlocked.Read(ref released);

    /// <summary>Malformed records by reason; each also went to the dead-letter topic.</summary>
    public ConcurrentDictionary<string, long> Invalid { get; } = new(StringComparer.Ordinal);

    public long InvalidTotal => Invalid.Values.Sum();

    internal void CountIn() => Interlocked.Increment(ref recordsIn);

    internal void CountDecoded() => Interlocked.Increment(ref decoded);

    internal void CountEnriched() => Interlocked.Increment(ref enriched);

    internal void CountSkipped() => Interlocked.Increment(ref skipped);

    internal void CountInvalid(string reason) => Invalid.AddOrUpdate(reason, 1, static (_, n) => n + 1);

    internal void CountAlreadyStored() => Interlocked.Increment(ref alreadyStored);

    internal void Release(long records) => Interlocked.Add(ref released, records);
}
