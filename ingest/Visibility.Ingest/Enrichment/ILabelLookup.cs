using Visibility.Flows.Labels;

namespace Visibility.Ingest.Enrichment;

/// <summary>The enrichment stage's view of the inventory: the current immutable index.</summary>
public interface ILabelLookup
{
    /// <summary>The index to use for the next batch; a relabel swaps it without pausing readers.</summary>
    WorkloadIndex Current { get; }
}
