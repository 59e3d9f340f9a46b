using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Flows.Store.Server;
using Visibility.Ingest.Pipeline;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

/// <summary>
/// One store laid out for the test cluster <see cref="TestCluster.Name"/> (two shards, no replicas), with the same
/// flows in an embedded store beside it to compare with. Shared by <see cref="ClusterStatementsTests"/>.
/// <para>
/// chDB refuses every <c>ON CLUSTER</c> statement ("Replicated DDL queries are disabled", code 392), so the schema is
/// built here as each host's DDL worker runs a distributed DDL statement: the statement without its
/// <c>ON CLUSTER</c> clause, once per host. Both shards are this one process, so each statement runs once.
/// <c>ReplicatedMergeTree</c> cannot run in chDB (its replica stays read-only), hence the layout without replicas.
/// The server store is then opened on the finished schema without migrating (<c>MigrateOnStart=false</c>, as every server-mode process by default).
/// </para>
/// </summary>
public sealed class ClusterStore : IAsyncLifetime
{
    public static readonly WorkloadIndex Index = WorkloadIndex.Build(
        [
            Workload("dev-api", "10.20.2.10", "api", "dev"),
            Workload("test-api", "10.30.2.10", "api", "test"),
            Workload("prod-db", "10.10.3.10", "db", "prod"),
            Workload("prod-api", "10.10.2.10", "api", "prod"),
        ],
        new LabelSettings());

    /// <summary>A short new-edge baseline, so that the graph and findings run their new-edge statements too.</summary>
    public static readonly FindingRules Rules = new(new FindingsOptions { NewEdgeBaseline = TimeSpan.FromHours(1) });

    public static readonly StoreRetention Retention = StoreRetention.RawOnly(TimeSpan.FromDays(3650));

    /// <summary>Partitions 0 and 1 of topic <c>t</c> hold the flows; partition 0's progress stops short of its end.</summary>
    public static readonly KafkaPartition P0 = new("t", 0), P1 = new("t", 1), Unused = new("t", 2);

    /// <summary>Rows of partition 0 stored beyond its recorded progress (an insert whose progress was never recorded).</summary>
    public const int BeyondProgress = 5;

    private static readonly string[] Sources = ["10.20.2.10", "10.30.2.10", "10.10.2.10", "10.99.0.5", "203.0.113.9"];
    private static readonly string[] Destinations = ["10.10.3.10", "10.10.2.10", "10.20.2.10"];

    private ChdbConnection? engine;

    public StoreLayout Layout { get; } = StoreLayout.ForCluster(TestCluster.Name, replicated: false);

    public string Database { get; } = TestStore.NewDatabaseName();

    /// <summary>A connection straight to the engine, as a host's DDL worker runs statements.</summary>
    public ChdbConnection Engine => engine ?? throw new InvalidOperationException("not initialized");

    /// <summary>Every schema statement for <see cref="Layout"/>, in order, as generated (with <c>ON CLUSTER</c>).</summary>
    public IReadOnlyList<string> Statements { get; private set; } = [];

    /// <summary>The server store (chdb-http endpoint) on the cluster layout.</summary>
    public ServerFlowStore Server { get; private set; } = null!;

    /// <summary>An embedded single-engine store holding the same flows.</summary>
    public IFlowStore Embedded { get; private set; } = null!;

    /// <summary>Rows inserted (each once, into the one local table).</summary>
    public int Rows { get; private set; }

    /// <summary>Rows per partition.</summary>
    public Dictionary<KafkaPartition, int> PartitionRows { get; } = [];

    public DateTimeOffset Start { get; } = DateTimeOffset.UtcNow.AddHours(-3);

    public DateTimeOffset End { get; } = DateTimeOffset.UtcNow.AddMinutes(1);

    /// <summary>The statement as the DDL worker of each host runs it: without <c>ON CLUSTER</c>.</summary>
    public static string AsDdlWorker(string statement) =>
        Regex.Replace(statement, $@"\s+ON CLUSTER {TestCluster.Name}\b", "");

    /// <summary>The tables migration 14 gives a deduplication window.</summary>
    private static IEnumerable<string> DeduplicatingTables =>
        [FlowSchema.FlowsTable, .. FlowSchema.AllRollups.Select(r => r.Name), FlowSchema.EdgesTable];

    public async Task InitializeAsync()
    {
        engine = ChdbEngine.Open(TestStore.DataPath).Connect();
        Statements =
        [
            .. FlowSchema.BootstrapStatements(Database, Layout),
            .. FlowSchema.Migrations(Database, Retention, Layout).SelectMany(m => m.Statements),
        ];
        foreach (var statement in Statements)
        {
            await engine.ExecuteAsync(AsDdlWorker(statement));
        }

        // The two shards of the test cluster are one local table, so a block the Distributed table sends to shard 2
        // carries the same insert_deduplication_token as the one it sent to shard 1 and would be dropped as a repeat
        // of it (chDB drops it even with insert_deduplicate=0). On a real cluster each shard has its own table and
        // deduplication stays on; here the local tables forget their blocks.
        foreach (var table in DeduplicatingTables)
        {
            await engine.ExecuteAsync($"ALTER TABLE {FlowSchema.QuoteDatabase(Database)}.{table}{StoreLayout.LocalSuffix} MODIFY SETTING non_replicated_deduplication_window = 0");
        }

        foreach (var migration in FlowSchema.Migrations(Database, Retention, Layout))
        {
            await engine.ExecuteAsync(StoreSql.RecordMigration(Database), CancellationToken.None, StoreSql.RecordMigrationParameters(migration));
        }

        // The server store does not migrate (as any server-mode process): it finds the schema current and opens.
        var server = await ServerTargets.EndpointAsync();
        Server = new ServerFlowStore(Options.Create(new StoreOptions
        {
            Mode = "server",
            ConnectionString = server.ConnectionString,
            Database = Database,
            Cluster = TestCluster.Name,
            Replicated = false,
            Retention = Retention.Raw,
            MigrateOnStart = false,
            SchemaWait = TimeSpan.Zero,
        }), NullLogger<ServerFlowStore>.Instance);
        await Server.InitializeAsync(CancellationToken.None);

        Embedded = await TestStore.CreateAsync();
        await InsertFlowsAsync();
    }

