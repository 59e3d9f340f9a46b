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

/// <summary>
/// The rollups answer exactly what raw flows answer: the same graph for the same range, whichever tables the planner
/// mixes, on records with every kind of event and counter the decoders produce.
/// </summary>
public sealed class RollupParityTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build([
        .. Enumerable.Range(0, 12).Select(i => new WorkloadSpec
        {
            Name = $"w{i}",
            Addresses = [$"10.{i % 3}.0.{i + 10}"],
            Labels = new Dictionary<string, string> { ["app"] = $"app{i % 4}", ["env"] = i % 3 == 0 ? "prod" : i % 3 == 1 ? "dev" : "test", ["role"] = i % 2 == 0 ? "web" : "db" },
        }),
    ]);

    // Whole hours in the past, so that ranges over them cross hour, 5-minute and minute boundaries.
    private static readonly DateTimeOffset Start = HourStart(DateTimeOffset.UtcNow).AddHours(-3);

    private static readonly string[] Sources = ["10.0.0.10", "10.1.0.11", "10.2.0.12", "10.0.0.13", "10.1.0.14", "10.2.0.15", "10.99.0.5", "203.0.113.9"];
    private static readonly string[] Destinations = ["10.0.0.16", "10.1.0.17", "10.2.0.18", "10.0.0.19", "10.1.0.20", "203.0.113.50"];

    // Two whole 6-hour blocks (00:00, 06:00, 12:00, 18:00 UTC) in the past, with flows from an hour before them.
    private static readonly DateTimeOffset SixHourStart = HourStart(DateTimeOffset.UtcNow) is var hour
        ? hour.AddHours(-(hour.Hour % 6) - 18)
        : default;

    private static Task<IFlowStore> StoreAsync() => StoreAsync(Start, 3 * 3600);

    private static async Task<IFlowStore> StoreAsync(DateTimeOffset start, int seconds)
    {
        var store = await TestStore.CreateAsync();
        var random = new Random(42);
        var batch = new FlowBatch();
        for (var i = 0; i < 6_000; i++)
        {
            var src = Sources[random.Next(Sources.Length)];
            var dst = Destinations[random.Next(Destinations.Length)];
            Assert.True(IpAddressKey.TryParse(src.AsSpan(), out var s));
            Assert.True(IpAddressKey.TryParse(dst.AsSpan(), out var d));
            var startMs = start.AddSeconds(random.Next(0, seconds)).ToUnixTimeMilliseconds() + random.Next(0, 1000);
            var deltas = random.Next(4) == 0;
            var events = deltas ? [FlowEvent.New, FlowEvent.Update, FlowEvent.Destroy] : random.Next(3) switch
            {
                0 => new[] { FlowEvent.New, FlowEvent.Destroy },
                1 => [FlowEvent.Destroy],
                _ => [FlowEvent.New, FlowEvent.Update],
            };

            // A refused attempt: its first packet opens it, retransmissions follow (as the NFLOG and Hubble decoders
            // give them), packets counted as deltas; some records of either verdict name policies.
            var attempt = random.Next(6) == 0;
            if (attempt)
            {
                deltas = true;
                events = [FlowEvent.New, .. Enumerable.Repeat(FlowEvent.Update, random.Next(3))];
            }

            var policies = attempt ? BlockingPolicies[random.Next(BlockingPolicies.Length)] : random.Next(5) == 0 ? "shop/allow-web" : null;
            var port = (ushort)(random.Next(3) switch { 0 => 443, 1 => 5432, _ => random.Next(8000, 8010) });
            var srcEndpoint = Index.Lookup(s);
            var dstEndpoint = Index.Lookup(d);
            foreach (var ev in events)
            {
                batch.Add(new FlowRecord
                {
                    StartMs = deltas ? startMs + random.Next(0, 90_000) : startMs,
                    EndMs = ev == FlowEvent.Destroy ? startMs + 5_000 : 0,
                    ConnectionId = (ulong)i + 1,
                    Event = ev,
                    Protocol = (byte)(random.Next(5) == 0 ? 17 : 6),
                    SrcIp = s,
                    DstIp = d,
                    SrcPort = (ushort)random.Next(30000, 60000),
                    DstPort = port,
                    BytesOut = (ulong)random.Next(0, 100_000),
                    BytesIn = (ulong)random.Next(0, 100_000),
                    PacketsOut = (ulong)random.Next(0, 100),
                    PacketsIn = (ulong)random.Next(0, 100),
                    CountersAreDeltas = deltas,
                    Connections = 1,
                    Src = srcEndpoint,
                    Dst = dstEndpoint,
                    Findings = FindingRules.Default.Classify(srcEndpoint, dstEndpoint),
                    Verdict = attempt ? FlowVerdict.Blocked : FlowVerdict.Allowed,
                    IsAttempt = attempt,
                    VerdictReason = attempt ? "POLICY_DENIED" : null,
                    Policies = policies,
                    SourceTopic = "t",
                    SourcePartition = 0,
                    SourceOffset = batch.Count,
                });
            }
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        return store;
    }

    private static readonly string[] BlockingPolicies = ["shop/deny-dev", "shop/deny-dev,team/quarantine", "visibility-drop"];

    public static TheoryData<string, int, int> Ranges => new()
    {
        { "app,env", 0, 3 * 3600 },                    // three whole hours: flows_1h only
        { "app,env", 17 * 60 + 23, 2 * 3600 + 41 * 60 + 7 }, // every table
        { "workload", 5 * 60, 95 * 60 },               // 5-minute and hour buckets
        { "env,role", 61, 59 * 60 + 59 },              // raw slivers, minutes, 5 minutes
        { "kind,app", 3 * 3600 - 95, 3 * 3600 },       // the last seconds: minutes and raw
    };

    [Theory]
    [MemberData(nameof(Ranges))]
    public async Task Graph_FromRollups_EqualsGraphFromRawFlows(string groupBy, int fromSeconds, int toSeconds)
    {
        var store = await StoreAsync();
        Assert.True(GroupKey.TryParseList(groupBy, out var keys, out _));
        var request = new GraphRequest(Start.AddSeconds(fromSeconds), Start.AddSeconds(toSeconds), keys, FilterClause.All, 10_000);
        var query = GraphQueryTests.Query(store);

        var planned = await query.RunAsync(request, CancellationToken.None);
        var raw = await query.RunAsync(request with { RawOnly = true }, CancellationToken.None);

        Assert.Contains(planned.Plan!.Segments, s => !s.IsRaw);
        if (groupBy == "app,env" && toSeconds - fromSeconds >= 7200)
        {
            // The app × env table answers the whole hours of an app × env graph.
            Assert.Contains(planned.Plan.Segments, s => s.Table == "flows_app_1h");
        }

        Assert.True(raw.Plan!.RawOnly);
        Assert.True(raw.Edges.Count > 5, $"only {raw.Edges.Count} edges: the data is too thin to compare");
        Assert.Equal(raw.TotalEdges, planned.TotalEdges);
        Assert.Equal(Describe(raw), Describe(planned));
    }

    [Fact]
    public async Task Graph_OverSixHourBlocks_EqualsGraphFromRawFlows()
    {
        var store = await StoreAsync(SixHourStart.AddHours(-1), 14 * 3600);
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out _));
        var request = new GraphRequest(SixHourStart.AddSeconds(-(47 * 60) - 13), SixHourStart.AddHours(12).AddMinutes(52).AddSeconds(9), keys, FilterClause.All, 10_000);
        var query = GraphQueryTests.Query(store);

        var planned = await query.RunAsync(request, CancellationToken.None);
        var raw = await query.RunAsync(request with { RawOnly = true }, CancellationToken.None);

        var blocks = Assert.Single(planned.Plan!.Segments, s => s.Table == "flows_app_6h");
        Assert.Equal((SixHourStart, SixHourStart.AddHours(12)), (blocks.From, blocks.To));
        Assert.True(raw.Edges.Count > 5, $"only {raw.Edges.Count} edges: the data is too thin to compare");
        Assert.Equal(raw.TotalEdges, planned.TotalEdges);
        Assert.Equal(Describe(raw), Describe(planned));
    }

    [Fact]
    public async Task Graph_WithFilter_FromRollups_EqualsRaw_AndAddressFiltersReadRaw()
    {
        var store = await StoreAsync();
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out _));
        Assert.True(FilterClause.TryCreate("src.env = dev and (port in (443, 5432) or proto = udp) and not dst.kind = internet", out var filter, out var error), error);
        var request = new GraphRequest(Start.AddMinutes(7), Start.AddMinutes(151), keys, filter, 10_000);
        var query = GraphQueryTests.Query(store);

        var planned = await query.RunAsync(request, CancellationToken.None);
        var raw = await query.RunAsync(request with { RawOnly = true }, CancellationToken.None);
        Assert.False(planned.Plan!.RawOnly);
        Assert.NotEmpty(raw.Edges);
        Assert.All(raw.Edges, e => Assert.Contains("env=dev", e.Source, StringComparison.Ordinal));
        Assert.Equal(Describe(raw), Describe(planned));

        Assert.True(FilterClause.TryCreate("src.ip in 10.1.0.0/16", out var byAddress, out error), error);
        var addressed = await query.RunAsync(request with { Filter = byAddress }, CancellationToken.None);
        Assert.True(addressed.Plan!.RawOnly);
        Assert.NotEmpty(addressed.Edges);
        Assert.All(addressed.Edges, e => Assert.Contains("env=dev", e.Source, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("verdict = blocked")]
    [InlineData("verdict = allowed and src.env = dev")]
    [InlineData("policy = shop/deny-dev")]
    [InlineData("policy in (team/quarantine, shop/allow-web) or verdict != allowed")]
    [InlineData("not policy = visibility-drop and port = 5432")]
    public async Task Graph_ByVerdictAndPolicy_FromRollups_EqualsRaw(string filterText)
    {
        var store = await StoreAsync();
        Assert.True(FilterClause.TryCreate(filterText, out var filter, out var error), error);
        Assert.False(filter.NeedsRaw);
        foreach (var groupBy in new[] { "app,env", "workload" })
        {
            Assert.True(GroupKey.TryParseList(groupBy, out var keys, out _));
            var request = new GraphRequest(Start.AddMinutes(3).AddSeconds(9), Start.AddMinutes(173), keys, filter, 10_000);
            var query = GraphQueryTests.Query(store);

            var planned = await query.RunAsync(request, CancellationToken.None);
            var raw = await query.RunAsync(request with { RawOnly = true }, CancellationToken.None);

            Assert.Contains(planned.Plan!.Segments, s => !s.IsRaw);
            Assert.Contains(planned.Plan.Segments, s => s.Table is "flows_1h" or "flows_app_1h");
            Assert.True(raw.Edges.Count > 2, $"only {raw.Edges.Count} edges: the data is too thin to compare");
            Assert.Equal(Describe(raw), Describe(planned));
            if (filterText == "verdict = blocked")
            {
                // Only refused attempts: no connection on any edge, and each edge's attempts counted once.
                Assert.All(raw.Edges, e => Assert.Equal((0L, 0L, 0L), (e.Flows, e.Bytes, e.Packets)));
                Assert.All(raw.Edges, e => Assert.True(e.Blocked > 0));
            }
        }
    }

    [Fact]
    public async Task Graph_Attempts_FromRollups_EqualRawAttemptRecordsThatOpenOne()
    {
        // The edges' blocked counts add up to the attempts stored, each once however many retransmissions it sent.
        var store = await StoreAsync();
        Assert.True(GroupKey.TryParseList("app,env", out var keys, out _));
        var request = new GraphRequest(Start, Start.AddHours(3), keys, FilterClause.All, 10_000);
        var planned = await GraphQueryTests.Query(store).RunAsync(request, CancellationToken.None);
        var stored = await store.QueryAsync(
            $"SELECT countIf(attempt = 1 AND event = 1), countIf(attempt = 1), countIf(attempt = 0 AND event = 1) FROM `{store.Database}`.{FlowSchema.FlowsTable} " +
            $"WHERE ts >= fromUnixTimestamp64Milli({request.From.ToUnixTimeMilliseconds()}) AND ts < fromUnixTimestamp64Milli({request.To.ToUnixTimeMilliseconds()})",
            "TabSeparated", static s => System.Text.Encoding.UTF8.GetString(s).Trim().Split('\t').Select(n => long.Parse(n, System.Globalization.CultureInfo.InvariantCulture)).ToArray(), [], CancellationToken.None);

        Assert.DoesNotContain(planned.Plan!.Segments, s => s.IsRaw);
        Assert.True(stored[1] > stored[0], "no retransmissions among the attempts");
        Assert.Equal(stored[0], planned.Edges.Sum(e => e.Blocked));
        Assert.True(planned.Edges.Sum(e => e.Flows) >= stored[2], "connections opened are missing");
    }

    [Fact]
    public async Task NewEdgeIntoProd_HasTheSameSeverityFromRollupsAsFromRawFlows()
    {
        // Found by `make bench-query` (2026-11-27): from rollups, a new edge got the severity of a new edge between no
        // environments ("low"), from raw flows that of its own environments; the lookup now brings them along.
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        var old = HourStart(DateTimeOffset.UtcNow).AddDays(-3);
        var recent = HourStart(DateTimeOffset.UtcNow).AddHours(-2);
        (string Src, string Dst, DateTimeOffset At)[] flows =
        [
            ("10.0.0.10", "10.0.0.13", old),          // w0 (prod) -> w3 (prod): known for days
            ("10.0.0.10", "10.0.0.13", recent),
            ("10.0.0.10", "10.0.0.19", recent.AddMinutes(7)), // w0 (prod) -> w9 (prod): new
        ];
        foreach (var (src, dst, at) in flows)
        {
            Assert.True(IpAddressKey.TryParse(src.AsSpan(), out var s));
            Assert.True(IpAddressKey.TryParse(dst.AsSpan(), out var d));
            var srcEndpoint = Index.Lookup(s);
            var dstEndpoint = Index.Lookup(d);
            batch.Add(new FlowRecord
            {
                StartMs = at.ToUnixTimeMilliseconds(), EndMs = at.ToUnixTimeMilliseconds() + 1_000, ConnectionId = (ulong)batch.Count + 1,
                Event = FlowEvent.Destroy, Protocol = 6, SrcIp = s, DstIp = d, SrcPort = 40000, DstPort = 5432, BytesOut = 10, PacketsOut = 1,
                Connections = 1, Src = srcEndpoint, Dst = dstEndpoint, Findings = FindingRules.Default.Classify(srcEndpoint, dstEndpoint),
                SourceTopic = "t", SourcePartition = 0, SourceOffset = batch.Count,
            });
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        Assert.True(GroupKey.TryParseList("workload,env", out var keys, out _));
        var request = new GraphRequest(recent.AddHours(-1), recent.AddHours(1), keys, FilterClause.All, 10_000);
        var query = GraphQueryTests.Query(store);
        var planned = await query.RunAsync(request, CancellationToken.None);
        var raw = await query.RunAsync(request with { RawOnly = true }, CancellationToken.None);

        Assert.False(planned.Plan!.RawOnly);
        var fresh = Assert.Single(raw.Edges, e => e.Findings.Contains("new_edge"));
        Assert.Equal("workload=w9,env=prod", fresh.Target);
        var expected = FindingRules.Default.Severity(FindingKind.NewEdge, "prod", "prod");
        Assert.NotEqual(FindingRules.Default.Severity(FindingKind.NewEdge, "", ""), expected);
        Assert.Equal(expected, fresh.Severity);
        Assert.Equal(Describe(raw), Describe(planned));
    }

    private static DateTimeOffset HourStart(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero);

    private static string Describe(GraphResponse graph) => string.Join("\n", graph.Edges.Select(e =>
        $"{e.Source} -> {e.Target}: flows {e.Flows} blocked {e.Blocked} bytes {e.Bytes} packets {e.Packets} ports {string.Join(",", e.Ports)} ({e.PortCount}) " +
        $"findings {string.Join(",", e.Findings)} {e.Severity} seen {e.FirstSeen:O}..{e.LastSeen:O}"));
}
