using System.Text;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Flows;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Tests.Query;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

/// <summary>
/// Verdicts through the store, from real samples decoded by their decoders: a refused attempt is stored blocked, with
/// its reason and policies, counts in an edge's <c>blocked</c> once however many packets it sent, and never in
/// <c>flows</c>; the filters <c>verdict</c> and <c>policy</c> select it, from raw flows and from the rollups alike;
/// the flow search shows each record's verdict. Sample times are moved to the last hour (the raw table's TTL applies
/// at insert), keeping their spacing.
/// </summary>
public sealed class VerdictStoreTests
{
    private static readonly WorkloadIndex Lab = WorkloadIndex.Build([
        new WorkloadSpec { Name = "dev-client", Addresses = ["10.10.1.10"], Labels = new Dictionary<string, string> { ["app"] = "client", ["env"] = "dev" } },
        new WorkloadSpec { Name = "prod-db", Addresses = ["10.20.2.11"], Labels = new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" } },
    ]);

    private static readonly DateTimeOffset Base = DateTimeOffset.UtcNow.AddMinutes(-50);

    [Theory]
    [InlineData(FlowEncoding.RowBinary)]
    [InlineData(FlowEncoding.Native)]
    public async Task NflogSample_Stored_IsTwoRefusedAttempts_NoConnection_SelectedByVerdictAndPolicy(FlowEncoding encoding)
    {
        // The real capture: a TCP SYN to 5432 sent twice (one attempt) and a DNS query to 53 (another).
        var records = Decode("ulogd2-nflog", "ulogd2-nflog-drops.json", enrich: true);
        Assert.Equal(3, records.Count);
        var store = await StoreAsync(records, encoding);

        var raw = await GraphAsync(store, "workload", "", rawOnly: true);
        var planned = await GraphAsync(store, "workload", "", rawOnly: false);
        var edge = Assert.Single(raw.Edges);
        Assert.Equal(("workload=dev-client", "workload=prod-db"), (edge.Source, edge.Target));
        Assert.Equal((0L, 2L, 0L, 0L), (edge.Flows, edge.Blocked, edge.Bytes, edge.Packets));
        Assert.Equal(["tcp/5432", "udp/53"], edge.Ports.Order(StringComparer.Ordinal));
        Assert.Equal(Describe(raw), Describe(planned));
        Assert.False(planned.Plan!.RawOnly);

        // One attempt per service, each once although the SYN was sent twice.
        foreach (var (filter, blocked) in new[] { ("port = 5432", 1L), ("proto = udp", 1L), ("verdict = blocked", 2L), ("policy = visibility-drop", 2L) })
        {
            foreach (var rawOnly in new[] { true, false })
            {
                var graph = await GraphAsync(store, "app,env", filter, rawOnly);
                var selected = Assert.Single(graph.Edges);
                Assert.Equal(("app=client,env=dev", "app=db,env=prod", 0L, blocked), (selected.Source, selected.Target, selected.Flows, selected.Blocked));
                Assert.Equal(rawOnly, graph.Plan!.RawOnly);
            }
        }

        foreach (var filter in new[] { "verdict = allowed", "policy = other", "not policy = visibility-drop" })
        {
            Assert.Empty((await GraphAsync(store, "app,env", filter, rawOnly: false)).Edges);
            Assert.Empty((await GraphAsync(store, "app,env", filter, rawOnly: true)).Edges);
        }

        var flows = await SearchAsync(store, "verdict = blocked and policy = visibility-drop");
        Assert.Equal(3, flows.Count);
        Assert.All(flows, f => Assert.Equal(("blocked", true, false, ""), (f.Verdict, f.Attempt, f.Audited, f.Reason)));
        Assert.All(flows, f => Assert.Equal(["visibility-drop"], f.Policies));
        Assert.Equal(["new", "new", "update"], flows.Select(f => f.Event).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task HubbleDroppedRecord_Stored_IsBlockedWithReasonAndPolicies_AndNotAConnection()
    {
        // verdicts.jsonl: frontend -> cart forwarded (one connection, allowed by three policies), loadgen -> orders-db
        // dropped twice by shop/deny-dev-to-prod (one attempt) and once without a policy (another), an audited pair,
        // and a frontend -> cart drop (CT_MAP_INSERTION_FAILED).
        var records = Decode("hubble-json", "hubble-json/verdicts.jsonl", enrich: false);
        var store = await StoreAsync(records, FlowEncoding.Native);

        var denied = await SearchAsync(store, "policy = shop/deny-dev-to-prod and verdict = blocked");
        Assert.Equal(2, denied.Count);
        Assert.All(denied, f => Assert.Equal(("blocked", true, "POLICY_DENIED", "10.244.2.40", 5432), (f.Verdict, f.Attempt, f.Reason, f.DstIp, f.DstPort)));
        Assert.Equal(["shop/deny-dev-to-prod"], denied[0].Policies);

        var audited = Assert.Single(await SearchAsync(store, "verdict = allowed and policy = shop/deny-dev-to-prod"));
        Assert.Equal(("allowed", false, true), (audited.Verdict, audited.Attempt, audited.Audited));
        var forwarded = (await SearchAsync(store, "policy = shop/cart-ingress")).Single(f => f.Event == "new");
        Assert.Equal(["shop/cart-ingress", "shop/allow-monitoring", "shop/frontend-egress"], forwarded.Policies);

        foreach (var rawOnly in new[] { true, false })
        {
            var graph = await GraphAsync(store, "app", "", rawOnly);
            var toDb = Assert.Single(graph.Edges, e => e.Target == "app=orders-db");
            Assert.Equal(("app=loadgen", 0L, 2L, 0L), (toDb.Source, toDb.Flows, toDb.Blocked, toDb.Packets));
            var toCart = Assert.Single(graph.Edges, e => e.Source == "app=frontend" && e.Target == "app=cart");
            Assert.Equal((1L, 1L), (toCart.Flows, toCart.Blocked));
            var blocked = await GraphAsync(store, "app", "verdict = blocked", rawOnly);
            Assert.Equal(3L, blocked.Edges.Sum(e => e.Blocked));
            Assert.All(blocked.Edges, e => Assert.Equal(0L, e.Flows));
        }
    }

    /// <summary>Decodes every line of a sample; with <paramref name="enrich"/>, both ends from <see cref="Lab"/>.</summary>
    private static List<FlowRecord> Decode(string format, string sample, bool enrich)
    {
        var decoder = DecoderRegistry.Create(format, new DecoderSettings());
        var records = new List<FlowRecord>();
        foreach (var line in Golden.SampleLines(sample))
        {
            var record = default(FlowRecord);
            Assert.Equal(DecodeStatus.Ok, decoder.Decode(Encoding.UTF8.GetBytes(line), ref record, out var reason));
            Assert.Null(reason);
            if (enrich)
            {
                var src = Lab.Lookup(record.SrcIp);
                var dst = Lab.Lookup(record.DstIp);
                (record.Src, record.Dst, record.Findings) = (src, dst, FindingRules.Default.Classify(src, dst));
            }

            record.SourceTopic = "flows";
            record.SourcePartition = 0;
            record.SourceOffset = records.Count;
            records.Add(record);
        }

        var shift = Base.ToUnixTimeMilliseconds() - records.Min(r => r.StartMs);
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            record.StartMs += shift;
            record.EndMs = record.EndMs == 0 ? 0 : record.EndMs + shift;
            records[i] = record;
        }

        return records;
    }

    private static async Task<IFlowStore> StoreAsync(List<FlowRecord> records, FlowEncoding encoding)
    {
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch(encoding);
        foreach (var record in records)
        {
            batch.Add(record);
        }

        await store.InsertFlowsAsync([batch.Rows], encoding, InsertToken.Unique(), CancellationToken.None);
        return store;
    }

    private static Task<GraphResponse> GraphAsync(IFlowStore store, string groupBy, string filter, bool rawOnly)
    {
        Assert.True(GroupKey.TryParseList(groupBy, out var keys, out var error), error);
        Assert.True(FilterClause.TryCreate(filter, out var clause, out error), error);
        var request = new GraphRequest(Base.AddMinutes(-20), DateTimeOffset.UtcNow.AddMinutes(1), keys, clause, 1000) { RawOnly = rawOnly };
        return GraphQueryTests.Query(store).RunAsync(request, CancellationToken.None);
    }

    private static async Task<IReadOnlyList<FlowRow>> SearchAsync(IFlowStore store, string filter)
    {
        Assert.True(FilterClause.TryCreate(filter, out var clause, out var error), error);
        var page = await new FlowSearch(store, FindingRules.Default)
            .RunAsync(new FlowSearchRequest(Base.AddMinutes(-20), DateTimeOffset.UtcNow.AddMinutes(1), clause, 100, null), CancellationToken.None);
        return page.Flows;
    }

    private static string Describe(GraphResponse graph) => string.Join("\n", graph.Edges.Select(e =>
        $"{e.Source} -> {e.Target}: flows {e.Flows} blocked {e.Blocked} bytes {e.Bytes} ports {string.Join(",", e.Ports)}"));
}