    public async Task DisposeAsync()
    {
        Server?.Dispose();
        if (engine is not null)
        {
            await engine.ExecuteAsync($"DROP DATABASE IF EXISTS {FlowSchema.QuoteDatabase(Database)}");
        }
    }

    /// <summary>A query through the server store, as text.</summary>
    public Task<string> QueryAsync(string sql, IReadOnlyList<QueryParameter>? parameters = null, string format = "TabSeparated") =>
        Server.QueryAsync(sql, format, static span => System.Text.Encoding.UTF8.GetString(span), parameters ?? [], CancellationToken.None);

    /// <summary>A <c>VALUES</c> insert through the server store's HTTP path (with its cluster insert settings), as the migrator runs it.</summary>
    private static WorkloadSpec Workload(string name, string address, string app, string env) =>
        new() { Name = name, Addresses = [address], Labels = new Dictionary<string, string> { ["app"] = app, ["env"] = env, ["role"] = app } };

    /// <summary>
    /// Flows over the last three hours, in two batches: RowBinary, then Native. Connections of the last 50 minutes
    /// include edges never seen before (new edges after the one-hour baseline).
    /// </summary>
    private async Task InsertFlowsAsync()
    {
        var random = new Random(19);
        var rowBinary = new FlowBatch();
        var native = new FlowBatch(FlowEncoding.Native);
        var offsets = new Dictionary<int, long> { [0] = 0, [1] = 0 };
        for (var i = 0; i < 400; i++)
        {
            var late = i >= 300;
            var src = late && i % 3 == 0 ? "10.30.2.10" : Sources[random.Next(Sources.Length - 1)];
            var dst = late && i % 3 == 0 ? "10.10.3.10" : Destinations[random.Next(Destinations.Length)];
            if (i % 17 == 0)
            {
                src = "203.0.113.9";
            }

            Assert.True(IpAddressKey.TryParse(src.AsSpan(), out var s));
            Assert.True(IpAddressKey.TryParse(dst.AsSpan(), out var d));
            var at = late ? End.AddMinutes(-50).AddSeconds(random.Next(0, 44 * 60)) : Start.AddSeconds(random.Next(0, 100 * 60));
            var startMs = at.ToUnixTimeMilliseconds();
            var port = (ushort)(late && i % 3 == 0 ? 5432 : random.Next(2) == 0 ? 443 : 8080);
            var partition = i % 2;
            foreach (var ev in random.Next(3) == 0 ? new[] { FlowEvent.New, FlowEvent.Destroy } : [FlowEvent.Destroy])
            {
                var record = new FlowRecord
                {
                    StartMs = startMs,
                    EndMs = ev == FlowEvent.Destroy ? startMs + 3_000 : 0,
                    ConnectionId = (ulong)i + 1,
                    Event = ev,
                    Protocol = 6,
                    SrcIp = s,
                    DstIp = d,
                    SrcPort = (ushort)(30000 + i),
                    DstPort = port,
                    BytesOut = ev == FlowEvent.Destroy ? (ulong)random.Next(1, 100_000) : 0,
                    BytesIn = ev == FlowEvent.Destroy ? (ulong)random.Next(1, 100_000) : 0,
                    PacketsOut = ev == FlowEvent.Destroy ? (ulong)random.Next(1, 100) : 0,
                    PacketsIn = ev == FlowEvent.Destroy ? (ulong)random.Next(1, 100) : 0,
                    Connections = 1,
                    Src = Index.Lookup(s),
                    Dst = Index.Lookup(d),
                    Findings = Rules.Classify(Index.Lookup(s), Index.Lookup(d)),
                    SourceTopic = "t",
                    SourcePartition = partition,
                    SourceOffset = offsets[partition]++,
                };
                (i < 200 ? rowBinary : native).Add(record);
            }
        }

        foreach (var (partition, next) in offsets)
        {
            PartitionRows[new KafkaPartition("t", partition)] = checked((int)next);
        }

        Rows = rowBinary.Count + native.Count;

        // The ingest writer's insert (IFlowWriter.InsertFlowsAsync with its token), with RowBinary rows and with Native blocks.
        var rowBinaryToken = InsertToken.Of("cluster-test/rowbinary");
        var nativeToken = InsertToken.Of("cluster-test/native");
        await Server.InsertFlowsAsync([rowBinary.Rows], FlowEncoding.RowBinary, rowBinaryToken, CancellationToken.None);
        await Server.InsertFlowsAsync([native.Rows], FlowEncoding.Native, nativeToken, CancellationToken.None);
        await Embedded.InsertFlowsAsync([rowBinary.Rows], FlowEncoding.RowBinary, rowBinaryToken, CancellationToken.None);
        await Embedded.InsertFlowsAsync([native.Rows], FlowEncoding.Native, nativeToken, CancellationToken.None);

        // Progress as the writer records it after an acknowledged insert (IngestProgress.InsertSql).
        PartitionProgress[] progress = [new(P0, PartitionRows[P0] - BeyondProgress), new(P1, PartitionRows[P1])];
        await Server.RecordProgressAsync(progress, CancellationToken.None);
        await Embedded.RecordProgressAsync(progress, CancellationToken.None);
    }

    public static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
