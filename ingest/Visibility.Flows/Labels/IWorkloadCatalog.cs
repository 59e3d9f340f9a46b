namespace Visibility.Flows.Labels;

/// <summary>
/// The workloads known now, for readers (graph node sizes, policy drafting) that must not depend on how the
/// inventory is kept up to date (ingest's enrichment implements it).
/// </summary>
public interface IWorkloadCatalog
{
    /// <summary>Internal networks, named networks and label rules.</summary>
    LabelSettings Settings { get; }

    /// <summary>The current immutable snapshot.</summary>
    WorkloadIndex Current { get; }

    /// <summary>
    /// How many workloads match every entry of <paramref name="group"/>: label keys, or <c>workload</c> (the name)
    /// and <c>kind</c>. A graph node's group; an empty value matches a workload without that label.
    /// </summary>
    int Count(IReadOnlyDictionary<string, string> group);
}
