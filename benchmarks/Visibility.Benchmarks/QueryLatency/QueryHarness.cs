using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Benchmarks.Support;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Query.Graph;
using Visibility.Query.Planning;

namespace Visibility.Benchmarks.QueryLatency;

/// <summary>
/// Query latency at scale (<c>make bench-query</c>): a labelled estate (2,000 workloads by default), flows spread
/// over the last 7 days generated inside the embedded engine (<c>INSERT … SELECT</c> from <c>numbers()</c>, so the
/// rollup views run as they do for ingest), loaded in steps (1 M, 10 M, 50 M by default). After each step, once
/// merges have settled, each query runs through <see cref="GraphQuery"/> with the planner and again reading raw
/// flows only, in the same run: median and p90 of several runs, the plan, and the ratio.
/// </summary>
public static class QueryHarness
{
    private const string Usage = """
        usage: Visibility.Benchmarks query [options]
          --steps LIST      stored flows at which to measure, comma-separated (default 1000000,10000000,50000000)
          --workloads W     workloads in the estate (default 2000)
          --edges E         workload-level service edges the flows are spread over (default 20000)
          --runs N          measured runs per query with the planner (default 15; raw-only: max(3, N/3))
          --data DIR        the engine's data directory (default: a new temporary directory, deleted at the end);
                            a directory from an earlier run is measured as it is, loading only what a step adds
          --markdown PATH   where to write the report (default artifacts/query/query-<UTC time>.md)
          --sql STATEMENT   instead of the queries: time STATEMENT (repeatable, --runs times each) on --data's store,
                            e.g. --sql "OPTIMIZE TABLE bench_query.flows_app_1h FINAL" to merge a table's parts;
                            @FILE reads the statement and its parameters from a file --profile wrote
          --profile         after each planner measurement, the last run's statements with their times, each
                            written to artifacts/query/probe-*.sql for --sql @FILE
          --decisions       instead of the queries: the 24 h app × env graph with and without policy decisions
                            (issue 20), alternated, against a provisioned set the harness saves once per store
          --load-only       load the steps and stop (measure later with --data)
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var steps = new List<long> { 1_000_000, 10_000_000, 50_000_000 };
        var workloads = 2_000;
        var edges = 20_000;
        var runs = 15;
        string? dataPath = null;
        string? markdown = null;
        var sqlProbe = new List<string>();
        var profile = false;
        var decisions = false;
        var loadOnly = false;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} needs a value");
            switch (args[i])
            {
                case "--steps": steps = [.. Next().Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture))]; break;
                case "--workloads": workloads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--edges": edges = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--data": dataPath = Next(); break;
                case "--markdown": markdown = Next(); break;
                case "--sql": sqlProbe.Add(Next()); break;
                case "--profile": profile = true; break;
                case "--decisions": decisions = true; break;
                case "--load-only": loadOnly = true; break;
                case "--help" or "-h": Console.WriteLine(Usage); return 0;
                default: Console.Error.WriteLine($"unknown option '{args[i]}'\n{Usage}"); return 2;
            }
        }

        var temporary = dataPath is null;
        dataPath ??= Path.Combine(Path.GetTempPath(), "visibility-bench-query-" + Guid.NewGuid().ToString("N")[..8]);
        markdown ??= Path.Combine("artifacts", "query", $"query-{DateTime.UtcNow:yyyyMMdd-HHmmss}.md");
        var report = new StringBuilder();
        try
        {
            var options = new StoreOptions { Path = dataPath, Database = "bench_query" };
            var store = new EmbeddedFlowStore(Options.Create(options), NullLogger<EmbeddedFlowStore>.Instance);
            await store.InitializeAsync(CancellationToken.None);
            var now = DateTimeOffset.UtcNow;
            var estate = BenchEstate.Create(workloads);
            long stored = long.Parse(await Text(store, "SELECT count() FROM bench_query.flows_raw"), CultureInfo.InvariantCulture);
            if (stored == 0)
            {
                await Exec(store, "DROP TABLE IF EXISTS bench_query.bench_edges");
                await CreateEdgesAsync(store, estate, edges);
            }

            Line(report, $"Query latency: {workloads:N0} workloads, {edges:N0} service edges, flows over the 7 days before {now:yyyy-MM-dd HH:mm} UTC; " +
                $"{Environment.ProcessorCount} CPUs, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}");
            Line(report, "");
            Line(report, "| stored flows | query | planner: median ms | p90 ms | tables read | raw only: median ms | raw / planner | edges |");
            Line(report, "|---:|---|---:|---:|---|---:|---:|---:|");

            var probing = new ProbingFlowReader(store);
            var query = new GraphQuery(probing, options.Retentions, FindingRules.Default);
            foreach (var probe in sqlProbe)
            {
                // Timing one statement on an existing data directory (investigation aid).
                var (sql, parameters) = probe.StartsWith('@')
                    ? ProbingFlowReader.ReadScript(await File.ReadAllTextAsync(probe[1..]))
                    : (probe, []);
                var times = new List<double>();
                string result = "";
                for (var i = 0; i < runs; i++)
                {
                    var watch = Stopwatch.StartNew();
                    result = await store.QueryAsync(sql, "TabSeparated", static span => Encoding.UTF8.GetString(span).Trim(), parameters, CancellationToken.None);
                    times.Add(watch.Elapsed.TotalMilliseconds);
                }

                times.Sort();
                var shown = probe.StartsWith('@') ? probe : sql;
                Console.WriteLine($"{times[times.Count / 2]:F0} ms median ({times[0]:F0}–{times[^1]:F0}): {shown[..Math.Min(100, shown.Length)]} -> {result[..Math.Min(80, result.Length)].ReplaceLineEndings(" ")}");
            }

            if (sqlProbe.Count > 0)
            {
                return 0;
            }

            foreach (var target in steps)
            {
                var watch = Stopwatch.StartNew();
                var layerStart = stored;
                for (; stored < target; stored += Math.Min(2_000_000, target - stored))
                {
                    await LoadAsync(store, stored, Math.Min(2_000_000, target - stored), layerStart, target, edges, now);
                    Console.Error.Write($"\rloaded {stored + Math.Min(2_000_000, target - stored):N0} flows ({watch.Elapsed.TotalSeconds:F0} s)   ");
                }

                Console.Error.WriteLine();
                await SettleAsync(store);
                var sizes = await Text(store, $"""
                    SELECT table, sum(rows), formatReadableSize(sum(bytes_on_disk)) FROM system.parts
                    WHERE database = 'bench_query' AND active AND table LIKE 'flows%'
                    GROUP BY table ORDER BY table
                    """);
                Console.Error.WriteLine($"{stored:N0} flows loaded in {watch.Elapsed.TotalSeconds:F0} s; tables:\n{sizes}");
                if (loadOnly)
                {
                    continue;
                }

                if (decisions)
                {
                    await DecisionsComparison.RunAsync(store, options.Retentions, query, stored, runs, report);
                    continue;
                }

                // The scoped rows: the same graphs as a principal limited to a label scope sees them (issue 9).
                foreach (var (name, groupBy, span, scope) in new[]
                {
                    ("app × env, 30 s", "app,env", TimeSpan.FromSeconds(30), ""),
                    ("app × env, 24 h", "app,env", TimeSpan.FromHours(24), ""),
                    ("app × env, 24 h, scope env=dev", "app,env", TimeSpan.FromHours(24), "env=dev"),
                    ("app × env, 24 h, scope app=app-01,env=prod", "app,env", TimeSpan.FromHours(24), "app=app-01,env=prod"),
                    ("app × env, 7 d", "app,env", TimeSpan.FromDays(7), ""),
                    ("host (workload), 1 h", "workload", TimeSpan.FromHours(1), ""),
                    ("host (workload), 1 h, scope env=dev", "workload", TimeSpan.FromHours(1), "env=dev"),
                })
                {
                    if (!GroupKey.TryParseList(groupBy, out var keys, out var keyError))
                    {
                        throw new InvalidOperationException(keyError);
                    }

                    // As the API reads `last=`: to the end of the current minute.
                    var ticks = DateTimeOffset.UtcNow.UtcTicks;
                    var end = new DateTimeOffset(ticks - (ticks % TimeSpan.TicksPerMinute), TimeSpan.Zero).AddMinutes(1);
                    var request = new GraphRequest(end - span, end, keys, Visibility.Query.Security.AccessScope.Parse(scope).Restrict(FilterClause.All), GraphQuery.MaxLimit);
                    var (planned, plannedP90, result) = await MeasureAsync(query, request, runs, probing);
                    if (profile)
                    {
                        var index = 0;
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name}: last run {lastRun:F1} ms, statements {probing.Calls.Sum(c => c.Ms):F1} ms"));
                        foreach (var (sql, parameters, ms) in probing.Calls)
                        {
                            var file = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(markdown))!, $"probe-{ProbeName(name)}-{index++}.sql");
                            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                            await File.WriteAllTextAsync(file, ProbingFlowReader.Script(sql, parameters));
                            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name}: {ms:F1} ms {file}"));
                        }
                    }

                    var (raw, _, rawResult) = await MeasureAsync(query, request with { RawOnly = true }, Math.Max(3, runs / 3), probing);
                    if (rawResult.Edges.Count != result.Edges.Count || rawResult.Edges.Sum(e => e.Bytes) != result.Edges.Sum(e => e.Bytes))
                    {
                        throw new InvalidOperationException($"{name}: the planner's answer differs from raw flows' ({result.Edges.Count} vs {rawResult.Edges.Count} edges)");
                    }

                    // Findings too (new edges are marked per row on raw flows, from the edges table on rollups).
                    static string Findings(GraphResponse r) => string.Join("\n", r.Edges
                        .Select(e => $"{e.Source}>{e.Target}:{string.Join(",", e.Findings)}:{e.Severity}").Order(StringComparer.Ordinal));
                    if (Findings(rawResult) != Findings(result))
                    {
                        var plannerSet = Findings(result).Split('\n').ToHashSet(StringComparer.Ordinal);
                        var fromRaw = Findings(rawResult).Split('\n').ToHashSet(StringComparer.Ordinal);
                        throw new InvalidOperationException(
                            $"{name}: the planner's findings differ from raw flows' (range {request.From:O} – {request.To:O}); planner only: "
                            + string.Join("; ", plannerSet.Except(fromRaw).Take(5)) + "; raw only: " + string.Join("; ", fromRaw.Except(plannerSet).Take(5)));
                    }

                    var tables = string.Join(" + ", result.Plan!.Segments.GroupBy(s => s.Table).Select(g => g.Count() > 1 ? $"{g.Key} ×{g.Count()}" : g.Key));
                    Line(report, string.Create(CultureInfo.InvariantCulture,
                        $"| {stored:N0} | {name} | {planned:F0} | {plannedP90:F0} | {tables} | {raw:F0} | {raw / planned:F1} | {result.Edges.Count:N0} |"));
                }
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(markdown))!);
            await File.WriteAllTextAsync(markdown, report.ToString());
            Console.Error.WriteLine($"report: {markdown}");
            return 0;
        }
        finally
        {
            Visibility.Flows.Store.Chdb.ChdbEngine.Shutdown(TimeSpan.FromSeconds(30));
            if (temporary && Directory.Exists(dataPath))
            {
                Directory.Delete(dataPath, recursive: true);
            }
        }
    }

    private static string ProbeName(string name) =>
        new([.. name.Where(c => char.IsAsciiLetterOrDigit(c) || c == ' ').Select(c => c == ' ' ? '-' : c)]);

    private static void Line(StringBuilder report, string line)
    {
        report.AppendLine(line);
        Console.WriteLine(line);
    }

    /// <summary>The last measured run's time (for <c>--profile</c>: its statements' times against the whole).</summary>
    private static double lastRun;

    private static async Task<(double Median, double P90, GraphResponse Last)> MeasureAsync(GraphQuery query, GraphRequest request, int runs, ProbingFlowReader probing)
    {
        await query.RunAsync(request, CancellationToken.None); // warm-up
        var times = new List<double>();
        GraphResponse? last = null;
        for (var i = 0; i < runs; i++)
        {
            probing.Clear();
            var watch = Stopwatch.StartNew();
            last = await query.RunAsync(request, CancellationToken.None);
            times.Add(watch.Elapsed.TotalMilliseconds);
            lastRun = watch.Elapsed.TotalMilliseconds;
        }

        times.Sort();
        return (times[times.Count / 2], times[(int)Math.Min(times.Count - 1, Math.Ceiling(times.Count * 0.9) - 1)], last!);
    }

    /// <summary>
    /// The service edges flows are drawn from: mostly within an environment (frontend → backend → database, cache,
    /// queue), a few across environments, and unknown and internet sources reaching frontends. Labels and findings
    /// come from the project's own endpoint and findings code.
    /// </summary>
    private static async Task CreateEdgesAsync(EmbeddedFlowStore store, BenchEstate estate, int count)
    {
        await Exec(store, """
            CREATE TABLE bench_query.bench_edges
            (
                id UInt32, src_ip IPv6, dst_ip IPv6, dst_port UInt16, proto UInt8,
                src_workload String, src_kind String, src_role String, src_app String, src_env String, src_loc String, src_labels Map(String, String),
                dst_workload String, dst_kind String, dst_role String, dst_app String, dst_env String, dst_loc String, dst_labels Map(String, String),
                findings UInt8
            ) ENGINE = Memory
            """);
        var random = new Random(2026);
        var specs = estate.Workloads;
        var rows = new StringBuilder();
        var ports = new Dictionary<string, ushort> { ["frontend"] = 443, ["backend"] = 8443, ["database"] = 5432, ["cache"] = 6379, ["queue"] = 5672, ["worker"] = 9000 };
        for (var id = 0; id < count; id++)
        {
            var dst = specs[random.Next(specs.Count)];
            WorkloadSpec? src = null;
            var roll = random.NextDouble();
            if (roll < 0.94)
            {
                // Same environment, usually.
                for (var tries = 0; tries < 20 && (src is null || src.Labels["env"] != dst.Labels["env"]); tries++)
                {
                    src = specs[random.Next(specs.Count)];
                }
            }
            else if (roll < 0.97)
            {
                src = specs[random.Next(specs.Count)];
            }

            var dstEndpoint = Endpoint.ForWorkload(dst);
            var srcEndpoint = src is null ? (roll < 0.985 ? Endpoint.Unknown : Endpoint.Internet) : Endpoint.ForWorkload(src);
            var srcIp = src is null
                ? (roll < 0.985 ? $"10.250.{random.Next(256)}.{random.Next(1, 255)}" : $"198.51.{random.Next(256)}.{random.Next(1, 255)}")
                : Address(src);
            var json = new Dictionary<string, object>
            {
                ["id"] = id,
                ["src_ip"] = srcIp.Contains(':', StringComparison.Ordinal) ? srcIp : "::ffff:" + srcIp,
                ["dst_ip"] = Address(dst) is var d && d.Contains(':', StringComparison.Ordinal) ? d : "::ffff:" + d,
                ["dst_port"] = ports[dst.Labels["role"]],
                ["proto"] = dst.Labels["role"] == "cache" && id % 5 == 0 ? 17 : 6,
                ["findings"] = (byte)FindingRules.Default.Classify(srcEndpoint, dstEndpoint),
            };
            AddEnd(json, "src", srcEndpoint);
            AddEnd(json, "dst", dstEndpoint);
            rows.Append(JsonSerializer.Serialize(json)).Append('\n');
        }

        await store.QueryAsync(
            "INSERT INTO bench_query.bench_edges FORMAT JSONEachRow " + rows, "TabSeparated", static _ => 0, [], CancellationToken.None);
    }

    private static void AddEnd(Dictionary<string, object> json, string side, Endpoint endpoint)
    {
        json[$"{side}_workload"] = endpoint.Workload;
        json[$"{side}_kind"] = endpoint.Kind;
        json[$"{side}_role"] = endpoint.Role;
        json[$"{side}_app"] = endpoint.App;
        json[$"{side}_env"] = endpoint.Env;
        json[$"{side}_loc"] = endpoint.Loc;
        json[$"{side}_labels"] = endpoint.Labels.Where(l => !LabelKeys.Standard.Contains(l.Key)).ToDictionary(l => l.Key, l => l.Value);
    }

    private static string Address(WorkloadSpec spec)
    {
        var address = spec.Addresses[0];
        return address.EndsWith("/24", StringComparison.Ordinal) ? address[..^4].TrimEnd('0') + "10" : address;
    }

    /// <summary>
    /// Flows <paramref name="first"/>.. as DESTROY records, edges drawn with a skew (a few carry most flows). Each step
    /// (<paramref name="layerStart"/> to <paramref name="layerEnd"/>) spreads its flows over the last 7 days in time
    /// order, as a stream arrives: an insert covers a slice of the week, not all of it.
    /// </summary>
    private static Task<int> LoadAsync(EmbeddedFlowStore store, long first, long count, long layerStart, long layerEnd, int edges, DateTimeOffset now)
    {
        var end = now.ToUnixTimeMilliseconds();
        var span = (long)TimeSpan.FromDays(7).TotalMilliseconds;
        return Exec(store, string.Create(CultureInfo.InvariantCulture, $"""
            INSERT INTO bench_query.flows_raw ({FlowSchema.FlowColumns})
            SELECT ts, end_ts, conn_id, 4, e.proto, e.src_ip, src_port, e.dst_ip, e.dst_port,
                bytes_out, packets_out, bytes_in, packets_in,
                e.src_workload, e.src_kind, e.src_role, e.src_app, e.src_env, e.src_loc, e.src_labels,
                e.dst_workload, e.dst_kind, e.dst_role, e.dst_app, e.dst_env, e.dst_loc, e.dst_labels,
                toInt32(conn_id % 64), toInt64(conn_id), e.src_ip, src_port, e.dst_ip, e.dst_port, 1, 0, 'bench', e.findings
            FROM
            (
                SELECT number AS conn_id,
                    toUInt32(floor({edges} * pow((cityHash64(number, 1) % 1000000) / 1000000.0, 2))) AS edge,
                    fromUnixTimestamp64Milli(toInt64({end - span} + intDiv((number - {layerStart}) * {span}, {layerEnd - layerStart}) + cityHash64(number, 2) % 60000), 'UTC') AS ts,
                    ts + toIntervalMillisecond(cityHash64(number, 3) % 60000) AS end_ts,
                    toUInt16(32768 + cityHash64(number, 4) % 28000) AS src_port,
                    cityHash64(number, 5) % 20000 AS bytes_out, cityHash64(number, 6) % 200000 AS bytes_in,
                    1 + cityHash64(number, 7) % 40 AS packets_out, 1 + cityHash64(number, 8) % 200 AS packets_in
                FROM numbers({first}, {count})
            ) AS f
            INNER JOIN bench_query.bench_edges AS e ON e.id = f.edge
            """));
    }

    /// <summary>Waits (bounded) until no merge runs, as a store that has been up a while would be.</summary>
    private static async Task SettleAsync(EmbeddedFlowStore store)
    {
        for (var i = 0; i < 120; i++)
        {
            if (await Text(store, "SELECT count() FROM system.merges WHERE database = 'bench_query'") == "0")
            {
                return;
            }

            await Task.Delay(1000);
        }
    }

    private static Task<int> Exec(EmbeddedFlowStore store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static _ => 0, [], CancellationToken.None);

    private static Task<string> Text(EmbeddedFlowStore store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static span => Encoding.UTF8.GetString(span).Trim(), [], CancellationToken.None);
}
