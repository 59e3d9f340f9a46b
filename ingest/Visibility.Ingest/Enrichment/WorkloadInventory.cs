using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Enrichment;

/// <summary>
/// The workloads known to this process, from the inventory file and the API. Every change rebuilds an immutable
/// <see cref="WorkloadIndex"/> and swaps it in with one reference write, so enrichment never waits for a relabel.
/// On a name present in both, the API's version wins: it is the later, explicit statement.
/// </summary>
public sealed class WorkloadInventory : ILabelLookup, IWorkloadCatalog
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, WorkloadSpec> fromApi = new(StringComparer.Ordinal);
    private Dictionary<string, WorkloadSpec> fromFile = new(StringComparer.Ordinal);
    private volatile WorkloadIndex current;

    public WorkloadInventory(IOptions<InventoryOptions> options)
    {
        Settings = ToSettings(options.Value);
        current = WorkloadIndex.Build([], Settings);
    }

    public LabelSettings Settings { get; }

    public WorkloadIndex Current => current;

    /// <summary>Adds or replaces workloads by name. They must have passed <see cref="WorkloadValidation"/>.</summary>
    public void Upsert(IEnumerable<WorkloadSpec> workloads)
    {
        lock (gate)
        {
            foreach (var workload in workloads)
            {
                fromApi[workload.Name] = workload;
            }

            Rebuild();
        }
    }

    /// <summary>
    /// Removes the workload of that name the API added; false when the API added none. A workload of the same name
    /// in the inventory file stays (it applies again).
    /// </summary>
    public bool Remove(string name)
    {
        lock (gate)
        {
            if (!fromApi.Remove(name))
            {
                return false;
            }

            Rebuild();
            return true;
        }
    }

    /// <summary>Whether the inventory file holds a workload of that name.</summary>
    public bool InFile(string name)
    {
        lock (gate)
        {
            return fromFile.ContainsKey(name);
        }
    }

    /// <summary>Replaces the set that came from the inventory file (workloads removed from it disappear).</summary>
    public void ReplaceFileWorkloads(IEnumerable<WorkloadSpec> workloads)
    {
        lock (gate)
        {
            fromFile = workloads.ToDictionary(w => w.Name, StringComparer.Ordinal);
            Rebuild();
        }
    }

    public IReadOnlyList<WorkloadSpec> List() => current.Workloads;

    /// <inheritdoc/>
    public int Count(IReadOnlyDictionary<string, string> group) =>
        current.Workloads.Count(w => group.All(g => g.Key switch
        {
            "workload" => w.Name == g.Value,
            "kind" => (w.Kind ?? "host") == g.Value,
            _ => w.Labels.GetValueOrDefault(g.Key, "") == g.Value,
        }));

    /// <summary>Turns configuration into settings; every problem is reported at start.</summary>
    public static LabelSettings ToSettings(InventoryOptions options)
    {
        var problems = new List<string>();
        Prefix ParsePrefix(string text, string where)
        {
            if (Prefix.TryParse(text, out var prefix, out var error))
            {
                return prefix;
            }

            problems.Add($"{where}: {error}");
            return default;
        }

        var internals = options.InternalNetworks.Select((t, i) => ParsePrefix(t, $"InternalNetworks[{i}]")).ToList();
        var networks = options.Networks.Select((n, i) =>
        {
            if (string.IsNullOrWhiteSpace(n.Name) || n.Name is Flows.Labels.Endpoint.UnknownKind or Flows.Labels.Endpoint.InternetKind)
            {
                problems.Add($"Networks[{i}]: a name other than 'unknown' and 'internet' is required");
            }

            return new NamedNetwork(n.Name, n.Cidrs.Select((c, j) => ParsePrefix(c, $"Networks[{i}].Cidrs[{j}]")).ToList(), n.Labels);
        }).ToList();
        var rules = options.Rules.Select((r, i) =>
        {
            Regex? pattern = null;
            if (r.NamePattern is not null)
            {
                try
                {
                    pattern = new Regex(r.NamePattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
                }
                catch (ArgumentException ex)
                {
                    problems.Add($"Rules[{i}].NamePattern: {ex.Message}");
                }
            }

            if (r.Cidr is null && r.NamePattern is null)
            {
                problems.Add($"Rules[{i}]: needs Cidr or NamePattern");
            }

            return new LabelRule(r.Cidr is null ? null : ParsePrefix(r.Cidr, $"Rules[{i}].Cidr"), pattern, r.Labels);
        }).ToList();

        if (problems.Count > 0)
        {
            throw new OptionsValidationException(InventoryOptions.Section, typeof(InventoryOptions), problems);
        }

        return new LabelSettings { InternalNetworks = internals, Networks = networks, Rules = rules };
    }

    private void Rebuild()
    {
        var merged = new Dictionary<string, WorkloadSpec>(fromFile, StringComparer.Ordinal);
        foreach (var (name, workload) in fromApi)
        {
            merged[name] = workload;
        }

        current = WorkloadIndex.Build(merged.Values.OrderBy(w => w.Name, StringComparer.Ordinal).ToList(), Settings);
    }
}
