using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Enrichment;

/// <summary>
/// Opens the store (checking its schema; <see cref="StoreServices.OpenStoreAsync"/> usually did already), then loads
/// the inventory: stored workloads, then the file. The process is ready once it has.
/// </summary>
public sealed class InventoryStartup(
    IFlowCatalog store, WorkloadInventory inventory, InventoryFileWatcher file, IOptions<InventoryOptions> options, Readiness readiness, ILogger<InventoryStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.InitializeAsync(cancellationToken);
        var stored = await store.LoadWorkloadsAsync(cancellationToken);
        inventory.Upsert(stored);
        if (!await file.LoadAsync(cancellationToken))
        {
            // A configured inventory that cannot be read at start is a configuration error, not a degraded mode.
            throw new InvalidOperationException($"The inventory file '{options.Value.Path}' could not be loaded (see the error above).");
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
