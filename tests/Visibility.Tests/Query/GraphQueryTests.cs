using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Tests.Support;

namespace Visibility.Tests.Query;

public sealed class GraphQueryTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build([
        new WorkloadSpec { Name = "dev-api", Addresses = ["10.20.2.10"], Labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "dev", ["team"] = "blue" } },
        new WorkloadSpec { Name = "prod-db", Addresses = ["10.10.3.0/24"], Labels = new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod", ["team"] = "red" } },
        new WorkloadSpec { Name = "prod-api", Addresses = ["10.10.2.10"], Labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "prod", ["team"] = "red" } },
    ]);

    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private static FlowRecord Record(uint ctId, string src, string dst, ushort port, FlowEvent ev, ulong bytesOut, ulong bytesIn, ulong packetsOut, ulong packetsIn)
    {
        Assert.True(IpAddressKey.TryParse(src.AsSpan(), out var s));
        Assert.True(IpAddressKey.TryParse(dst.AsSpan(), out var d));
        var start = Now.AddMinutes(-5).ToUnixTimeSeconds();
        return new FlowRecord
        {
            StartMs = start * 1000,
            EndMs = ev == FlowEvent.Destroy ? (start + 2) * 1000 : 0,
            ConnectionId = ConnectionKey.Compute(ctId, start, 6, s, d, 40000, port),
            Event = ev,
            Protocol = 6,
            SrcIp = s,
            DstIp = d,
            SrcPort = 40000,
            DstPort = port,
            BytesOut = bytesOut,
            BytesIn = bytesIn,
            PacketsOut = packetsOut,
            PacketsIn = packetsIn,
            Src = Index.Lookup(s),
            Dst = Index.Lookup(d),
            SourcePartition = 0,
            SourceOffset = ctId,
            Findings = FindingRules.Default.Classify(Index.Lookup(s), Index.Lookup(d)),
        };
    }

    private static async Task<IFlowStore> StoreWithAsync(params FlowRecord[] records)
    {
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        foreach (var r in records)
        {
            batch.Add(r);
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        return store;
    }

    internal static Task<GraphResponse> GraphAsync(IFlowStore store, string groupBy, int limit = 1000) =>
        GraphAsync(store, groupBy, Now.AddHours(-1), Now.AddMinutes(1), limit);

    internal static Task<GraphResponse> GraphAsync(IFlowStore store, string groupBy, DateTimeOffset from, DateTimeOffset to, int limit = 1000, FilterClause? filter = null)
    {
        Assert.True(GroupKey.TryParseList(groupBy, out var keys, out var error), error);
        return Query(store).RunAsync(new GraphRequest(from, to, keys, filter ?? FilterClause.All, limit), CancellationToken.None);
    }

    internal static GraphQuery Query(IFlowStore store) =>
        new(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650)), FindingRules.Default);

    [Fact]
    public async Task Graph_NewAndDestroyRecords_CountConnectionOnceWithFinalCounters()
    {
        var store = await StoreWithAsync(
            Record(1, "10.10.2.10", "10.10.3.10", 5432, FlowEvent.New, 0, 0, 0, 0),
            Record(1, "10.10.2.10", "10.10.3.10", 5432, FlowEvent.Destroy, 1000, 5000, 10, 20),
            Record(2, "10.10.2.10", "10.10.3.11", 5432, FlowEvent.Destroy, 300, 700, 3, 7));

        var graph = await GraphAsync(store, "app,env");

        var edge = Assert.Single(graph.Edges);
        Assert.Equal("app=api,env=prod", edge.Source);
        Assert.Equal("app=db,env=prod", edge.Target);
        Assert.Equal(2, edge.Flows);
        Assert.Equal(1000 + 5000 + 300 + 700, edge.Bytes);
        Assert.Equal(10 + 20 + 3 + 7, edge.Packets);
        Assert.Equal(["tcp/5432"], edge.Ports);
        Assert.False(edge.CrossEnv);
        Assert.False(graph.Truncated);
    }

    [Fact]
    public async Task Graph_DevToProd_IsCrossEnv_AndUnownedPeersAreClassNodes()
    {
        var store = await StoreWithAsync(
            Record(1, "10.20.2.10", "10.10.3.10", 5432, FlowEvent.Destroy, 10, 20, 1, 1),
            Record(2, "10.99.0.5", "10.10.2.10", 22, FlowEvent.Destroy, 10, 20, 1, 1),
            Record(3, "203.0.113.7", "10.10.2.10", 443, FlowEvent.Destroy, 10, 20, 1, 1));

        var graph = await GraphAsync(store, "app,env");

        var cross = Assert.Single(graph.Edges, e => e.CrossEnv);
        Assert.Equal("app=api,env=dev", cross.Source);
        Assert.Equal("app=db,env=prod", cross.Target);
        Assert.Equal(["cross_env"], cross.Findings);
        Assert.Contains(graph.Nodes, n => n.Id == "unknown" && n.Kind == "unknown" && n.Labels["kind"] == "unknown");
        Assert.Contains(graph.Nodes, n => n.Id == "internet" && n.Kind == "internet");
        Assert.Contains(graph.Edges, e => e.Source == "unknown" && e.Target == "app=api,env=prod" && !e.CrossEnv);
    }

    [Fact]
    public async Task Graph_GroupByFreeFormLabelAndAddress_UsesThem()
    {
        var store = await StoreWithAsync(
            Record(1, "10.20.2.10", "10.10.3.10", 5432, FlowEvent.Destroy, 10, 20, 1, 1),
            Record(2, "10.10.2.10", "10.10.3.10", 5432, FlowEvent.Destroy, 10, 20, 1, 1),
            Record(3, "10.99.0.5", "10.10.3.10", 5432, FlowEvent.Destroy, 10, 20, 1, 1));

        var byTeam = await GraphAsync(store, "team");
        Assert.Contains(byTeam.Edges, e => e.Source == "team=blue" && e.Target == "team=red");
        Assert.Contains(byTeam.Edges, e => e.Source == "team=red" && e.Target == "team=red");

        var byAddress = await GraphAsync(store, "address");
        Assert.Contains(byAddress.Edges, e => e.Source == "unknown:10.99.0.5" && e.Target == "address=10.10.3.10");
    }

    [Fact]
    public async Task Graph_MoreEdgesThanLimit_ReportsTruncation()
    {
        var store = await StoreWithAsync(
            Record(1, "10.20.2.10", "10.10.3.10", 5432, FlowEvent.Destroy, 10, 20, 1, 1),
            Record(2, "10.10.2.10", "10.10.3.10", 5432, FlowEvent.Destroy, 10, 20, 1, 1));
        var graph = await GraphAsync(store, "workload", limit: 1);
        Assert.Single(graph.Edges);
        Assert.True(graph.Truncated);
        Assert.Equal(2, graph.TotalEdges);
    }

    [Theory]
    [InlineData("app,app", "twice")]
    [InlineData("app;drop", "not a valid label key")]
    [InlineData(",", "at least one")]
    public void GroupBy_Invalid_ExplainsWhy(string text, string expected)
    {
        Assert.False(GroupKey.TryParseList(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrations_RunTwice_AreAppliedOnce()
    {
        var database = TestStore.NewDatabaseName();
        var first = await TestStore.CreateAsync(database);
        var second = await TestStore.CreateAsync(database);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9], await first.AppliedMigrationsAsync(CancellationToken.None));
        var rows = await second.QueryAsync(
            $"SELECT count() FROM {database}.{FlowSchema.MigrationsTable}", "TabSeparated",
            static span => System.Text.Encoding.UTF8.GetString(span).Trim(), [], CancellationToken.None);
        Assert.Equal("9", rows);
    }

    [Fact]
    public async Task Workloads_Upserted_AreLoadedBackLatestWins()
    {
        var store = await TestStore.CreateAsync();
        await store.UpsertWorkloadsAsync([new WorkloadSpec { Name = "a", Addresses = ["10.0.0.1"], Labels = new Dictionary<string, string> { ["env"] = "dev" } }], CancellationToken.None);
        await store.UpsertWorkloadsAsync([new WorkloadSpec { Name = "a", Addresses = ["10.0.0.2"], Labels = new Dictionary<string, string> { ["env"] = "prod" } }], CancellationToken.None);
        var loaded = Assert.Single(await store.LoadWorkloadsAsync(CancellationToken.None));
        Assert.Equal(["10.0.0.2"], loaded.Addresses);
        Assert.Equal("prod", loaded.Labels["env"]);
    }
}
