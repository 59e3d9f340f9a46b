using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The read API through the real program over HTTP: the graph with filters, findings, raw flows in JSON and CSV
/// with cursor paging, graph analytics, the OpenAPI document, and 400s (never 500s) for bad input.
/// </summary>
public sealed class QueryApiEndToEndTests : IDisposable
{
    private const int Rounds = 10;
    private readonly TempDirectory data = new("visibility-query-e2e");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task QueryApi_GraphFindingsFlowsAnalytics_AnswerOverHttp_AndBadInputIs400()
    {
        await using var service = VisibilityProcess.Start(data.Path);
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        Produce(service.Bootstrap);
        var all = DemoEstate.Conversations.Count * Rounds;
        using var graph = await PipelineEndToEndTests.WaitForGraphAsync(service.Http,
            g => g.RootElement.GetProperty("edges").EnumerateArray().Sum(e => e.GetProperty("flows").GetInt64()) >= all, TimeSpan.FromSeconds(60));

        // The graph with a filter: only dev sources, and the cross-environment edge carries its finding.
        var dev = await Json(service, "/api/v1/graph?last=1h&groupBy=app,env&filter=" + Uri.EscapeDataString("src.env = dev"));
        var devEdges = dev.GetProperty("edges").EnumerateArray().ToList();
        Assert.Equal(3, devEdges.Count);
        Assert.All(devEdges, e => Assert.EndsWith("env=dev", e.GetProperty("source").GetString(), StringComparison.Ordinal));
        var cross = Assert.Single(devEdges, e => e.GetProperty("target").GetString() == "app=db,env=prod");
        Assert.Equal(["cross_env"], cross.GetProperty("findings").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal("high", cross.GetProperty("severity").GetString());
        Assert.Equal(Rounds, cross.GetProperty("flows").GetInt64());
        Assert.Equal("src.env = dev", dev.GetProperty("filter").GetString());

        // last= ends at the end of the current minute and spans whole minutes.
        var (from, to) = (dev.GetProperty("from").GetDateTimeOffset(), dev.GetProperty("to").GetDateTimeOffset());
        Assert.Equal((TimeSpan.FromHours(1), 0L, 0L), (to - from, to.UtcTicks % TimeSpan.TicksPerMinute, from.UtcTicks % TimeSpan.TicksPerMinute));
        Assert.InRange(to - DateTimeOffset.UtcNow, TimeSpan.FromSeconds(-5), TimeSpan.FromMinutes(1));
        Assert.Contains(dev.GetProperty("nodes").EnumerateArray(), n => n.GetProperty("id").GetString() == "app=api,env=dev" && n.GetProperty("workloads").GetInt32() == 1);

        // Findings: the three per-flow kinds the demo conversations contain.
        var findings = await Json(service, "/api/v1/findings?last=1h");
        Assert.Equal(
            ["cross_env high dev-api-1 -> prod-db-1 tcp/5432", "internet_source high  -> prod-web-1 tcp/443", "unknown_source medium  -> prod-web-2 tcp/22"],
            findings.GetProperty("findings").EnumerateArray()
                .Select(f => $"{f.GetProperty("kind").GetString()} {f.GetProperty("severity").GetString()} {f.GetProperty("source").GetProperty("workload").GetString()} -> {f.GetProperty("destination").GetProperty("workload").GetString()} {f.GetProperty("service").GetString()}")
                .Order());
        var high = await Json(service, "/api/v1/findings?last=1h&minSeverity=high&filter=" + Uri.EscapeDataString("finding = cross_env"));
        Assert.Equal("cross_env", Assert.Single(high.GetProperty("findings").EnumerateArray()).GetProperty("kind").GetString());

        // Raw flows, paged by cursor: every matching record once.
        var filter = Uri.EscapeDataString("dst.port = 5432 and src.env = dev");
        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await Json(service, $"/api/v1/flows?last=1h&limit=15&filter={filter}" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)));
            seen.AddRange(page.GetProperty("flows").EnumerateArray().Select(f => f.GetProperty("source").GetString()!));
            Assert.All(page.GetProperty("flows").EnumerateArray(), f => Assert.Equal(5432, f.GetProperty("dstPort").GetInt32()));
            cursor = page.GetProperty("next").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);
        Assert.Equal(2 * Rounds * 2, seen.Count);
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Equal(3, pages);

        using var csv = await service.Http.GetAsync($"/api/v1/flows?last=1h&limit=100&format=csv&filter={filter}");
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType!.MediaType);
        var lines = (await csv.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("time,end,event,proto,src_ip,src_port,dst_ip,dst_port,", lines[0], StringComparison.Ordinal);
        Assert.Equal(1 + (2 * Rounds * 2), lines.Length);
        Assert.False(csv.Headers.Contains("X-Next-Cursor"));

        // The map's export: every matching flow in one download, read here 7 rows per query (so over several reads).
        using var export = await service.Http.GetAsync($"/api/v1/flows?last=1h&limit=7&format=csv&all=true&filter={filter}");
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        Assert.Equal("attachment; filename=\"flows.csv\"", export.Content.Headers.ContentDisposition?.ToString());
        var exported = (await export.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(lines, exported);
        using (var jsonAll = await service.Http.GetAsync("/api/v1/flows?last=1h&all=true"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, jsonAll.StatusCode);
            Assert.Contains("all=true exports CSV only", await jsonAll.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Analytics on the app x env graph.
        var reach = await Json(service, "/api/v1/graph/reach?last=1h&groupBy=app,env&start=env=dev&hops=1");
        Assert.Contains(reach.GetProperty("result").GetProperty("nodes").EnumerateArray(), n => n.GetProperty("id").GetString() == "app=db,env=prod");
        var paths = await Json(service, "/api/v1/graph/paths?last=1h&groupBy=app,env&source=env=dev&target=env=prod,app=db&hops=3");
        var found = paths.GetProperty("result").GetProperty("paths").EnumerateArray().ToList();
        Assert.Contains(found, p => p.GetProperty("source").GetString() == "app=api,env=dev" && p.GetProperty("hops").GetInt32() == 1);
        Assert.Contains(found, p => p.GetProperty("source").GetString() == "app=web,env=dev" && p.GetProperty("hops").GetInt32() == 2);
        var cycles = await Json(service, "/api/v1/graph/cycles?last=1h&groupBy=env");
        Assert.Equal(0, cycles.GetProperty("result").GetProperty("componentCount").GetInt32());

        // Bad input: a 400 naming the problem.
        var cases = new (string Url, string Expected)[]
        {
            ("/api/v1/graph?filter=" + Uri.EscapeDataString("src.env = "), "position 11"),
            ("/api/v1/graph?filter=" + Uri.EscapeDataString("srcc.env = dev"), "unknown field 'srcc.env'"),
            ("/api/v1/findings?minSeverity=urgent", "minSeverity must be one of"),
            ("/api/v1/flows?cursor=not-a-cursor", "cursor is not a cursor"),
            ("/api/v1/flows?format=xml", "format must be json or csv"),
            ("/api/v1/flows?limit=0", "limit must be from 1"),
            ("/api/v1/graph/reach?start=env", "start: selector 'env' needs key=value pairs"),
            ("/api/v1/graph/paths?source=env=dev&target=env=prod&hops=99", "hops"),
        };
        foreach (var (url, expected) in cases)
        {
            using var response = await service.Http.GetAsync(url);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(expected, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // No filter text makes the server fail: seeded junk and mutated filters get 200 or 400, never 500.
        var random = new Random(11);
        const string alphabet = "srcdt.envapport=!<>()inotand or'\"\\,;/*0123456789 :-_xyz\u00e9\u0000";
        var valid = new[] { "src.env = dev", "dst.app in (db, web)", "port = 5432 or proto = udp", "not finding = cross_env", "src.ip in 10.0.0.0/8" };
        for (var i = 0; i < 200; i++)
        {
            var text = i % 2 == 0
                ? new string([.. Enumerable.Range(0, random.Next(1, 40)).Select(_ => alphabet[random.Next(alphabet.Length)])])
                : Mutate(valid[random.Next(valid.Length)], random);
            using var response = await service.Http.GetAsync("/api/v1/graph?last=1h&filter=" + Uri.EscapeDataString(text));
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"filter '{text}' got {(int)response.StatusCode}");
        }

        // The same from the command line.
        var baseUrl = $"http://127.0.0.1:{service.HttpPort}";
        var (code, stdout, stderr) = await CliAsync("graph", "--url", baseUrl, "--last", "1h", "--filter", "src.env = dev and dst.env = prod");
        Assert.True(code == 0, stderr);
        var table = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("SOURCE", table[0], StringComparison.Ordinal);
        Assert.Matches(@"^app=api,env=dev\s+app=db,env=prod\s+10\s+\d+\s+tcp/5432\s+cross_env$", Assert.Single(table[1..]));
        (code, stdout, stderr) = await CliAsync("findings", "--url", baseUrl, "--min-severity", "high", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(2, JsonDocument.Parse(stdout).RootElement.GetProperty("findings").GetArrayLength());
        (code, stdout, stderr) = await CliAsync("flows", "--url", baseUrl, "--filter", "dst.port = 5432 and src.env = dev", "--limit", "7", "--all", "--csv");
        Assert.True(code == 0, stderr);
        Assert.Equal(1 + (2 * Rounds * 2), stdout.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);
        (code, _, stderr) = await CliAsync("graph", "--url", baseUrl, "--filter", "src.env in (dev");
        Assert.Equal(1, code);
        Assert.Contains("400 filter: position", stderr, StringComparison.Ordinal);

        // The OpenAPI document lists every read route with an example.
        var openApi = await service.Http.GetStringAsync("/openapi/v1.json");
        foreach (var route in new[] { "/api/v1/graph", "/api/v1/graph/reach", "/api/v1/graph/paths", "/api/v1/graph/cycles", "/api/v1/findings", "/api/v1/flows" })
        {
            Assert.Contains($"\"{route}\"", openApi, StringComparison.Ordinal);
        }

        Assert.Contains("Example: /api/v1/findings?last=24h", openApi, StringComparison.Ordinal);
        Assert.Contains("The filter language: src./dst. fields", openApi, StringComparison.Ordinal);
        Assert.Contains("\"example\": \"src.env = dev and dst.env = prod and port in (5432, 6432)\"", openApi, StringComparison.Ordinal);
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> CliAsync(params string[] args) =>
        VisibilityProcess.RunCommandAsync(args);

    private static string Mutate(string text, Random random)
    {
        var chars = text.ToList();
        for (var i = 0; i < 3; i++)
        {
            var at = random.Next(chars.Count + 1);
            switch (random.Next(3))
            {
                case 0 when chars.Count > 0 && at < chars.Count: chars.RemoveAt(at); break;
                case 1: chars.Insert(at, "()'\"=,!"[random.Next(7)]); break;
                default: chars.Insert(at, ' '); break;
            }
        }

        return new string([.. chars]);
    }

    private static async Task<JsonElement> Json(VisibilityProcess service, string url)
    {
        using var response = await service.Http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static void Produce(string bootstrap)
    {
        var start = DateTimeOffset.UtcNow.AddMinutes(-3);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        var n = 0;
        for (var round = 0; round < Rounds; round++)
        {
            foreach (var (src, dst, proto, port) in DemoEstate.Conversations)
            {
                n++;
                var c = new Ulogd2Writer.Connection((uint)n, src, dst, proto, (ushort)(20000 + n), port, start.AddMilliseconds(n * 10), start.AddMilliseconds((n * 10) + 500), 100, 2, 1000, 3);
                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.New(c) });
                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }
}
