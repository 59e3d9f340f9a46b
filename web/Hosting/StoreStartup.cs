using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Ingest.Enrichment;

namespace Visibility.Web.Hosting;

/// <summary>Opens the store (applying migrations), then loads the inventory: stored workloads, then the file.</summary>
public sealed class StoreStartup(
    IFlowCatalog store, WorkloadInventory inventory, InventoryFileWatcher file, IOptions<InventoryOptions> options, Readiness readiness, ILogger<StoreStartup> logger) : IHostedService
{
    /// <summary>
    /// Checks the configuration and opens the store before the host starts, so that a wrong setting or an
    /// unreachable store stops the program with its one-line reason (<see cref="Cli"/>) instead of a host
    /// failure logged with a stack trace. <see cref="StartAsync"/> finds the store already open.
    /// </summary>
    public static async Task PrepareAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        services.GetRequiredService<IStartupValidator>().Validate();
        await services.GetRequiredService<IFlowCatalog>().InitializeAsync(cancellationToken);
    }

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
