using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Ingest.Conntrack;
using Visibility.Query.Export.Streams;
using Visibility.Query.Findings;
using Visibility.Query.Flows;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rulesets;
using Visibility.Query.Security;
using Visibility.Query.Views;
using Visibility.Tests.Support;
using Visibility.Web.Auth;

namespace Visibility.Tests.Store;

/// <summary>
/// Every statement the product runs on a cluster, run on a real engine with a cluster of two shards
/// (<see cref="TestCluster"/>) and <c>distributed_product_mode</c> at its default (<c>deny</c>): the schema
/// (<see cref="ClusterStore"/>), the ingest inserts, progress, resume, verify-store, workloads, and every read of the
/// query API, policy and export. None may be refused. Both shards of the test cluster are this engine and read the
/// same local tables, so through a <c>Distributed</c> table each stored row is seen once per shard: sums read
/// through them are <see cref="TestCluster.Shards"/> times the local tables' (and an embedded store's with the same
/// flows), and per shard they equal them; maxima, minima and distinct values are unchanged.
/// </summary>
public sealed class ClusterStatementsTests(ClusterStore cluster) : IClassFixture<ClusterStore>
{
    private const int Shards = TestCluster.Shards;

    private string Db => FlowSchema.QuoteDatabase(cluster.Database);

    [Fact]
    public async Task TestCluster_IsTwoLocalShards_WithDistributedProductModeAtItsDefault()
    {
        Assert.Equal("1\t127.0.0.1\t1\n2\tlocalhost\t1\n", await cluster.QueryAsync(
            $"SELECT shard_num, host_name, is_local FROM system.clusters WHERE cluster = '{TestCluster.Name}' ORDER BY shard_num"));
        Assert.Equal("deny\t0\n", await cluster.QueryAsync(
            "SELECT value, changed FROM system.settings WHERE name = 'distributed_product_mode'"));
    }

