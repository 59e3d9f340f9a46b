using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.ChdbHttp;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Server;

namespace Visibility.Tests.Support;

/// <summary>
/// The ClickHouse servers the server-store tests run against: always the test endpoint backed by this process's
/// chDB engine (<see cref="ChdbHttpServer"/>), and a real server when <c>VISIBILITY_TEST_CLICKHOUSE</c> holds a
/// ClickHouse.Driver connection string. Without the variable the real-server cases are not generated at all.
/// </summary>
public static class ServerTargets
{
    public const string ChdbHttp = "chdb-http";
    public const string ClickHouse = "clickhouse";
    public const string Variable = "VISIBILITY_TEST_CLICKHOUSE";

    private static readonly Lazy<Task<ChdbHttpServer>> Endpoint = new(() =>
        ChdbHttpServer.StartAsync(new ChdbHttpOptions { DataPath = TestStore.DataPath }));

    public static string? RealServer => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    /// <summary>Theory data: one case per available target.</summary>
    public static TheoryData<string> All
    {
        get
        {
            var data = new TheoryData<string> { ChdbHttp };
            if (RealServer is not null)
            {
                data.Add(ClickHouse);
            }

            return data;
        }
    }

    /// <summary>The endpoint on this process's engine, started once and shared like the engine itself.</summary>
    public static Task<ChdbHttpServer> EndpointAsync() => Endpoint.Value;

    public static async Task<string> ConnectionStringAsync(string target) => target switch
    {
        ChdbHttp => (await EndpointAsync()).ConnectionString,
        ClickHouse => RealServer ?? throw new InvalidOperationException($"{Variable} is not set"),
        _ => throw new ArgumentOutOfRangeException(nameof(target), target, "unknown target"),
    };

    /// <summary>An initialized server store on <paramref name="target"/>, in a database of its own.</summary>
    public static async Task<ServerFlowStore> CreateAsync(string target, string? database = null, TimeSpan? retention = null) =>
        await CreateOnAsync(await ConnectionStringAsync(target), database, retention);

    /// <summary>An initialized server store on the server <paramref name="connectionString"/> names.</summary>
    public static async Task<ServerFlowStore> CreateOnAsync(string connectionString, string? database, TimeSpan? retention)
    {
        var store = new ServerFlowStore(Options.Create(new StoreOptions
        {
            Mode = "server",
            ConnectionString = connectionString,
            MigrateOnStart = true,
            Database = database ?? TestStore.NewDatabaseName(),
            Retention = retention ?? TimeSpan.FromDays(3650),
        }), NullLogger<ServerFlowStore>.Instance);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }
}
