using System.Collections.Concurrent;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>Counters of everything that moves through ingest; read by <c>/metrics</c>.</summary>
public sealed class IngestMetrics
{
    private long recordsIn;
    private long decoded;
    private long enriched;
    private long skipped;
    private long stored;
    private long batches;
    private long insertRetries;
    private long commitErrors;
    private long deadLetterErrors;
    private long alreadyStored;
    private long assignments;
    private long revocations;
    private long losses;
    private long released;
    private long paused;
    private long landedUnacknowledged;
    private int storeFailing;
    private StoreFailure? storeFailure;

    public long RecordsIn => Interlocked.Read(ref recordsIn);

    public long Decoded => Interlocked.Read(ref decoded);

    public long Enriched => Interlocked.Read(ref enriched);

    public long Skipped => Interlocked.Read(ref skipped);

    public long Stored => Interlocked.Read(ref stored);

    public long Batches => Interlocked.Read(ref batches);

    public long InsertRetries => Interlocked.Read(ref insertRetries);

    public long CommitErrors => Interlocked.Read(ref commitErrors);

    public long DeadLetterErrors => Interlocked.Read(ref deadLetterErrors);

    /// <summary>Records skipped on resume because an insert whose progress was never recorded already stored them.</summary>
    public long AlreadyStored => Interlocked.Read(ref alreadyStored);

    public long Assignments => Interlocked.Read(ref assignments);

    public long Revocations => Interlocked.Read(ref revocations);

    public long Losses => Interlocked.Read(ref losses);

    /// <summary>
    /// Records read from Kafka and held in this process until their batch is stored (or given up at shutdown): the
    /// batch being filled, batches queued for the writer and the group it is inserting. Per consumer it stays below
    /// InsertRows + BatchSize + (QueueDepth + 1) × BatchSize rows, whatever the store does.
    /// </summary>
    public long Buffered => Interlocked.Read(ref recordsIn) - Interlocked.Read(ref released);

    /// <summary>Consumers whose partitions are paused because their queue to the store is full.</summary>
    public long PausedConsumers => Interlocked.Read(ref paused);

    /// <summary>Batches an insert had stored although it reported a failure (found on retry and not inserted again).</summary>
    public long LandedUnacknowledged => Interlocked.Read(ref landedUnacknowledged);

    /// <summary>Whether every writer's last store operation succeeded (false while one is failing and retrying).</summary>
    public bool StoreAvailable => Volatile.Read(ref storeFailing) == 0;

    /// <summary>The failure of the writers' current streak of failed store operations; null when the store is available.</summary>
    public StoreFailure? CurrentStoreFailure => StoreAvailable ? null : Volatile.Read(ref storeFailure);

    /// <summary>Malformed records by reason; each also went to the dead-letter topic.</summary>
    public ConcurrentDictionary<string, long> Invalid { get; } = new(StringComparer.Ordinal);

    public long InvalidTotal => Invalid.Values.Sum();

    /// <summary>Store operations that failed, by operation (insert, progress, resume).</summary>
    public ConcurrentDictionary<string, long> StoreErrors { get; } = new(StringComparer.Ordinal);

    /// <summary>Records behind the end of each assigned partition, as of the last batch stored from it.</summary>
    public ConcurrentDictionary<KafkaPartition, long> Lag { get; } = new();

    /// <summary>Rows per stored batch.</summary>
    public Histogram BatchRows { get; } = new(1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000);

    /// <summary>Seconds from handing a batch to the writer until it was stored and its progress recorded.</summary>
    public Histogram BatchSeconds { get; } = new(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30);

    internal void CountIn() => Interlocked.Increment(ref recordsIn);

    internal void CountDecoded() => Interlocked.Increment(ref decoded);

    internal void CountEnriched() => Interlocked.Increment(ref enriched);

    internal void CountSkipped() => Interlocked.Increment(ref skipped);

    internal void CountInvalid(string reason) => Invalid.AddOrUpdate(reason, 1, static (_, n) => n + 1);

    internal void CountStored(int rows, double seconds)
    {
        Interlocked.Add(ref stored, rows);
        Interlocked.Increment(ref batches);
        BatchRows.Observe(rows);
        BatchSeconds.Observe(seconds);
    }

    internal void CountInsertRetry() => Interlocked.Increment(ref insertRetries);

    internal void CountStoreError(string operation) => StoreErrors.AddOrUpdate(operation, 1, static (_, n) => n + 1);

    internal void CountCommitError() => Interlocked.Increment(ref commitErrors);

    internal void CountDeadLetterError() => Interlocked.Increment(ref deadLetterErrors);

    internal void CountAlreadyStored() => Interlocked.Increment(ref alreadyStored);

    internal void CountAssigned() => Interlocked.Increment(ref assignments);

    internal void CountRevoked() => Interlocked.Increment(ref revocations);

    internal void CountLost() => Interlocked.Increment(ref losses);

    internal void Release(long records) => Interlocked.Add(ref released, records);

    internal void SetPaused(bool on) => Interlocked.Add(ref paused, on ? 1 : -1);

    internal void CountLandedUnacknowledged(int batches) => Interlocked.Add(ref landedUnacknowledged, batches);

    /// <summary>A writer's store operation failed: the first of a streak marks the store unavailable.</summary>
    internal void StoreFailed(bool streakStarts, StoreFailure failure)
    {
        Volatile.Write(ref storeFailure, failure);
        if (streakStarts)
        {
            Interlocked.Increment(ref storeFailing);
        }
    }

    /// <summary>A writer's streak of failures ended with a success.</summary>
    internal void StoreRecovered() => Interlocked.Decrement(ref storeFailing);
}

/// <summary>The latest failure of a store operation the ingest writer keeps retrying.</summary>
public sealed record StoreFailure(string Operation, string Reason, DateTimeOffset Since, int Attempts);
