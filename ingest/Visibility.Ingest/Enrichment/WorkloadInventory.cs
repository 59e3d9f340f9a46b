using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Enrichment;

/// <summary>
/// The workloads known to this process. Changes rebuild an immutable <see cref="WorkloadIndex"/> and swap it in
/// with one reference write, so enrichment never waits for a relabel.
/// </summary>
public sealed class WorkloadInventory : ILabelLookup
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, WorkloadSpec> byName = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<Prefix> internalNetworks;
    private volatile WorkloadIndex current;

    public WorkloadInventory(IOptions<InventoryOptions> options)
    {
        var networks = new List<Prefix>();
        foreach (var text in options.Value.InternalNetworks)
        {
            networks.Add(Prefix.TryParse(text, out var prefix, out var error)
                ? prefix
                : throw new OptionsValidationException(InventoryOptions.Section, typeof(InventoryOptions), [$"InternalNetworks: {error}"]));
        }

        internalNetworks = networks;
        current = WorkloadIndex.Build([], internalNetworks);
    }

    public WorkloadIndex Current => current;

    /// <summary>Adds or replaces workloads by name. They must have passed <see cref="WorkloadValidation"/>.</summary>
    public void Upsert(IEnumerable<WorkloadSpec> workloads)
    {
        lock (gate)
        {
            foreach (var workload in workloads)
            {
                byName[workload.Name] = workload;
            }

            current = WorkloadIndex.Build(byName.Values.OrderBy(w => w.Name, StringComparer.Ordinal).ToList(), internalNetworks);
        }
    }

    public IReadOnlyList<WorkloadSpec> List() => current.Workloads;
}
