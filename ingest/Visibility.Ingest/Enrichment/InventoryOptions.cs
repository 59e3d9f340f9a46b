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
/// The first key present wins; pod labels are tried before namespace annotations.
/// </summary>
public sealed class KubernetesProfileOptions
{
    public Dictionary<string, List<string>> PodLabels { get; } = new(StringComparer.Ordinal)
    {
        ["app"] = ["app.kubernetes.io/name", "app", "k8s-app"],
        ["role"] = ["app.kubernetes.io/component", "role", "tier"],
        ["env"] = ["env", "environment"],
        ["loc"] = ["topology.kubernetes.io/zone", "loc"],
    };

    public Dictionary<string, List<string>> NamespaceAnnotations { get; } = new(StringComparer.Ordinal)
    {
        ["env"] = ["visibility.io/env", "env"],
        ["app"] = ["visibility.io/app"],
        ["role"] = ["visibility.io/role"],
        ["loc"] = ["visibility.io/loc"],
    };
}
