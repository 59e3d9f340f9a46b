namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Everything that moves through ingest, as <c>/metrics</c> and readiness read it: each stage's counters, which the
/// stage owns (<see cref="Source"/>: the Kafka source; <see cref="Pipeline"/>: decode, enrich, batch;
/// <see cref="Writer"/>: the store). One instance per process, shared by its consumers.
/// </summary>
public sealed class IngestMetrics
{
    public SourceMetrics Source { get; } = new();

    public PipelineMetrics Pipeline { get; } = new();

    public WriterMetrics Writer { get; } = new();
}
