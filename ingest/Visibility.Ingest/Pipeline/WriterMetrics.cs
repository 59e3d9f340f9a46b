using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Visibility.Ingest.Pipeline;

/// <summary>Counters of the batch writer: rows stored, store failures and retries, and whether the store is available.</summary>
public sealed class WriterMetrics
{
    private long stored;
    private long batches;
    private long insertRetries;
    private int storeFailing;
    private StoreFailure? storeFailure;

    public long Stored => Interlocked.Read(ref stored);

    public long Batches => Interlocked.Read(ref batches);

    public long InsertRetries => Interlocked.Read(ref insertRetries);

    /// <summary>Whether every writer's last store operation succeeded (false while one is failing and retrying).</summary>
    public bool StoreAvailable => Volatile.Read(ref storeFailing) == 0;

    /// <summary>The failure of the writers' current streak of failed store operations; null when the store is available.</summary>
    public StoreFailure? CurrentStoreFailure => StoreAvailable ? null : Volatile.Read(ref storeFailure);

    /// <summary>Store operations that failed, by operation (insert, progress, resume).</summary>
    public ConcurrentDictionary<string, long> StoreErrors { get; } = new(StringComparer.Ordinal);

    /// <summary>Rows per stored batch (null until <see cref="Publish"/>).</summary>
    public Histogram<long>? BatchRows { get; private set; }

    /// <summary>Seconds from handing a batch to the writer until it was stored and its progress recorded (null until <see cref="Publish"/>).</summary>
    public Histogram<double>? BatchSeconds { get; private set; }

    /// <summary>Creates the per-batch histograms on <paramref name="meter"/>: one observation each per stored batch.</summary>
    public void Publish(Meter meter)
    {
        BatchRows = meter.CreateHistogram(
            "visibility_ingest_batch_rows", unit: null, description: "Rows per stored batch.", tags: null,
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000] });
        BatchSeconds = meter.CreateHistogram(
            "visibility_ingest_batch_store_seconds", unit: null, description: "Seconds from a batch's hand-over to the writer until it was stored.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
    }

    internal void CountStored(int rows, double seconds)
    {
        Interlocked.Add(ref stored, rows);
        Interlocked.Increment(ref batches);
        BatchRows?.Record(rows);
        BatchSeconds?.Record(seconds);
    }

    internal void CountInsertRetry() => Interlocked.Increment(ref insertRetries);

    internal void CountStoreError(string operation) => StoreErrors.AddOrUpdate(operation, 1, static (_, n) => n + 1);

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
