using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;

namespace Visibility.Benchmarks.Store;

/// <summary>
/// The store transports the store benchmarks run against, by name (a BenchmarkDotNet parameter). Each benchmark
/// case runs in a process of its own (BenchmarkDotNet's default toolchain), which the embedded engine needs: one
/// data directory per process. To add the server transport (ClickHouse.Driver), add its name to
/// <see cref="Available"/> when its connection string is configured, and a case to <see cref="CreateAsync"/>.
/// </summary>
public static class StoreTransports
{
    public const string Embedded = "embedded";

    public static IReadOnlyList<string> Available { get; } = [Embedded];

    /// <summary>An initialized store on <paramref name="transport"/>, its tables in <paramref name="database"/>.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1859", Justification = "The server transport joins this switch; callers use the interface on purpose.")]
    public static async Task<IFlowStore> CreateAsync(string transport, string database)
    {
        IFlowStore store = transport switch
        {
            Embedded => new EmbeddedFlowStore(
                Options.Create(new StoreOptions { Path = EmbeddedDataPath, Database = database }),
                NullLogger<EmbeddedFlowStore>.Instance),
            _ => throw new ArgumentException($"unknown store transport '{transport}'", nameof(transport)),
        };
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    /// <summary>This process's embedded data directory (deleted by the benchmark's cleanup).</summary>
    public static string EmbeddedDataPath { get; } =
        Path.Combine(Path.GetTempPath(), "visibility-bench-store", Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
}
