using System.Collections.Concurrent;

namespace Visibility.Ingest.Pipeline;

/// <summary>Counters of everything that moves through ingest; read by <c>/metrics</c>.</summary>
public sealed class IngestMetrics
{
    private long recordsIn;
    private long decoded;
    private long skipped;
    private long stored;
    private long batches;
    private long insertRetries;
    private long commitErrors;
    private long deadLetterErrors;

    public long RecordsIn => Interlocked.Read(ref recordsIn);

    public long Decoded => Interlocked.Read(ref decoded);

    public long Skipped => Interlocked.Read(ref skipped);

    public long Stored => Interlocked.Read(ref stored);

    public long Batches => Interlocked.Read(ref batches);

    public long InsertRetries => Interlocked.Read(ref insertRetries);

    public long CommitErrors => Interlocked.Read(ref commitErrors);

    public long DeadLetterErrors => Interlocked.Read(ref deadLetterErrors);

    /// <summary>Malformed records by reason; each also went to the dead-letter topic.</summary>
    public ConcurrentDictionary<string, long> Invalid { get; } = new(StringComparer.Ordinal);

    public long InvalidTotal => Invalid.Values.Sum();

    internal void CountIn() => Interlocked.Increment(ref recordsIn);

    internal void CountDecoded() => Interlocked.Increment(ref decoded);

    internal void CountSkipped() => Interlocked.Increment(ref skipped);

    internal void CountInvalid(string reason) => Invalid.AddOrUpdate(reason, 1, static (_, n) => n + 1);

    internal void CountStored(int rows)
    {
        Interlocked.Add(ref stored, rows);
        Interlocked.Increment(ref batches);
    }

    internal void CountInsertRetry() => Interlocked.Increment(ref insertRetries);

    internal void CountCommitError() => Interlocked.Increment(ref commitErrors);

    internal void CountDeadLetterError() => Interlocked.Increment(ref deadLetterErrors);
}