    [Fact]
    public async Task OnClusterDdl_IsRefusedByChdb_SoTheSchemaRunsAsEachHostsDdlWorkerWould()
    {
        // Why ClusterStore strips ON CLUSTER: chDB has no distributed DDL queue at all.
        var statement = cluster.Statements[0];
        Assert.Contains($"ON CLUSTER {TestCluster.Name}", statement, StringComparison.Ordinal);
        var refused = await Assert.ThrowsAsync<ChdbException>(() => cluster.Engine.ExecuteAsync(statement));
        Assert.Contains("Code: 392", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(cluster.Statements.Select(ClusterStore.AsDdlWorker), s => s.Contains("ON CLUSTER", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ClusterDdl_WithoutReplicas_CreatesEveryTableLocalAndDistributed_AndRecordsEveryMigration()
    {
        var tables = (await cluster.QueryAsync(
                "SELECT name, engine, engine_full FROM system.tables WHERE database = {db:String} ORDER BY name",
                [new QueryParameter("db", cluster.Database)], "TSVRaw"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToDictionary(f => f[0], f => (Engine: f[1], Full: f[2]));
        var distributed = tables.Where(t => t.Value.Engine == "Distributed").ToList();
        Assert.True(distributed.Count >= 15, $"only {distributed.Count} Distributed tables");
        foreach (var (name, (_, full)) in distributed)
        {
            Assert.StartsWith($"Distributed('{TestCluster.Name}', '{cluster.Database}', '{name}_local'", full, StringComparison.Ordinal);
            Assert.Matches("^(Replacing|Aggregating|Summing)?MergeTree$", tables[name + StoreLayout.LocalSuffix].Engine);
        }

        var views = tables.Where(t => t.Value.Engine == "MaterializedView").Select(t => t.Value.Full).ToList();
        Assert.NotEmpty(views);
        Assert.DoesNotContain(tables.Values, t => t.Engine.StartsWith("Replicated", StringComparison.Ordinal));

        var versions = FlowSchema.Migrations(cluster.Database, ClusterStore.Retention, cluster.Layout).Select(m => m.Version);
        Assert.Equal(versions, await cluster.Server.AppliedMigrationsAsync(CancellationToken.None));

        // What a start reads to compare retentions (StoreRetentionSync) runs too, and finds the raw table's TTL.
        Assert.Empty(StoreRetentionSync.Changes(cluster.Database, ClusterStore.Retention, cluster.Layout, await CurrentRetentionAsync()));
    }

    [Fact]
    public async Task RetentionChange_OnTheCluster_RunsOnTheLocalTables_AndIsThenInForce()
    {
        // What a start runs when Store:Retention… changed: ALTER … MODIFY TTL ON CLUSTER on the local tables.
        var longer = ClusterStore.Retention with { Raw = ClusterStore.Retention.Raw + TimeSpan.FromDays(1) };
        foreach (var target in new[] { longer, ClusterStore.Retention })
        {
            var changes = StoreRetentionSync.Changes(cluster.Database, target, cluster.Layout, await CurrentRetentionAsync());
            var change = Assert.Single(changes);
            Assert.Contains($"{FlowSchema.FlowsTable}{StoreLayout.LocalSuffix} ON CLUSTER {TestCluster.Name}", change.Statement, StringComparison.Ordinal);
            await cluster.Engine.ExecuteAsync(ClusterStore.AsDdlWorker(change.Statement));
            Assert.Empty(StoreRetentionSync.Changes(cluster.Database, target, cluster.Layout, await CurrentRetentionAsync()));
        }
    }

    [Fact]
    public async Task FlowInserts_RowBinaryAndNative_StoreEachRowOnce_ReadOncePerShard()
    {
        var rows = cluster.Rows.ToString(CultureInfo.InvariantCulture);
        Assert.Equal(rows + "\n", await cluster.QueryAsync($"SELECT count() FROM {Db}.{FlowSchema.FlowsTable}{StoreLayout.LocalSuffix}"));
        Assert.Equal($"1\t{rows}\n2\t{rows}\n", await cluster.QueryAsync(
            $"SELECT shardNum() AS shard, count() FROM {Db}.{FlowSchema.FlowsTable} GROUP BY shard ORDER BY shard"));
        Assert.Equal(rows + "\n", await cluster.QueryAsync($"SELECT uniqExact(kafka_partition, kafka_offset) FROM {Db}.{FlowSchema.FlowsTable}"));
    }

    [Fact]
    public async Task Rollups_ThroughDistributedTables_AreOncePerShard_AndLocallyEqualTheEmbeddedStore()
    {
        foreach (var rollup in FlowSchema.AllRollups)
        {
            var sums = $"SELECT sum(closed), sum(bytes) FROM {Db}.{rollup.Name}";
            var local = await cluster.QueryAsync($"SELECT sum(closed), sum(bytes) FROM {Db}.{rollup.Name}{StoreLayout.LocalSuffix}");
            var embedded = await cluster.Embedded.QueryAsync(
                $"SELECT sum(closed), sum(bytes) FROM {FlowSchema.QuoteDatabase(cluster.Embedded.Database)}.{rollup.Name}",
                "TabSeparated", static span => System.Text.Encoding.UTF8.GetString(span), [], CancellationToken.None);
            Assert.Equal(embedded, local);
            var (closed, bytes) = Pair(local);
            Assert.True(closed > 0 && bytes > 0, $"{rollup.Name} is empty");
            Assert.Equal((Shards * closed, Shards * bytes), Pair(await cluster.QueryAsync(sums)));
        }
    }

    [Fact]
    public async Task Resume_OnTheCluster_IsNotRefused_AndFindsTheRowsBeyondProgress()
    {
        var p0 = cluster.PartitionRows[ClusterStore.P0];
        var resumed = await cluster.Server.ResumeAsync([ClusterStore.P0, ClusterStore.P1, ClusterStore.Unused], CancellationToken.None);
        Assert.Equal(
            [
                new PartitionResume(ClusterStore.P0, p0 - ClusterStore.BeyondProgress, [.. Enumerable.Range(p0 - ClusterStore.BeyondProgress, ClusterStore.BeyondProgress).Select(o => (long)o)]),
                new PartitionResume(ClusterStore.P1, cluster.PartitionRows[ClusterStore.P1], []),
                new PartitionResume(ClusterStore.Unused, null, []),
            ],
            resumed);
        Assert.Equal(resumed, await cluster.Embedded.ResumeAsync([ClusterStore.P0, ClusterStore.P1, ClusterStore.Unused], CancellationToken.None));
    }

    [Fact]
    public async Task VerifyStore_OnTheCluster_IsNotRefused_AndCountsEachRowOncePerShard()
    {
        var check = await StoreCheck.RunAsync(cluster.Server, CancellationToken.None);
        var single = await StoreCheck.RunAsync(cluster.Embedded, CancellationToken.None);

        Assert.Equal(2, check.Partitions.Count);
        foreach (var (partition, expected) in check.Partitions.Zip(single.Partitions))
        {
            Assert.Equal((expected.Topic, expected.Partition), (partition.Topic, partition.Partition));
            Assert.Equal(Shards * expected.Rows, partition.Rows);
            Assert.Equal(expected.DistinctOffsets, partition.DistinctOffsets);
            Assert.Equal((expected.MinOffset, expected.MaxOffset, expected.Progress), (partition.MinOffset, partition.MaxOffset, partition.Progress));
            Assert.Equal(Shards * expected.BeyondProgress, partition.BeyondProgress);
        }

        Assert.Equal(ClusterStore.BeyondProgress, single.BeyondProgress);
        Assert.Equal((Shards * single.Raw.Closed, Shards * single.Raw.Bytes), (check.Raw.Closed, check.Raw.Bytes));
        Assert.True(check.RollupsMatch, string.Join(", ", check.Rollups.Select(r => $"{r.Table} {r.Closed}/{r.Bytes}")) + $" against raw {check.Raw.Closed}/{check.Raw.Bytes}");
    }

    [Fact]
    public async Task Workloads_UpsertLoadDelete_OnTheCluster()
    {
        var server = cluster.Server;
        await server.UpsertWorkloadsAsync(
            [
                new WorkloadSpec { Name = "c-web", Addresses = ["10.50.0.1"], Labels = new Dictionary<string, string> { ["app"] = "web" } },
                new WorkloadSpec { Name = "c-db", Addresses = ["10.50.0.2"], Labels = new Dictionary<string, string> { ["app"] = "db" } },
            ],
            CancellationToken.None);
        Assert.Equal(["c-db", "c-web"], (await server.LoadWorkloadsAsync(CancellationToken.None)).Select(w => w.Name).Where(n => n.StartsWith("c-", StringComparison.Ordinal)));

        Assert.True(await server.DeleteWorkloadAsync("c-db", CancellationToken.None));
        Assert.False(await server.DeleteWorkloadAsync("c-none", CancellationToken.None));
        Assert.Equal(["c-web"], (await server.LoadWorkloadsAsync(CancellationToken.None)).Select(w => w.Name).Where(n => n.StartsWith("c-", StringComparison.Ordinal)));
    }

    public static TheoryData<string, string, bool> Graphs => new()
    {
        { "app,env", "", false },
        { "app,env", "", true },
        { "workload", "", false },
        { "address", "", false },
        { "env,role", "dst.env = prod", false },
        { "app", "finding = new_edge", false },
    };

    [Theory]
    [MemberData(nameof(Graphs))]
    public async Task Graph_OnTheCluster_IsNotRefused_AndSumsOncePerShard(string groupBy, string filter, bool rawOnly)
    {
        Assert.True(GroupKey.TryParseList(groupBy, out var keys, out var error), error);
        Assert.True(FilterClause.TryCreate(filter, out var clause, out error), error);
        var request = new GraphRequest(cluster.Start.AddMinutes(-1), cluster.End, keys, clause, 1000) { RawOnly = rawOnly };

        var graph = await Graph(cluster.Server).RunAsync(request, CancellationToken.None);
        var single = await Graph(cluster.Embedded).RunAsync(request, CancellationToken.None);

        Assert.NotEmpty(single.Edges);
        Assert.Equal(single.Edges.Select(e => (e.Source, e.Target)), graph.Edges.Select(e => (e.Source, e.Target)));
        foreach (var (edge, expected) in graph.Edges.Zip(single.Edges))
        {
            Assert.Equal((Shards * expected.Bytes, Shards * expected.Packets), (edge.Bytes, edge.Packets));
            Assert.Equal(expected.Ports, edge.Ports);
            Assert.Equal(expected.Findings, edge.Findings);
            Assert.Equal((expected.FirstSeen, expected.LastSeen), (edge.FirstSeen, edge.LastSeen));
        }

        Assert.Equal(single.Nodes.Select(n => n.Id), graph.Nodes.Select(n => n.Id));
    }

    [Fact]
    public async Task Graph_MarksNewEdges_OnTheCluster()
    {
        Assert.True(GroupKey.TryParseList("workload", out var keys, out var error), error);
        var graph = await Graph(cluster.Server).RunAsync(new GraphRequest(cluster.End.AddMinutes(-55), cluster.End, keys, FilterClause.All, 1000), CancellationToken.None);
        var edge = Assert.Single(graph.Edges, e => e.Source == "workload=test-api" && e.Target == "workload=prod-db");
        Assert.True(edge.Findings.Contains("new_edge"), string.Join(",", edge.Findings));
    }

    [Fact]
    public async Task FlowSearch_OnTheCluster_IsNotRefused_AndPagesEveryRowOncePerShard()
    {
        var search = new FlowSearch(cluster.Server, ClusterStore.Rules);
        var request = new FlowSearchRequest(cluster.Start.AddMinutes(-1), cluster.End, FilterClause.All, 50, null);
        var first = await search.RunAsync(request, CancellationToken.None);
        Assert.Equal(50, first.Flows.Count);
        Assert.NotNull(first.Next);
        var next = await search.RunAsync(request with { After = first.Next }, CancellationToken.None);
        Assert.NotEmpty(next.Flows);

        // Newest first, each stored row once per shard: the rows come in identical pairs.
        var pairs = first.Flows.Chunk(Shards).ToList();
        Assert.All(pairs, pair => Assert.Single(pair.Select(f => f.Source).Distinct()));
        var single = await new FlowSearch(cluster.Embedded, ClusterStore.Rules).RunAsync(request with { Limit = 25 }, CancellationToken.None);
        Assert.Equal(single.Flows.Select(f => f.Source), pairs.Select(p => p[0].Source));

        Assert.NotNull(await search.CursorAfterAsync(request, 10, CancellationToken.None));
        Assert.Null(await search.CursorAfterAsync(request, Shards * cluster.Rows, CancellationToken.None));
    }

    [Fact]
    public async Task Findings_OnTheCluster_AreTheEmbeddedStoresFindings_WithSumsOncePerShard()
    {
        var request = new FindingsRequest(cluster.Start.AddMinutes(-1), cluster.End, FilterClause.All, "low", 1000);
        var findings = await Findings(cluster.Server).RunAsync(request, CancellationToken.None);
        var single = await Findings(cluster.Embedded).RunAsync(request, CancellationToken.None);

        Assert.Contains(single.Findings, f => f.Kind == "new_edge");
        Assert.Contains(single.Findings, f => f.Kind == "cross_env");
        Assert.Equal(single.Findings.Select(Key), findings.Findings.Select(Key));
        Assert.Equal(single.Findings.Select(f => Shards * f.Bytes), findings.Findings.Select(f => f.Bytes));
    }

    [Fact]
    public async Task PolicyDraftAndSimulation_OnTheCluster_AreTheEmbeddedStoresRules()
    {
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out var error), error);
        var draftRequest = new DraftRequest(cluster.Start.AddMinutes(-1), cluster.End, FilterClause.All, keys, IncludeFlagged: false, "cluster");
        var draft = await new PolicyDrafter(Traffic(cluster.Server), []).DraftAsync(draftRequest, CancellationToken.None);
        var single = await new PolicyDrafter(Traffic(cluster.Embedded), []).DraftAsync(draftRequest, CancellationToken.None);
        Assert.NotEmpty(single.Ruleset.Rules);
        Assert.Equal(single.Ruleset.Rules.Select(r => (r.Name, string.Join(",", r.Ports))), draft.Ruleset.Rules.Select(r => (r.Name, string.Join(",", r.Ports))));

        var simulated = await new PolicySimulator(Traffic(cluster.Server)).SimulateAsync(single.Ruleset, cluster.Start.AddMinutes(-1), cluster.End, FilterClause.All, CancellationToken.None);
        var expected = await new PolicySimulator(Traffic(cluster.Embedded)).SimulateAsync(single.Ruleset, cluster.Start.AddMinutes(-1), cluster.End, FilterClause.All, CancellationToken.None);
        Assert.True(expected.BlockedFlows > 0, "nothing would be blocked: the simulation compares too little");
        Assert.Equal(expected.Coverage, simulated.Coverage, 6);
        Assert.Equal(expected.Blocked.Count, simulated.Blocked.Count);
    }

    [Fact]
    public async Task ExportReadsAndState_OnTheCluster()
    {
        var source = new ExportRecordSource(Findings(cluster.Server), Graph(cluster.Server));
        var from = cluster.Start.AddMinutes(-1);
        var findings = new ExportSinkDefinition { Content = "findings", Delay = "0s", RepeatAfter = "1d", Interval = "1h", StartAt = from }.ToStream("c-findings");
        var summaries = new ExportSinkDefinition { Content = "summaries", Delay = "0s", Interval = "1h", StartAt = from }.ToStream("c-summaries");
        Assert.NotEmpty((await source.ReadAsync(findings, from, cluster.End, CancellationToken.None)).Records);
        Assert.NotEmpty((await source.ReadAsync(summaries, from, cluster.End, CancellationToken.None)).Records);

        var state = new ExportStateStore(cluster.Server, cluster.Server);
        var checkpoint = new ExportCheckpoint(DateTimeOffset.FromUnixTimeSeconds(cluster.Start.ToUnixTimeSeconds()), 3, 7);
        await state.SaveCheckpointAsync("c-findings", checkpoint, CancellationToken.None);
        Assert.Equal(checkpoint, await state.GetCheckpointAsync("c-findings", CancellationToken.None));
        await state.SaveSinkAsync("c-file", new ExportSinkDefinition { Type = "file", Path = "/tmp/never-written" }, CancellationToken.None);
        Assert.Contains("c-file", (await state.ListSinksAsync(CancellationToken.None)).Keys);
        await state.DeleteSinkAsync("c-file", CancellationToken.None);
        Assert.DoesNotContain("c-file", (await state.ListSinksAsync(CancellationToken.None)).Keys);
    }

    [Fact]
    public async Task CatalogTables_ViewsKeysAuditRulesetsLeases_OnTheCluster()
    {
        var server = cluster.Server;
        using var views = new SavedViewStore(server, server);
        var created = await views.CreateAsync("cluster view", "groupBy=app,env", "alice", 10, CancellationToken.None);
        Assert.NotNull(created.View);
        Assert.Equal("cluster view", (await views.GetAsync(created.View.Id, CancellationToken.None))?.Name);
        Assert.Contains(await views.ListAsync(CancellationToken.None), v => v.Id == created.View.Id);
        await views.CountAsync("alice", CancellationToken.None);

        using var keys = new ApiKeyStore(server, server);
        var key = await keys.CreateAsync("cluster-key", Roles.Viewer, AccessScope.Unrestricted, "test", CancellationToken.None);
        Assert.Equal(key.Info.Id, (await keys.AuthenticateAsync(key.Key, CancellationToken.None))?.Id);
        Assert.Contains(await keys.ListAsync(CancellationToken.None), k => k.Id == key.Info.Id);

        var audit = new AuditLog(server, server, NullLogger<AuditLog>.Instance);
        await audit.RecordAsync("alice", Roles.Admin, "keys.create", "cluster-key", "ok", "", "127.0.0.1", CancellationToken.None);
        Assert.Contains(await audit.ListAsync(cluster.Start, DateTimeOffset.UtcNow.AddMinutes(1), "keys.create", null, 10, CancellationToken.None), e => e.Principal == "alice");

        using var rulesets = new RulesetStore(server, server);
        var ruleset = new PolicyRuleset("cluster", ["app"], []);
        await rulesets.SaveAsync("cluster", RulesetScope.Parse("env=prod"), ruleset, "alice", null, CancellationToken.None);
        Assert.Equal(2, (await rulesets.RestoreAsync("cluster", 1, "alice", CancellationToken.None))?.Version);
        // Versions are one row each (the winner of their number), though every shard of the test cluster is one table.
        Assert.Equal([1, 2], (await rulesets.VersionsAsync("cluster", CancellationToken.None)).Select(v => v.Version));
        await rulesets.ProvisionAsync("cluster", 2, ProvisionModes.Enforced, "alice", CancellationToken.None);
        Assert.Equal([(2, ProvisionModes.Enforced)], (await rulesets.ProvisionedNowAsync(CancellationToken.None)).Select(r => (r.Version, r.Mode)));
        Assert.Equal(2, (await rulesets.ListAsync(CancellationToken.None)).Single().Provisioned?.Version);
        // A listing of rows (not an aggregate) sees each row once per shard of the test cluster.
        Assert.Equal(Shards, (await rulesets.HistoryAsync("cluster", 10, CancellationToken.None)).Count(c => c.Version == 2));

        var lease = new StoreLease(server, server, "export", "replica-1", TimeSpan.FromSeconds(30));
        Assert.True((await lease.TryAcquireAsync(CancellationToken.None)).Held);
        Assert.Equal("replica-1", (await new StoreLease(server, server, "export", "replica-2", TimeSpan.FromSeconds(30)).ReadStateAsync(CancellationToken.None)).Holder);
        await lease.ReleaseAsync(CancellationToken.None);

        await UnclosedConnections.CountAsync(server, new ConntrackOptions(), DateTimeOffset.UtcNow, CancellationToken.None);
    }

    private async Task<string> CurrentRetentionAsync()
    {
        var (sql, parameters) = StoreRetentionSync.CurrentQuery(cluster.Database, cluster.Layout);
        return await cluster.Server.QueryAsync(sql, "TSVRaw", static span => System.Text.Encoding.UTF8.GetString(span), parameters, CancellationToken.None);
    }

    private static GraphQuery Graph(IFlowStore store) => new(store, ClusterStore.Retention, ClusterStore.Rules);

    private static FindingsQuery Findings(IFlowStore store) => new(store, ClusterStore.Retention, ClusterStore.Rules);

    private static PolicyTraffic Traffic(IFlowStore store) => new(store, ClusterStore.Retention);

    private static string Key(Finding f) =>
        $"{f.Kind} {f.Severity} {f.Source.Workload}/{f.Source.Kind} -> {f.Destination.Workload}/{f.Destination.Kind} {f.Service} {f.FirstSeen:O} {f.LastSeen:O}";

    private static (long, long) Pair(string tabSeparated)
    {
        var f = tabSeparated.Trim().Split('\t');
        return (long.Parse(f[0], CultureInfo.InvariantCulture), long.Parse(f[1], CultureInfo.InvariantCulture));
    }
}
