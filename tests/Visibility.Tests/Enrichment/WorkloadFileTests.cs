using Visibility.Ingest.Enrichment;

namespace Visibility.Tests.Enrichment;

public sealed class WorkloadFileTests : IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"inventory-{Guid.NewGuid():N}.json");

    private static readonly KubernetesLabelMapper Mapper = new(new KubernetesProfileOptions());

    public void Dispose() => File.Delete(path);

    [Fact]
    public async Task Read_KubectlOutput_PodsBecomeTimeBoundWorkloadsWithProfileLabels()
    {
        var sample = Path.Combine(AppContext.BaseDirectory, "Samples", "kubernetes", "kubectl-namespaces-pods.json");
        var workloads = await WorkloadFile.ReadAsync(sample, Mapper, CancellationToken.None);

        // The host-network pod (the node's address) and the pending pod (no IP yet) are skipped.
        Assert.Equal(["payments/payments-api-7f9c-abcde", "payments/ledger-worker-5d2a-fghij"], workloads.Select(w => w.Name));
        var api = workloads[0];
        Assert.Equal("pod", api.Kind);
        Assert.Equal(["10.244.1.5"], api.Addresses);
        Assert.Equal("payments-api", api.Labels["app"]);
        Assert.Equal("backend", api.Labels["role"]);
        Assert.Equal("prod", api.Labels["env"]);
        Assert.Equal("eu-west-1", api.Labels["loc"]);
        Assert.Equal("payments", api.Labels["namespace"]);
        Assert.Equal(DateTimeOffset.Parse("2026-11-26T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture), api.ValidFrom);
        Assert.Equal(DateTimeOffset.Parse("2026-11-26T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture), api.ValidTo);

        var ledger = workloads[1];
        Assert.Equal(["10.244.1.5", "fd00:10:244:1::5"], ledger.Addresses);
        Assert.Equal(("ledger", "worker", "prod-eu"), (ledger.Labels["app"], ledger.Labels["role"], ledger.Labels["env"]));
        Assert.Null(ledger.ValidTo);

        // The reused pod IP resolves by time.
        var index = Visibility.Flows.Labels.WorkloadIndex.Build(workloads);
        Assert.True(Visibility.Flows.Model.IpAddressKey.TryParse("10.244.1.5".AsSpan(), out var ip));
        Assert.Equal("payments-api", index.Lookup(ip, DateTimeOffset.Parse("2026-11-26T11:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds()).App);
        Assert.Equal("ledger", index.Lookup(ip, DateTimeOffset.Parse("2026-11-26T13:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds()).App);
    }

    [Fact]
    public async Task Read_ValidFile_ReturnsWorkloads()
    {
        await File.WriteAllTextAsync(path, """
            [
              {"name": "pay-1", "kind": "pod", "addresses": ["10.1.0.7"], "labels": {"app": "pay", "env": "prod", "team": "ledger"}},
              {"name": "corp", "kind": "network", "addresses": ["172.16.0.0/12"], "labels": {"env": "corp"}}
            ]
            """);
        var workloads = await WorkloadFile.ReadAsync(path, Mapper, CancellationToken.None);
        Assert.Equal(["pay-1", "corp"], workloads.Select(w => w.Name));
        Assert.Equal("ledger", workloads[0].Labels["team"]);
        Assert.Equal("network", workloads[1].Kind);
    }

    [Fact]
    public async Task Read_InvalidFile_NamesFileAndProblem()
    {
        await File.WriteAllTextAsync(path, """[{"name": "x", "addresses": ["10.0.0.0/33"]}]""");
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => WorkloadFile.ReadAsync(path, Mapper, CancellationToken.None));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("invalid prefix length", error.Message, StringComparison.Ordinal);

        await File.WriteAllTextAsync(path, "{\"name\": \"not an array\"}");
        error = await Assert.ThrowsAsync<InvalidDataException>(() => WorkloadFile.ReadAsync(path, Mapper, CancellationToken.None));
        Assert.Contains("not a JSON array of workloads", error.Message, StringComparison.Ordinal);
    }
}
