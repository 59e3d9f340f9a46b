using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Ingest.Enrichment;

namespace Visibility.Web.Hosting;

/// <summary>Opens the store (applying migrations), then loads the inventory: stored workloads, then the file.</summary>
public sealed class StoreStartup(
    IFlowStore store, WorkloadInventory inventory, IOptions<InventoryOptions> options, Readiness readiness, ILogger<StoreStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.InitializeAsync(cancellationToken);
        var stored = await store.LoadWorkloadsAsync(cancellationToken);
        inventory.Upsert(stored);
        var path = options.Value.Path;
        if (!string.IsNullOrWhiteSpace(path))
        {
            var fromFile = await WorkloadFile.ReadAsync(path, cancellationToken);
            inventory.ReplaceFileWorkloads(fromFile);
            logger.LogInformation("Loaded {Count} workloads from {Path}", fromFile.Count, path);
        }

        logger.LogInformation("Inventory: {Count} workloads", inventory.List().Count);
        readiness.StoreReady = true;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>What <c>/readyz</c> reports.</summary>
public sealed class Readiness
{
    private volatile bool storeReady;

    public bool StoreReady
    {
        get => storeReady;
        set => storeReady = value;
    }
}
