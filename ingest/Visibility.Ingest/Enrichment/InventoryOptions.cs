namespace Visibility.Ingest.Enrichment;

/// <summary>Configuration section <c>Visibility:Inventory</c>.</summary>
public sealed class InventoryOptions
{
    public const string Section = "Visibility:Inventory";

    /// <summary>
    /// An inventory file, watched for changes: a JSON array of workloads, or the output of
    /// <c>kubectl get namespaces,pods -A -o json</c>. Empty for none.
    /// </summary>
    public string? Path { get; set; }

    /// <summary>Prefixes counted as internal besides the private ranges: their unowned peers are <c>unknown</c>, not <c>internet</c>.</summary>
    public IList<string> InternalNetworks { get; } = [];

    /// <summary>Named networks: unowned peers inside one become a node of that name with its labels.</summary>
    public IList<NetworkOptions> Networks { get; } = [];

    /// <summary>Label rules that complete workloads' labels (never overriding labels a workload sets).</summary>
    public IList<LabelRuleOptions> Rules { get; } = [];

    /// <summary>How Kubernetes namespace annotations and pod labels become role/app/env/loc.</summary>
    public KubernetesProfileOptions Kubernetes { get; set; } = new();
}

public sealed class NetworkOptions
{
    public string Name { get; set; } = "";

    public IList<string> Cidrs { get; } = [];

    public Dictionary<string, string> Labels { get; } = new(StringComparer.Ordinal);
}

public sealed class LabelRuleOptions
{
    /// <summary>Applies to workloads owning an address in this prefix.</summary>
    public string? Cidr { get; set; }

    /// <summary>Applies to workloads whose name matches this regular expression; named groups can be used in values as <c>${name}</c>.</summary>
    public string? NamePattern { get; set; }

    public Dictionary<string, string> Labels { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Label profile for containers: which Kubernetes pod labels and namespace annotations give each project label.
/// The first key present wins; pod labels are tried before namespace annotations. A label configured here
/// replaces that label's default list (<see cref="DefaultPodLabels"/>, <see cref="DefaultNamespaceAnnotations"/>);
/// other labels keep their defaults.
/// </summary>
public sealed class KubernetesProfileOptions
{
    public static readonly IReadOnlyDictionary<string, string[]> DefaultPodLabels = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["app"] = ["app.kubernetes.io/name", "app", "k8s-app"],
        ["role"] = ["app.kubernetes.io/component", "role", "tier"],
        ["env"] = ["env", "environment"],
        ["loc"] = ["topology.kubernetes.io/zone", "loc"],
    };

    public static readonly IReadOnlyDictionary<string, string[]> DefaultNamespaceAnnotations = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["env"] = ["visibility.io/env", "env"],
        ["app"] = ["visibility.io/app"],
        ["role"] = ["visibility.io/role"],
        ["loc"] = ["visibility.io/loc"],
    };

    public Dictionary<string, List<string>> PodLabels { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, List<string>> NamespaceAnnotations { get; } = new(StringComparer.Ordinal);

    /// <summary>The pod-label sources in force: the defaults, with configured labels replacing theirs.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> EffectivePodLabels() => Merge(DefaultPodLabels, PodLabels);

    /// <summary>The namespace-annotation sources in force.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> EffectiveNamespaceAnnotations() => Merge(DefaultNamespaceAnnotations, NamespaceAnnotations);

    private static Dictionary<string, IReadOnlyList<string>> Merge(IReadOnlyDictionary<string, string[]> defaults, Dictionary<string, List<string>> configured)
    {
        var merged = defaults.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value, StringComparer.Ordinal);
        foreach (var (key, sources) in configured)
        {
            merged[key] = sources;
        }

        return merged;
    }
}
