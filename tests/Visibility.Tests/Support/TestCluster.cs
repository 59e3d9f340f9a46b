using System.Runtime.CompilerServices;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Tests.Support;

/// <summary>
/// A ClickHouse cluster definition for this process's engine: <see cref="Name"/> has two shards of one replica each,
/// <c>127.0.0.1:9000</c> and <c>localhost:9000</c>. With <c>tcp_port</c> 9000 in the same configuration both count as
/// this node (nothing listens on the port; ClickHouse only compares it), so a <c>Distributed</c> table over the cluster
/// works inside chDB with the <c>prefer_localhost_replica</c> semantics of ClickHouse's own localhost test clusters:
/// an insert sends each row to one shard, which is the one local table; a read asks each shard, and both read that
/// same local table, so every row is seen once per shard (<c>shardNum()</c> tells them apart).
/// No replica has a <c>default_database</c>: one would make it a remote replica.
/// </summary>
public static class TestCluster
{
    /// <summary>The cluster's name in <c>remote_servers</c>.</summary>
    public const string Name = "two_shards";

    /// <summary>Shards of <see cref="Name"/>: a read through a <c>Distributed</c> table sees each stored row this often.</summary>
    public const int Shards = 2;

    /// <summary>The configuration file the engine of this test process is started with.</summary>
    public static string ConfigFile { get; } = Write();

    /// <summary>
    /// chDB takes its configuration when the first connection of the process opens, and every test in this assembly
    /// shares that engine (<see cref="TestStore.DataPath"/>): it is opened here, with the cluster, before any test can
    /// open it without.
    /// </summary>
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "The test assembly's one engine must start with the cluster configuration before any test opens it.")]
    internal static void OpenEngine() => ChdbEngine.Open(TestStore.DataPath, configFile: ConfigFile);

    private static string Write()
    {
        var directory = Path.Combine(Path.GetTempPath(), "visibility-tests");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"cluster-{Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)}.xml");
        File.WriteAllText(path, $"""
            <clickhouse>
                <!-- Only compared with the replicas' ports to find the local ones; chDB listens on nothing. -->
                <tcp_port>9000</tcp_port>
                <remote_servers>
                    <{Name}>
                        <shard><replica><host>127.0.0.1</host><port>9000</port></replica></shard>
                        <shard><replica><host>localhost</host><port>9000</port></replica></shard>
                    </{Name}>
                </remote_servers>
            </clickhouse>
            """);
        return path;
    }
}
