using Visibility.Flows.Store;
using Visibility.Query.Planning;

namespace Visibility.Tests.Query;

public sealed class QueryPlannerTests
{
    private static readonly StoreRetention Retention = StoreRetention.RawOnly(TimeSpan.FromDays(30));
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset T(string hhmmss, int day = 26) =>
        new DateTimeOffset(2026, 11, day, 0, 0, 0, TimeSpan.Zero) + TimeSpan.Parse(hhmmss, System.Globalization.CultureInfo.InvariantCulture);

    private static string Describe(QueryPlan plan) =>
        string.Join(" ", plan.Segments.Select(s => $"{s.Table}[{s.From:HH:mm:ss},{s.To:HH:mm:ss})"));

    [Fact]
    public void Plan_WholeDay_ReadsTheHourTableOnly()
    {
        var plan = QueryPlanner.Plan(T("00:00:00"), T("00:00:00", 27), needsRaw: false, Retention, Now);
        var segment = Assert.Single(plan.Segments);
        Assert.Equal(("flows_1h", T("00:00:00"), T("00:00:00", 27)), (segment.Table, segment.From, segment.To));
    }

    [Fact]
    public void Plan_UnalignedRange_TakesWholeBucketsFromTheCoarsestTableAndTheSecondsFromRaw()
    {
        var plan = QueryPlanner.Plan(T("10:02:30"), T("12:07:10"), needsRaw: false, Retention, Now);
        Assert.Equal(
            "flows_raw[10:02:30,10:03:00) flows_1m[10:03:00,10:05:00) flows_5m[10:05:00,11:00:00) flows_1h[11:00:00,12:00:00) " +
            "flows_5m[12:00:00,12:05:00) flows_1m[12:05:00,12:07:00) flows_raw[12:07:00,12:07:10)",
            Describe(plan));
        Assert.Equal((T("10:02:30"), T("12:07:10")), (plan.From, plan.To));
    }

    [Fact]
    public void Plan_AppByEnvColumns_ReadTheAppTableForWholeHours_WorkloadColumnsDoNot()
    {
        var appColumns = new HashSet<string> { "src_peer", "dst_peer", "src_app", "src_env", "dst_app", "dst_env", "services", "findings" };
        var plan = QueryPlanner.Plan(T("10:02:30"), T("12:07:10"), appColumns, Retention, Now);
        Assert.Equal(
            "flows_raw[10:02:30,10:03:00) flows_1m[10:03:00,10:05:00) flows_app_5m[10:05:00,11:00:00) flows_app_1h[11:00:00,12:00:00) " +
            "flows_app_5m[12:00:00,12:05:00) flows_1m[12:05:00,12:07:00) flows_raw[12:07:00,12:07:10)",
            Describe(plan));

        // A filter on the port needs a table that keeps it: the app × env service rollup.
        var withPort = QueryPlanner.Plan(T("10:00:00"), T("12:00:00"), new HashSet<string>(appColumns) { "dst_port" }, Retention, Now);
        Assert.Equal("flows_app_svc_1h[10:00:00,12:00:00)", Describe(withPort));

        var withWorkload = QueryPlanner.Plan(T("10:00:00"), T("12:00:00"), new HashSet<string>(appColumns) { "src_workload" }, Retention, Now);
        Assert.Equal("flows_1h[10:00:00,12:00:00)", Describe(withWorkload));
    }

    [Fact]
    public void Plan_AppByEnvColumnsOverADay_ReadSixHourBucketsAndTheHoursAtTheEnds()
    {
        var appColumns = new HashSet<string> { "src_peer", "dst_peer", "src_app", "src_env", "dst_app", "dst_env", "services", "findings" };
        var plan = QueryPlanner.Plan(T("04:12:00"), T("04:12:00", 27), appColumns, Retention, Now);
        Assert.Equal(
            "flows_1m[04:12:00,04:15:00) flows_app_5m[04:15:00,05:00:00) flows_app_1h[05:00:00,06:00:00) flows_app_6h[06:00:00,00:00:00) " +
            "flows_app_1h[00:00:00,04:00:00) flows_app_5m[04:00:00,04:10:00) flows_1m[04:10:00,04:12:00)",
            Describe(plan));

        // The workload-level tables have no 6-hour table: whole hours from flows_1h.
        var withWorkload = QueryPlanner.Plan(T("00:00:00"), T("00:00:00", 27), new HashSet<string>(appColumns) { "src_workload" }, Retention, Now);
        Assert.Equal("flows_1h[00:00:00,00:00:00)", Describe(withWorkload));
    }

