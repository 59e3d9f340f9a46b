using System.Text.Json;
using Visibility.Flows.Labels;

namespace Visibility.Ingest.Enrichment;

/// <summary>
/// Reads <c>kubectl get namespaces,pods -A -o json</c> output into pod workloads: name <c>namespace/pod</c>, the
/// pod IPs, labels from the pod's labels and its namespace's annotations through the label profile, and the
/// interval the pod held its IPs (start to termination or deletion), so reused pod IPs are attributed by time.
/// Host-network pods are skipped: their address is the node's.
/// </summary>
public static class KubernetesInventory
{
    public static bool LooksLikeKubectlList(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array;

    public static IReadOnlyList<WorkloadSpec> Read(JsonElement root, KubernetesLabelMapper mapper)
    {
        if (!LooksLikeKubectlList(root))
        {
            throw new InvalidDataException("expected kubectl JSON output: an object with an \"items\" array");
        }

        var items = root.GetProperty("items").EnumerateArray().ToList();
        var annotations = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var ns in items.Where(i => Kind(i) == "Namespace"))
        {
            if (ns.TryGetProperty("metadata", out var meta) && Text(meta, "name") is { } name)
            {
                annotations[name] = StringMap(meta, "annotations");
            }
        }

        var workloads = new List<WorkloadSpec>();
        foreach (var pod in items.Where(i => Kind(i) == "Pod"))
        {
            if (!pod.TryGetProperty("metadata", out var meta) || Text(meta, "name") is not { } name)
            {
                continue;
            }

            var spec = pod.TryGetProperty("spec", out var s) ? s : default;
            if (spec.ValueKind == JsonValueKind.Object && spec.TryGetProperty("hostNetwork", out var host) && host.ValueKind == JsonValueKind.True)
            {
                continue;
            }

            var status = pod.TryGetProperty("status", out var st) ? st : default;
            var addresses = PodIps(status);
            if (addresses.Count == 0)
            {
                continue;
            }

            var ns = Text(meta, "namespace") ?? "default";
            var labels = mapper.Map(ns, StringMap(meta, "labels"), annotations.GetValueOrDefault(ns));
            workloads.Add(new WorkloadSpec
            {
                Name = $"{ns}/{name}",
                Kind = "pod",
                Addresses = addresses,
                Labels = labels,
                ValidFrom = Time(status, "startTime") ?? Time(meta, "creationTimestamp"),
                ValidTo = Ended(status) ?? Time(meta, "deletionTimestamp"),
            });
        }

        return workloads;
    }

    private static string? Kind(JsonElement item) => item.ValueKind == JsonValueKind.Object ? Text(item, "kind") : null;

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static DateTimeOffset? Time(JsonElement element, string property) =>
        Text(element, property) is { } text && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : null;

    private static Dictionary<string, string> StringMap(JsonElement element, string property)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in value.EnumerateObject())
            {
                if (p.Value.ValueKind == JsonValueKind.String)
                {
                    map[p.Name] = p.Value.GetString()!;
                }
            }
        }

        return map;
    }

    private static List<string> PodIps(JsonElement status)
    {
        var ips = new List<string>();
        if (status.ValueKind != JsonValueKind.Object)
        {
            return ips;
        }

        if (status.TryGetProperty("podIPs", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            ips.AddRange(list.EnumerateArray().Select(e => Text(e, "ip")).OfType<string>());
        }

        if (ips.Count == 0 && Text(status, "podIP") is { } single)
        {
            ips.Add(single);
        }

        return ips.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>A finished pod (Succeeded or Failed) released its IP when its last container finished.</summary>
    private static DateTimeOffset? Ended(JsonElement status)
    {
        if (Text(status, "phase") is not ("Succeeded" or "Failed") ||
            !status.TryGetProperty("containerStatuses", out var containers) || containers.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        DateTimeOffset? last = null;
        foreach (var c in containers.EnumerateArray())
        {
            if (c.TryGetProperty("state", out var state) && state.TryGetProperty("terminated", out var terminated) &&
                Time(terminated, "finishedAt") is { } finished && (last is null || finished > last))
            {
                last = finished;
            }
        }

        return last;
    }
}
