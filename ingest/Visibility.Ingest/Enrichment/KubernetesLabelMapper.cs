namespace Visibility.Ingest.Enrichment;

/// <summary>
/// Maps Kubernetes pod labels and namespace annotations to the project's labels through a profile
/// (<see cref="KubernetesProfileOptions"/>). All pod labels are kept too, under their own keys when those are
/// valid label keys, and <c>namespace</c> is set to the namespace.
/// </summary>
public sealed class KubernetesLabelMapper(KubernetesProfileOptions profile)
{
    private readonly IReadOnlyDictionary<string, IReadOnlyList<string>> podLabelSources = profile.EffectivePodLabels();
    private readonly IReadOnlyDictionary<string, IReadOnlyList<string>> namespaceSources = profile.EffectiveNamespaceAnnotations();

    public Dictionary<string, string> Map(
        string? @namespace,
        IReadOnlyDictionary<string, string> podLabels,
        IReadOnlyDictionary<string, string>? namespaceAnnotations)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, candidates) in podLabelSources)
        {
            foreach (var candidate in candidates)
            {
                if (podLabels.TryGetValue(candidate, out var value) && value.Length > 0)
                {
                    labels[key] = value;
                    break;
                }
            }
        }

        if (namespaceAnnotations is not null)
        {
            foreach (var (key, candidates) in namespaceSources)
            {
                if (labels.ContainsKey(key))
                {
                    continue;
                }

                foreach (var candidate in candidates)
                {
                    if (namespaceAnnotations.TryGetValue(candidate, out var value) && value.Length > 0)
                    {
                        labels[key] = value;
                        break;
                    }
                }
            }
        }

        foreach (var (key, value) in podLabels)
        {
            if (Flows.Labels.LabelKeys.IsValidKey(key) && value.Length <= Flows.Labels.WorkloadValidation.MaxLabelValueLength)
            {
                labels.TryAdd(key, value);
            }
        }

        if (!string.IsNullOrEmpty(@namespace))
        {
            labels["namespace"] = @namespace;
        }

        return labels;
    }
}