    [Fact]
    public void Plan_ShortRangeInsideOneMinute_ReadsRaw()
    {
        var plan = QueryPlanner.Plan(T("10:02:30"), T("10:02:50"), needsRaw: false, Retention, Now);
        Assert.Equal("flows_raw[10:02:30,10:02:50)", Describe(plan));
    }

    [Fact]
    public void Plan_QueryNeedingRawColumns_ReadsRawOnly()
    {
        var plan = QueryPlanner.Plan(T("00:00:00"), T("00:00:00", 27), needsRaw: true, Retention, Now);
        Assert.True(plan.RawOnly);
        Assert.Equal("flows_raw[00:00:00,00:00:00)", Describe(plan));
    }

    [Fact]
    public void Plan_StartOlderThanTheFinerTablesKeep_IsWidenedToACoarserBucket()
    {
        // Raw flows and the minute table keep 2 days, the 5-minute table 10: a range starting 5 days ago at
        // 10:02:30 starts at 10:00 instead and ends at 11:35, whole 5-minute buckets, and the plan says so.
        var retention = new StoreRetention(TimeSpan.FromDays(2), TimeSpan.FromDays(2), TimeSpan.FromDays(10), TimeSpan.FromDays(400));
        var plan = QueryPlanner.Plan(T("10:02:30", 22), T("11:32:00", 22), needsRaw: false, retention, Now);
        Assert.Equal("flows_1h[10:00:00,11:00:00) flows_5m[11:00:00,11:35:00)", Describe(plan));
        Assert.Equal((T("10:00:00", 22), T("11:35:00", 22)), (plan.From, plan.To));
    }

    [Fact]
    public void Plan_MinuteTableKeptShorterThanRawFlows_RangeOlderThanItReadsRawForTheMinutes()
    {
        // Raw flows keep 30 days, the minute table 7: a range 10 days back must not read expired minute buckets
        // (they would be missing from the answer); the minutes at its ends come from raw flows.
        var retention = new StoreRetention(TimeSpan.FromDays(30), TimeSpan.FromDays(7), TimeSpan.FromDays(90), TimeSpan.FromDays(400));
        var plan = QueryPlanner.Plan(T("10:02:30", 17), T("12:07:10", 17), needsRaw: false, retention, Now);
        Assert.Equal(
            "flows_raw[10:02:30,10:05:00) flows_5m[10:05:00,11:00:00) flows_1h[11:00:00,12:00:00) flows_5m[12:00:00,12:05:00) flows_raw[12:05:00,12:07:10)",
            Describe(plan));
        Assert.Equal((T("10:02:30", 17), T("12:07:10", 17)), (plan.From, plan.To));

        // Within the minute table's days it takes part again.
        Assert.Contains("flows_1m", Describe(QueryPlanner.Plan(T("10:02:30", 25), T("12:07:10", 25), needsRaw: false, retention, Now)), StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_SegmentsCoverTheRangeExactlyOnce()
    {
        var random = new Random(7);
        for (var i = 0; i < 2_000; i++)
        {
            var from = T("00:00:00") + TimeSpan.FromSeconds(random.Next(0, 86_400 * 3));
            var to = from + TimeSpan.FromSeconds(random.Next(1, 86_400 * 3));
            var plan = QueryPlanner.Plan(from, to, needsRaw: false, Retention, Now);
            Assert.Equal(from, plan.Segments[0].From);
            Assert.Equal(to, plan.Segments[^1].To);
            for (var s = 1; s < plan.Segments.Count; s++)
            {
                Assert.Equal(plan.Segments[s - 1].To, plan.Segments[s].From);
            }

            foreach (var segment in plan.Segments.Where(s => !s.IsRaw))
            {
                var granularity = FlowSchema.AllRollups.Single(r => r.Name == segment.Table).Granularity;
                Assert.Equal(0, segment.From.UtcTicks % granularity.Ticks);
                Assert.Equal(0, segment.To.UtcTicks % granularity.Ticks);
            }

            Assert.True(plan.Segments.Count <= 7, $"{plan.Segments.Count} segments for {from:O}..{to:O}");
        }
    }
}
