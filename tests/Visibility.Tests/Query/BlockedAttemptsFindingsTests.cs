using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export.Streams;
using Visibility.Query.Findings;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Security;
using Visibility.Tests.Support;

namespace Visibility.Tests.Query;

/// <summary>
/// <c>blocked_attempts</c> findings over the real store (threshold 10 within 5 minutes, the defaults): read from the
/// minute rollup, so a row's time is its minute's first attempt. Every scan below goes to rows the test lays out.
/// </summary>
public sealed class BlockedAttemptsFindingsTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build(
        [
            Workload("dev-api", "10.20.2.10", "api", "dev"),
            Workload("test-api", "10.30.2.10", "api", "test"),
            Workload("ci-runner", "10.40.2.10", "ci", "ci"),
            Workload("prod-db", "10.10.3.10", "db", "prod"),
            Workload("prod-api", "10.10.2.10", "api", "prod"),
        ],
        new LabelSettings());

    private static readonly FindingRules Rules = FindingRules.Default;

    private static WorkloadSpec Workload(string name, string address, string app, string env) =>
        new() { Name = name, Addresses = [address], Labels = new Dictionary<string, string> { ["app"] = app, ["env"] = env } };

    private sealed record Rig(IFlowStore Store, DateTimeOffset T, StoreRetention Retention)
    {
        public DateTimeOffset From => T.AddHours(-1);

        public DateTimeOffset To => T.AddHours(1);
    }

    private static long id;

    private static FlowRecord Attempt(string src, string dst, ushort port, DateTimeOffset at, string policies)
    {
        var record = TestFlows.Connection(Index, Rules, Interlocked.Increment(ref id), src, dst, port, at, durationMs: 0);
        record.Verdict = FlowVerdict.Blocked;
        record.IsAttempt = true;
        record.Policies = policies;
        record.BytesIn = record.BytesOut = record.PacketsIn = record.PacketsOut = 0;
        return record;
    }

    private static FlowRecord Connection(string src, string dst, ushort port, DateTimeOffset at) =>
        TestFlows.Connection(Index, Rules, Interlocked.Increment(ref id), src, dst, port, at);

    /// <summary>
    /// T is a whole minute two hours ago. Scans (refused attempts):
    /// <list type="bullet">
    /// <item>dev-api → prod-db tcp/5432: exactly 10 attempts, every 15 s from T (rows T+0 ×4, T+1m ×4, T+2m ×2),
    /// with 5 allowed connections among them: one finding, medium;</item>
    /// <item>10.99.0.5 (unknown) → prod-db tcp/5000-5005 and prod-api tcp/22-27: 12 attempts every 10 s from T+10m,
    /// each its own row: one finding, high (12 ports);</item>
    /// <item>test-api → prod-db tcp/5432: 9 attempts within a minute at T+20m: below the threshold;</item>
    /// <item>ci-runner → prod-api tcp/443: 10 attempts a minute apart from T+30m: never 10 within 5 minutes;</item>
    /// <item>prod-api → prod-db tcp/5432: 30 allowed connections and 9 attempts within 2 minutes at T+40m: allowed
    /// connections never count.</item>
    /// </list>
    /// </summary>
    private static async Task<Rig> RigAsync()
    {
        var now = DateTimeOffset.UtcNow.AddHours(-2);
        var t = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
        var batch = new FlowBatch();
        for (var i = 0; i < 10; i++)
        {
            batch.Add(Attempt("10.20.2.10", "10.10.3.10", 5432, t.AddSeconds(15 * i), "prod/deny-dev"));
        }

        for (var i = 0; i < 5; i++)
        {
            batch.Add(Connection("10.20.2.10", "10.10.3.10", 443, t.AddSeconds(20 * i)));
        }

        for (var i = 0; i < 12; i++)
        {
            var (dst, port) = i < 6 ? ("10.10.3.10", (ushort)(5000 + i)) : ("10.10.2.10", (ushort)(22 + i - 6));
            batch.Add(Attempt("10.99.0.5", dst, port, t.AddMinutes(10).AddSeconds(10 * i), i % 2 == 0 ? "edge/fw" : "prod/deny-all"));
        }

        for (var i = 0; i < 9; i++)
        {
            batch.Add(Attempt("10.30.2.10", "10.10.3.10", 5432, t.AddMinutes(20).AddSeconds(5 * i), "prod/deny-test"));
        }

        for (var i = 0; i < 10; i++)
        {
            batch.Add(Attempt("10.40.2.10", "10.10.2.10", 443, t.AddMinutes(30 + i), "prod/deny-ci"));
        }

        for (var i = 0; i < 30; i++)
        {
            batch.Add(Connection("10.10.2.10", "10.10.3.10", 5432, t.AddMinutes(40).AddSeconds(4 * i)));
        }

        for (var i = 0; i < 9; i++)
        {
            batch.Add(Attempt("10.10.2.10", "10.10.3.10", 6432, t.AddMinutes(40).AddSeconds(10 * i), "prod/deny-all"));
        }

        var store = await TestStore.CreateAsync();
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        return new Rig(store, t, StoreRetention.RawOnly(TimeSpan.FromDays(3650)));
    }

    private static FindingsQuery Query(Rig rig, BlockedAttemptsOptions? options = null) =>
        new(rig.Store, rig.Retention, Rules) { Sources = [new BlockedAttemptsFindings(rig.Store, rig.Retention, options ?? new BlockedAttemptsOptions())] };

    private static async Task<List<Finding>> BlockedAsync(Rig rig, string filter = "", string scope = "", DateTimeOffset? firstSeenFrom = null, BlockedAttemptsOptions? options = null)
    {
        Assert.True(FilterClause.TryCreate(filter, out var clause, out var error), error);
        var request = new FindingsRequest(rig.From, rig.To, AccessScope.Parse(scope).Restrict(clause), "low", 1000) { FirstSeenFrom = firstSeenFrom };
        var response = await Query(rig, options).RunAsync(request, CancellationToken.None);
        return [.. response.Findings.Where(f => f.Kind == BlockedAttemptsFindings.Kind).OrderBy(f => f.FirstSeen)];
    }

    private static string Line(Finding f)
    {
        var b = f.BlockedAttempts!;
        return $"{f.Severity} {f.Source.Workload}|{f.Source.Kind} -> '{f.Destination.Workload}' '{f.Service}' attempts={b.Attempts} destinations={b.Destinations} ports={b.Ports} " +
            $"flows={f.Flows} bytes={f.Bytes} policies={string.Join(",", b.Policies)}";
    }

    [Fact]
    public async Task Scans_ThresholdReachedWithinTheWindow_AreOneFindingEach_AndNothingElseIs()
    {
        var rig = await RigAsync();
        var found = await BlockedAsync(rig);

        // Below the threshold (test-api), spread wider than the window (ci-runner) and a source whose allowed
        // connections would have reached it (prod-api) are not findings.
        Assert.Equal(
            [
                "medium dev-api|host -> 'prod-db' 'tcp/5432' attempts=10 destinations=1 ports=1 flows=0 bytes=0 policies=prod/deny-dev",
                "high |unknown -> '' '' attempts=12 destinations=2 ports=12 flows=0 bytes=0 policies=edge/fw,prod/deny-all",
            ],
            found.Select(Line));

        // dev-api: the threshold is reached by the minute row at T+2m (the 9th and 10th attempts); the scan ran from T
        // to the last attempt at T+135 s.
        var dev = found[0];
        Assert.Equal((rig.T.AddMinutes(2), rig.T, rig.T.AddSeconds(135)), (dev.FirstSeen, dev.BlockedAttempts!.FirstAttempt, dev.LastSeen));
        Assert.Equal(["prod-db tcp/5432 10"], dev.BlockedAttempts.Targets.Select(t => $"{t} {t.Attempts}"));
        Assert.Equal(new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" }, dev.Destination.Labels);

        // The unknown source: every attempt its own row, so the 10th attempt (T+10m+90s) reached the threshold; ten
        // targets are named, by attempts then destination and service.
        var scan = found[1];
        Assert.Equal((rig.T.AddMinutes(10).AddSeconds(90), rig.T.AddMinutes(10), rig.T.AddMinutes(10).AddSeconds(110)), (scan.FirstSeen, scan.BlockedAttempts!.FirstAttempt, scan.LastSeen));
        Assert.Equal(
            ["prod-api tcp/22", "prod-api tcp/23", "prod-api tcp/24", "prod-api tcp/25", "prod-api tcp/26", "prod-api tcp/27", "prod-db tcp/5000", "prod-db tcp/5001", "prod-db tcp/5002", "prod-db tcp/5003"],
            scan.BlockedAttempts.Targets.Select(t => t.ToString()));
    }

    [Fact]
    public async Task Threshold_AndWindow_AreTheConfiguredOnes()
    {
        var rig = await RigAsync();

        // Nine within a minute is a finding at threshold 9 (test-api, and prod-api's attempts; allowed connections
        // still do not count: prod-api has 9 attempts, not 39).
        var nine = await BlockedAsync(rig, options: new BlockedAttemptsOptions { Threshold = 9 });
        Assert.Equal(["dev-api", "", "test-api", "prod-api"], nine.Select(f => f.Source.Workload));
        Assert.Equal(9, nine.Single(f => f.Source.Workload == "prod-api").BlockedAttempts!.Attempts);

        // Ten a minute apart fit a 10-minute window (ci-runner).
        var wide = await BlockedAsync(rig, options: new BlockedAttemptsOptions { Window = TimeSpan.FromMinutes(10) });
        var ci = Assert.Single(wide, f => f.Source.Workload == "ci-runner");
        Assert.Equal((10L, rig.T.AddMinutes(39), rig.T.AddMinutes(30)), (ci.BlockedAttempts!.Attempts, ci.FirstSeen, ci.BlockedAttempts.FirstAttempt));

        // A window of 2 minutes reads raw flows: dev-api's ten attempts span 135 s, so no 2 minutes hold ten.
        var narrow = await BlockedAsync(rig, options: new BlockedAttemptsOptions { Window = TimeSpan.FromMinutes(2) });
        Assert.Equal([""], narrow.Select(f => f.Source.Workload));
    }

    [Fact]
    public async Task Filter_AndFindingField_SelectTheAttempts()
    {
        var rig = await RigAsync();
        Assert.Equal(["dev-api"], (await BlockedAsync(rig, "src.env = dev")).Select(f => f.Source.Workload));
        Assert.Equal(["dev-api", ""], (await BlockedAsync(rig, "finding = blocked_attempts")).Select(f => f.Source.Workload));
        Assert.Equal(["dev-api"], (await BlockedAsync(rig, "finding in (cross_env, blocked_attempts) and src.kind = host")).Select(f => f.Source.Workload));
        Assert.Empty(await BlockedAsync(rig, "finding = cross_env"));
        Assert.Empty(await BlockedAsync(rig, "not finding = blocked_attempts"));
        Assert.Equal(["dev-api", ""], (await BlockedAsync(rig, "finding != new_edge or port = 1")).Select(f => f.Source.Workload));

        // Only the attempts the filter lets through count: six of the unknown source's twelve go to prod-db.
        Assert.Equal(["dev-api"], (await BlockedAsync(rig, "dst.app = db")).Select(f => f.Source.Workload));

        // The stored kinds have no blocked_attempts: the filter selects blocked attempts only.
        Assert.True(FilterClause.TryCreate("finding = blocked_attempts", out var only, out _));
        var all = await Query(rig).RunAsync(new FindingsRequest(rig.From, rig.To, only, "low", 100), CancellationToken.None);
        Assert.Equal([BlockedAttemptsFindings.Kind], all.Findings.Select(f => f.Kind).Distinct());

        // Severity: medium is not high.
        Assert.True(FilterClause.TryCreate("", out var none, out _));
        var high = await Query(rig).RunAsync(new FindingsRequest(rig.From, rig.To, none, "high", 100), CancellationToken.None);
        Assert.Equal([""], high.Findings.Where(f => f.Kind == BlockedAttemptsFindings.Kind).Select(f => f.Source.Workload));

        // Findings:Severities:blocked_attempts sets one level for every scan, wide or not.
        var critical = new FindingRules(new FindingsOptions { Severities = new Dictionary<string, string> { [FindingKinds.BlockedAttempts] = "critical" } });
        var overridden = new FindingsQuery(rig.Store, rig.Retention, critical)
        {
            Sources = [new BlockedAttemptsFindings(rig.Store, rig.Retention, new BlockedAttemptsOptions(), rules: critical)],
        };
        var levels = await overridden.RunAsync(new FindingsRequest(rig.From, rig.To, none, "low", 100), CancellationToken.None);
        Assert.Equal(["critical", "critical"], levels.Findings.Where(f => f.Kind == BlockedAttemptsFindings.Kind).Select(f => f.Severity));
    }

    [Fact]
    public async Task LabelScope_CountsOnlyTheAttemptsItSees()
    {
        var rig = await RigAsync();

        // A key scoped to env=prod sees every attempt above (all went to prod); one scoped to app=db sees only the six
        // of the unknown source's attempts that went to prod-db, below the threshold; env=test sees none of the scans.
        Assert.Equal(["dev-api", ""], (await BlockedAsync(rig, scope: "env=prod")).Select(f => f.Source.Workload));
        Assert.Equal(["dev-api"], (await BlockedAsync(rig, scope: "app=db")).Select(f => f.Source.Workload));
        Assert.Empty(await BlockedAsync(rig, scope: "env=test"));
        Assert.Equal(["dev-api"], (await BlockedAsync(rig, scope: "env=dev")).Select(f => f.Source.Workload));
    }

    [Fact]
    public async Task FirstSeenFrom_IsWhenTheThresholdWasReached()
    {
        var rig = await RigAsync();
        Assert.Equal(["dev-api", ""], (await BlockedAsync(rig, firstSeenFrom: rig.T.AddMinutes(2))).Select(f => f.Source.Workload));
        Assert.Equal([""], (await BlockedAsync(rig, firstSeenFrom: rig.T.AddMinutes(2).AddMilliseconds(1))).Select(f => f.Source.Workload));
    }

    [Fact]
    public async Task Export_ReportsAScanOnce_InTheIntervalItBecameOne_WithStableIds()
    {
        var rig = await RigAsync();
        var graph = new GraphQuery(rig.Store, rig.Retention, Rules);
        var source = new ExportRecordSource(Query(rig), graph);
        var stream = new ExportStreamSettings(
            "soc", ExportContent.Findings, "json", FilterClause.All, "low", [], TimeSpan.FromMinutes(1), TimeSpan.Zero, TimeSpan.FromDays(1), null);

        // Minute intervals: the unknown source's scan starts at T+10m and reaches the threshold at T+11m30s, so the
        // interval [T+10m, T+11m) has none of it and [T+11m, T+12m) reports it, with the attempts up to its end (all
        // twelve); later intervals do not repeat it.
        var records = new List<(DateTimeOffset Start, ExportRecord Record)>();
        for (var start = rig.T; start < rig.T.AddMinutes(50); start = start.AddMinutes(1))
        {
            var interval = await source.ReadAsync(stream, start, start.AddMinutes(1), CancellationToken.None);
            records.AddRange(interval.Records.Where(r => r.Finding!.Finding.Kind == BlockedAttemptsFindings.Kind).Select(r => (start, r)));
        }

        Assert.Equal(
            [(rig.T.AddMinutes(2), "dev-api", 10L), (rig.T.AddMinutes(11), "", 12L)],
            records.Select(r => (r.Start, r.Record.Finding!.Finding.Source.Workload, r.Record.Finding.Finding.BlockedAttempts!.Attempts)));

        // The same interval read again gives the same record and id.
        var again = await source.ReadAsync(stream, rig.T.AddMinutes(11), rig.T.AddMinutes(12), CancellationToken.None);
        Assert.Equal(records[1].Record.EventId, Assert.Single(again.Records, r => r.Finding!.Finding.Kind == BlockedAttemptsFindings.Kind).EventId);
    }

    [Fact]
    public void Options_Defaults_AreValid_AndBadValuesAreNamed()
    {
        var defaults = new FindingsOptions();
        Assert.Empty(defaults.Validate(new ValidationContext(defaults)));
        Assert.Equal((10, TimeSpan.FromMinutes(5)), (defaults.BlockedAttempts.Threshold, defaults.BlockedAttempts.Window));

        var bad = new FindingsOptions { BlockedAttempts = new BlockedAttemptsOptions { Threshold = 0, Window = TimeSpan.FromMilliseconds(500) } };
        Assert.Equal(
            ["Findings:BlockedAttempts:Threshold: 0 is not from 1 to 1000000", "Findings:BlockedAttempts:Window: 500ms is not from 1s to 1d"],
            bad.Validate(new ValidationContext(bad)).Select(e => e.ErrorMessage));
        var tooLarge = new BlockedAttemptsOptions { Threshold = 1_000_001, Window = TimeSpan.FromDays(2) };
        Assert.Equal(["Findings:BlockedAttempts:Threshold: 1000001 is not from 1 to 1000000", "Findings:BlockedAttempts:Window: 2d is not from 1s to 1d"], tooLarge.Problems());
    }

    [Fact]
    public void Options_FromConfiguration_AreBound_AndBadOnesAreRefused()
    {
        static FindingsOptions Bind(string threshold, string window)
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Visibility:Findings:BlockedAttempts:Threshold"] = threshold,
                ["Visibility:Findings:BlockedAttempts:Window"] = window,
            }).Build();
            var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
            services.AddFlowModel(configuration);
            using var provider = services.BuildServiceProvider();
            return provider.GetRequiredService<IOptions<FindingsOptions>>().Value;
        }

        var bound = Bind("25", "90s").BlockedAttempts;
        Assert.Equal((25, TimeSpan.FromSeconds(90)), (bound.Threshold, bound.Window));
        var error = Assert.Throws<OptionsValidationException>(() => Bind("10", "0s"));
        Assert.Contains("Findings:BlockedAttempts:Window: 0s is not from 1s to 1d", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 1, "medium")]
    [InlineData(9, 9, "medium")]
    [InlineData(10, 1, "high")]
    [InlineData(1, 10, "high")]
    public void Severity_IsHigh_ForWideScans(long destinations, long ports, string expected) =>
        Assert.Equal(expected, BlockedAttemptsFindings.SeverityOf(destinations, ports));
}
