using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Ingest.Enrichment;

namespace Visibility.Tests.Enrichment;

public sealed class InventoryFileWatcherTests : IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"watched-{Guid.NewGuid():N}.json");

    public void Dispose() => File.Delete(path);

    private static string Inventory(string env) => JsonSerializer.Serialize(new[]
    {
        new WorkloadSpec { Name = "db", Addresses = ["10.5.5.5"], Labels = new Dictionary<string, string> { ["env"] = env } },
    });

    [Fact]
    public async Task Watcher_FileEdited_RelabelsWithoutRestart_AndKeepsLastGoodOnError()
    {
        await File.WriteAllTextAsync(path, Inventory("dev"));
        var options = Options.Create(new InventoryOptions { Path = path });
        var inventory = new WorkloadInventory(options);
        var watcher = new InventoryFileWatcher(inventory, options, NullLogger<InventoryFileWatcher>.Instance);
        Assert.True(await watcher.LoadAsync(CancellationToken.None));
        Assert.True(IpAddressKey.TryParse("10.5.5.5".AsSpan(), out var ip));
        Assert.Equal("dev", inventory.Current.Lookup(ip).Env);

        using var stop = new CancellationTokenSource();
        await watcher.StartAsync(stop.Token);
        try
        {
            // Write elsewhere and rename into place, as editors and config management do.
            var staging = path + ".tmp";
            await File.WriteAllTextAsync(staging, Inventory("prod"));
            File.Move(staging, path, overwrite: true);
            await Eventually.WaitAsync(() => Task.FromResult(inventory.Current.Lookup(ip).Env), env => env == "prod", TimeSpan.FromSeconds(10), "relabel from the edited file");

            await File.WriteAllTextAsync(path, "[{\"name\": \"db\", \"addresses\": [\"10.5.5.5/8\"]}]");
            await Eventually.WaitAsync(() => Task.FromResult(watcher.Failures), n => n >= 1, TimeSpan.FromSeconds(10), "the invalid file to be rejected");
            Assert.Equal("prod", inventory.Current.Lookup(ip).Env);
        }
        finally
        {
            await stop.CancelAsync();
            await watcher.StopAsync(CancellationToken.None);
        }
    }
}
