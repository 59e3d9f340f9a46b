using System.Collections.Concurrent;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Everything that moves through ingest, as <c>/metrics</c> and readiness read it. Each stage counts in its own
/// slice (<see cref="Source"/>, <see cref="Pipeline"/>, <see cref="Writer"/>); the properties here read them, so
/// that the exposition keeps one flat view whatever stage a counter belongs to.
/// </summary>
public sealed class IngestMetrics
{
    public SourceMetrics Source { get; } = new();

    public PipelineMetrics Pipeline { get; } = new();

    public WriterMetrics Writer { get; } = new();

    public long RecordsIn => Pipeline.RecordsIn;

    public long Decoded => Pipeline.Decoded;

    public long Enriched => Pipeline.Enriched;

    public long Skipped => Pipeline.Skipped;

    /// <inheritdoc cref="PipelineMetrics.AlreadyStored"/>
    public long AlreadyStored => Pipeline.AlreadyStored;

    /// <inheritdoc cref="PipelineMetrics.Buffered"/>
    public long Buffered => Pipeline.Buffered;

    /// <inheritdoc cref="PipelineMetrics.Invalid"/>
    public ConcurrentDictionary<string, long> Invalid => Pipeline.Invalid;

    public long InvalidTotal => Pipeline.InvalidTotal;

    public long Stored => Writer.Stored;

    public long Batches => Writer.Batches;

    public long InsertRetries => Writer.InsertRetries;

    /// <inheritdoc cref="WriterMetrics.LandedUnacknowledged"/>
    public long LandedUnacknowledged => Writer.LandedUnacknowledged;

    /// <inheritdoc cref="WriterMetrics.StoreAvailable"/>
    public bool StoreAvailable => Writer.StoreAvailable;

    /// <inheritdoc cref="WriterMetrics.CurrentStoreFailure"/>
    public StoreFailure? CurrentStoreFailure => Writer.CurrentStoreFailure;

    /// <inheritdoc cref="WriterMetrics.StoreErrors"/>
    public ConcurrentDictionary<string, long> StoreErrors => Writer.StoreErrors;

    /// <inheritdoc cref="WriterMetrics.BatchRows"/>
    public Histogram BatchRows => Writer.BatchRows;

    /// <inheritdoc cref="WriterMetrics.BatchSeconds"/>
    public Histogram BatchSeconds => Writer.BatchSeconds;

    public long CommitErrors => Source.CommitErrors;

    public long DeadLetterErrors => Source.DeadLetterErrors;

    public long Assignments => Source.Assignments;

    public long Revocations => Source.Revocations;

    public long Losses => Source.Losses;

    /// <inheritdoc cref="SourceMetrics.PausedConsumers"/>
    public long PausedConsumers => Source.PausedConsumers;

    /// <inheritdoc cref="SourceMetrics.Lag"/>
    public ConcurrentDictionary<KafkaPartition, long> Lag => Source.Lag;
}
