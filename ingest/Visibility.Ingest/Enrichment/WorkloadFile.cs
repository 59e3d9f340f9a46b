using System.Text.Json;
using Visibility.Flows.Labels;

namespace Visibility.Ingest.Enrichment;

/// <summary>Reads an inventory file: a JSON array of workloads, the same documents <c>PUT /api/v1/workloads</c> takes.</summary>
public static class WorkloadFile
{
    public static async Task<IReadOnlyList<WorkloadSpec>> ReadAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        List<WorkloadSpec?>? workloads;
        try
        {
            workloads = await JsonSerializer.DeserializeAsync<List<WorkloadSpec?>>(stream, cancellationToken: cancellationToken);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"Inventory file '{path}' is not a JSON array of workloads: {ex.Message}", ex);
        }

        workloads ??= [];
        var problems = WorkloadValidation.Validate(workloads);
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"Inventory file '{path}' has errors: {string.Join("; ", problems)}");
        }

        return workloads!;
    }
}
