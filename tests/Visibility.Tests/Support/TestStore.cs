using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;

namespace Visibility.Tests.Support;

/// <summary>
/// chDB allows one data directory per process, so every test in this assembly shares one engine and isolates
/// itself with a database of its own.
/// </summary>
public static class TestStore
{
    public static readonly string DataPath =
        Path.Combine(Path.GetTempPath(), "visibility-tests", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static string NewDatabaseName() => "t_" + Guid.NewGuid().ToString("N")[..16];

    public static async Task<EmbeddedFlowStore> CreateAsync(string? database = null, TimeSpan? retention = null)
    {
        var options = new StoreOptions
        {
            Path = DataPath,
            Database = database ?? NewDatabaseName(),
            Retention = retention ?? TimeSpan.FromDays(3650),
        };
        var store = new EmbeddedFlowStore(Options.Create(options), NullLogger<EmbeddedFlowStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }
}
