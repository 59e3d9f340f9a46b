using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.ChdbHttp;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Server;

namespace Visibility.Benchmarks.Store;

/// <summary>
/// The store transports the store benchmarks run against, by name (a BenchmarkDotNet parameter). Each benchmark
/// case runs in a process of its own (BenchmarkDotNet's default toolchain), which the embedded engine needs: one
/// data directory per process.
/// <list type="bullet">
/// <item><see cref="Embedded"/>: <see cref="EmbeddedFlowStore"/> on this process's chDB engine.</item>
/// <item><see cref="Server"/>: <see cref="ServerFlowStore"/> (ClickHouse.Driver over HTTP, its default gzip-compressed
/// inserts) against the test-only ClickHouse HTTP endpoint (<see cref="ChdbHttpServer"/>) started in this process on
/// 127.0.0.1, backed by the same engine and data directory. That measures the driver, HTTP, the endpoint and chDB
/// sharing the same cores — the client-side cost of the transport plus an engine that is not a ClickHouse server —
/// not what a real server on its own machine would take.</item>
/// </list>
/// </summary>
public static class StoreTransports
{
    public const string Embedded = "embedded";

    public const string Server = "server-chdb-http";

    private static ChdbHttpServer? endpoint;

    public static IReadOnlyList<string> Available { get; } = [Embedded, Server];

    /// <summary>An initialized store on <paramref name="transport"/>, its tables in <paramref name="database"/>.</summary>
    public static async Task<IFlowStore> CreateAsync(string transport, string database)
    {
        IFlowStore store = transport switch
        {
            Embedded => new EmbeddedFlowStore(
                Options.Create(new StoreOptions { Path = EmbeddedDataPath, Database = database }),
                NullLogger<EmbeddedFlowStore>.Instance),
            Server => new ServerFlowStore(
                Options.Create(new StoreOptions { Mode = "server", ConnectionString = (await EndpointAsync()).ConnectionString, Database = database, MigrateOnStart = true }),
                NullLogger<ServerFlowStore>.Instance),
            _ => throw new ArgumentException($"unknown store transport '{transport}'", nameof(transport)),
        };
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    /// <summary>Stops the endpoint, if this process started one, and releases the store's client.</summary>
    public static async Task StopAsync(IFlowStore store)
    {
        (store as IDisposable)?.Dispose();
        if (endpoint is { } running)
        {
            endpoint = null;
            await running.DisposeAsync();
        }
    }

    /// <summary>This process's embedded data directory (deleted by the benchmark's cleanup); the endpoint's engine uses it too.</summary>
    public static string EmbeddedDataPath { get; } =
        Path.Combine(Path.GetTempPath(), "visibility-bench-store", Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

    // chDB allows one data directory per process: the endpoint opens (or shares) the engine on the embedded path.
    private static async Task<ChdbHttpServer> EndpointAsync() =>
        endpoint ??= await ChdbHttpServer.StartAsync(new ChdbHttpOptions { DataPath = EmbeddedDataPath });
}
