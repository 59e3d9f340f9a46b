using Visibility.Ingest.Enrichment;

namespace Visibility.Tests.Enrichment;

public sealed class WorkloadFileTests : IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"inventory-{Guid.NewGuid():N}.json");

    public void Dispose() => File.Delete(path);

    [Fact]
    public async Task Read_ValidFile_ReturnsWorkloads()
    {
        await File.WriteAllTextAsync(path, """
            [
              {"name": "pay-1", "kind": "pod", "addresses": ["10.1.0.7"], "labels": {"app": "pay", "env": "prod", "team": "ledger"}},
              {"name": "corp", "kind": "network", "addresses": ["172.16.0.0/12"], "labels": {"env": "corp"}}
            ]
            """);
        var workloads = await WorkloadFile.ReadAsync(path, CancellationToken.None);
        Assert.Equal(["pay-1", "corp"], workloads.Select(w => w.Name));
        Assert.Equal("ledger", workloads[0].Labels["team"]);
        Assert.Equal("network", workloads[1].Kind);
    }

    [Fact]
    public async Task Read_InvalidFile_NamesFileAndProblem()
    {
        await File.WriteAllTextAsync(path, """[{"name": "x", "addresses": ["10.0.0.0/33"]}]""");
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => WorkloadFile.ReadAsync(path, CancellationToken.None));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("invalid prefix length", error.Message, StringComparison.Ordinal);

        await File.WriteAllTextAsync(path, "{\"name\": \"not an array\"}");
        error = await Assert.ThrowsAsync<InvalidDataException>(() => WorkloadFile.ReadAsync(path, CancellationToken.None));
        Assert.Contains("not a JSON array of workloads", error.Message, StringComparison.Ordinal);
    }
}
