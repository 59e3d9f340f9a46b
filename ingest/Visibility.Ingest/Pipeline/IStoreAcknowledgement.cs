using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// What the batch writer tells the source around each group it stores; called once per group, never per record.
/// </summary>
public interface IStoreAcknowledgement
{
    /// <summary>The group's rows are stored: dead letters of its records are delivered before its progress is recorded.</summary>
    void DeliverDeadLetters();

    /// <summary>The group is stored and its progress recorded: its offsets may be committed to the source.</summary>
    void Stored(IReadOnlyList<FlowBatch> group, IReadOnlyList<PartitionProgress> progress);
}
