using System.Text.Json;
using Visibility.Flows.Json;
using Visibility.Flows.Labels;

namespace Visibility.Ingest.Enrichment;

/// <summary>
/// Reads an inventory document: a JSON array of workloads (the documents <c>PUT /api/v1/workloads</c> takes), or
/// <c>kubectl get namespaces,pods -A -o json</c> output. Problems are reported all at once, naming the source.
/// </summary>
public static class WorkloadFile
{
    public static async Task<IReadOnlyList<WorkloadSpec>> ReadAsync(string path, KubernetesLabelMapper kubernetes, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return await ReadAsync(stream, path, kubernetes, cancellationToken);
    }

    public static async Task<IReadOnlyList<WorkloadSpec>> ReadAsync(Stream stream, string source, KubernetesLabelMapper kubernetes, CancellationToken cancellationToken)
    {
        List<WorkloadSpec?> workloads;
        try
        {
            using var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
            var root = document.RootElement;
            if (KubernetesInventory.LooksLikeKubectlList(root))
            {
                workloads = [.. KubernetesInventory.Read(root, kubernetes)];
            }
            else if (root.ValueKind == JsonValueKind.Array)
            {
                workloads = root.Deserialize<List<WorkloadSpec?>>() ?? [];
            }
            else
            {
                throw new InvalidDataException($"'{source}' is not a JSON array of workloads nor kubectl JSON output");
            }
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"'{source}' is not a JSON array of workloads nor kubectl JSON output: {JsonProblem.Describe(ex, typeof(List<WorkloadSpec?>))}", ex);
        }

        var problems = WorkloadValidation.Validate(workloads);
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"'{source}' has errors: {string.Join("; ", problems.Take(20))}");
        }

        return workloads!;
    }
}
