using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Visibility.Ingest.Enrichment;

/// <summary>
/// Loads the inventory file and reloads it when it changes (checked every <see cref="Interval"/>, by size and
/// modification time; polling also sees editors' rename-into-place saves). A file with errors is reported and
/// the previous inventory stays in force.
/// </summary>
public sealed class InventoryFileWatcher(
    WorkloadInventory inventory, IOptions<InventoryOptions> options, ILogger<InventoryFileWatcher> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    private (DateTime Modified, long Length) seen;
    private int failures;

    /// <summary>Loads that failed (the file was missing, unreadable or invalid).</summary>
    public int Failures => Volatile.Read(ref failures);

    /// <summary>Loads the file now; returns false (after logging why) when it could not be used.</summary>
    public async Task<bool> LoadAsync(CancellationToken cancellationToken)
    {
        var path = options.Value.Path;
        if (string.IsNullOrWhiteSpace(path))
        {
            return true;
        }

        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                logger.LogError("Inventory file {Path} does not exist", path);
                Interlocked.Increment(ref failures);
                return false;
            }

            seen = (info.LastWriteTimeUtc, info.Length);
            var workloads = await WorkloadFile.ReadAsync(path, new KubernetesLabelMapper(options.Value.Kubernetes), cancellationToken);
            inventory.ReplaceFileWorkloads(workloads);
            logger.LogInformation("Loaded {Count} workloads from {Path}", workloads.Count, path);
            return true;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            logger.LogError("Inventory file {Path} was not loaded; the previous inventory stays in force: {Reason}", path, ex.Message);
            Interlocked.Increment(ref failures);
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = options.Value.Path;
        if (string.IsNullOrWhiteSpace(path))
        {
            return;
        }

        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var info = new FileInfo(path);
                if (info.Exists && (info.LastWriteTimeUtc, info.Length) != seen)
                {
                    await LoadAsync(stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}
