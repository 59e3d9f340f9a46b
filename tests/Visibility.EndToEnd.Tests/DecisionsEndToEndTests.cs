using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Policy decisions on the graph through the real program (authentication on, its own store): the demo estate's
/// conversations, a ruleset for env=prod saved and provisioned in mode visibility, then enforced; the edges' decisions,
/// allowedBy and the basis; the decision filter; bad parameters as 400s naming them; a key scoped to env=dev; and
/// <c>policy_violation</c> findings for the connections made after enforcement.
/// </summary>
public sealed class DecisionsEndToEndTests : IDisposable
{
    private const int Rounds = 3;
    private readonly TempDirectory data = new("visibility-decisions-e2e");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task Graph_WithDecisions_VisibilityThenEnforced_FilterScopesAndViolationFindings()
    {
        await using var service = VisibilityProcess.Start(data.Path, environment: new Dictionary<string, string> { ["Visibility__Auth__Disabled"] = "false" });
        await service.WaitForPrintedKeyAsync(TimeSpan.FromSeconds(90));
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        Produce(service.Bootstrap, DateTimeOffset.UtcNow.AddMinutes(-3), Rounds);
        var all = DemoEstate.Conversations.Count * Rounds;
        using (await PipelineEndToEndTests.WaitForGraphAsync(service.Http,
            g => g.RootElement.GetProperty("edges").EnumerateArray().Sum(e => e.GetProperty("flows").GetInt64()) >= all, TimeSpan.FromSeconds(60)))
        {
        }

        // The plain graph carries no decisions.
        var plain = await Json(service.Http, "/api/v1/graph?last=1h&groupBy=app,env");
        Assert.All(plain.GetProperty("edges").EnumerateArray(), e => Assert.False(e.TryGetProperty("decisions", out _)));
        Assert.False(plain.TryGetProperty("policy", out _));

        // Nothing provisioned: every connection is unmanaged.
        var unmanaged = await Json(service.Http, "/api/v1/graph?last=1h&groupBy=app,env&decisions=true");
        Assert.All(unmanaged.GetProperty("edges").EnumerateArray(), e => Assert.Equal(e.GetProperty("flows").GetInt64(), e.GetProperty("decisions").GetProperty("unmanaged").GetInt64()));

        // A ruleset for prod: web → api on 8443 and api → db on 5432. Provisioned in mode visibility.
        var save = await service.Http.PostAsJsonAsync("/api/v1/policy/rulesets", new
        {
            name = "prod",
            scope = "env=prod",
            rules = new[] { Rule("web to api", "web", "api", 8443), Rule("api to db", "api", "db", 5432) },
        });
        Assert.True(save.StatusCode == HttpStatusCode.Created, await save.Content.ReadAsStringAsync());
        await Provision(service.Http, "visibility");

        var visibility = await Json(service.Http, "/api/v1/graph?last=1h&groupBy=app,env&decisions=true");
        Assert.Equal(
            [
                $"app=api,env=dev>app=db,env=dev {Counts(unmanaged: Rounds)} []",
                $"app=api,env=dev>app=db,env=prod {Counts(potentiallyBlocked: Rounds)} []",
                $"app=api,env=prod>app=db,env=prod {Counts(allowed: Rounds, potentiallyBlocked: Rounds)} [prod/api to db]",
                $"app=web,env=dev>app=api,env=dev {Counts(unmanaged: Rounds)} []",
                $"app=web,env=prod>app=api,env=prod {Counts(allowed: 2 * Rounds)} [prod/web to api]",
                $"internet>app=web,env=prod {Counts(potentiallyBlocked: Rounds)} []",
                $"unknown>app=web,env=prod {Counts(potentiallyBlocked: Rounds)} []",
            ],
            Edges(visibility));
        Assert.Equal(("now", "prod", 1, "visibility", "env=prod"), Basis(visibility));
        Assert.All(visibility.GetProperty("edges").EnumerateArray(), e => Assert.Equal(0, e.GetProperty("observedPolicies").GetArrayLength()));

        // Enforced: what no rule allows in prod is now a violation; the decision filter keeps those edges.
        await Provision(service.Http, "enforced");
        var enforcedAt = DateTimeOffset.UtcNow;
        var violations = await Json(service.Http, "/api/v1/graph?last=1h&groupBy=app,env&filter=" + Uri.EscapeDataString("decision = violation and src.env = prod"));
        Assert.Equal([$"app=api,env=prod>app=db,env=prod {Counts(violation: Rounds)} []"], Edges(violations));
        Assert.Equal("enforced", Basis(violations).Mode);

        // Judged at each connection's time, those connections came before any provisioning: unmanaged.
        var atTraffic = await Json(service.Http, "/api/v1/graph?last=1h&groupBy=app,env&decisionsAt=traffic&filter=" + Uri.EscapeDataString("src.env = prod"));
        Assert.Equal([$"app=api,env=prod>app=db,env=prod {Counts(unmanaged: 2 * Rounds)} []", $"app=web,env=prod>app=api,env=prod {Counts(unmanaged: 2 * Rounds)} []"], Edges(atTraffic));

        // Bad parameters: 400s naming the problem.
        foreach (var (query, detail) in new[]
        {
            ("decisionsAt=later", "decisionsAt must be now or traffic, not 'later'"),
            ("whatIf=prod", "whatIf 'prod' is not <ruleset>:<version> (a version number from 1), e.g. whatIf=prod:3"),
            ("whatIf=prod:9", "whatIf: ruleset 'prod' has no version 9"),
            ("decisions=false&decisionsAt=traffic", "decisions=false contradicts decisionsAt, whatIf or a decision filter term"),
            ("filter=" + Uri.EscapeDataString("decision = violation or port = 22"), "filter: 'decision' can only be joined to the rest of the filter with 'and' (not inside 'or' or 'not')"),
            ("filter=" + Uri.EscapeDataString("decision = denied"), "filter: position 12: unknown decision 'denied' (expected allowed, potentiallyBlocked, blocked, violation or unmanaged)"),
        })
        {
            using var response = await service.Http.GetAsync($"/api/v1/graph?last=1h&groupBy=app,env&{query}");
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)response.StatusCode} {body}");
            Assert.Equal(detail, JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString());
        }

        using (var flows = await service.Http.GetAsync("/api/v1/flows?last=1h&filter=" + Uri.EscapeDataString("decision = violation")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, flows.StatusCode);
            Assert.Contains("'decision' applies to the graph only", await flows.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A key scoped to env=dev: the edges touching dev, decided, with no ruleset of prod named; prod's versions unknown to it.
        var devKey = await CreateKeyAsync(service.Http, "dev-viewer", "viewer", "env=dev");
        using var dev = new HttpClient { BaseAddress = service.Http.BaseAddress };
        dev.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", devKey);
        var devGraph = await Json(dev, "/api/v1/graph?last=1h&groupBy=app,env&decisions=true");
        Assert.Equal(
            [
                $"app=api,env=dev>app=db,env=dev {Counts(unmanaged: Rounds)} []",
                $"app=api,env=dev>app=db,env=prod {Counts(violation: Rounds)} []",
                $"app=web,env=dev>app=api,env=dev {Counts(unmanaged: Rounds)} []",
            ],
            Edges(devGraph));
        Assert.Equal(0, devGraph.GetProperty("policy").GetProperty("rulesets").GetArrayLength());
        using (var whatIf = await dev.GetAsync("/api/v1/graph?last=1h&groupBy=app,env&whatIf=prod:1"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, whatIf.StatusCode);
            Assert.Equal("whatIf: ruleset 'prod' has no version 1", JsonDocument.Parse(await whatIf.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString());
        }

        // Connections after enforcement that no rule allows become policy_violation findings (judged at their time).
        Produce(service.Bootstrap, DateTimeOffset.UtcNow > enforcedAt ? DateTimeOffset.UtcNow : enforcedAt.AddSeconds(1), 1);
        var findings = await service.WaitAsync(
            async () => (await Json(service.Http, "/api/v1/findings?last=1h")).GetProperty("findings").EnumerateArray()
                .Where(f => f.GetProperty("kind").GetString() == "policy_violation")
                .Select(f => $"{f.GetProperty("severity").GetString()} {f.GetProperty("source").GetProperty("workload").GetString()} -> {f.GetProperty("destination").GetProperty("workload").GetString()} {f.GetProperty("service").GetString()} {f.GetProperty("flows").GetInt64()}")
                .Order(StringComparer.Ordinal).ToList(),
            v => v.Count >= 4, TimeSpan.FromSeconds(60), "policy_violation findings", TimeSpan.FromMilliseconds(500));
        Assert.Equal(
            ["high  -> prod-web-1 tcp/443 1", "high  -> prod-web-2 tcp/22 1", "high dev-api-1 -> prod-db-1 tcp/5432 1", "high prod-api-1 -> prod-db-1 udp/53 1"],
            findings);
    }

    private static object Rule(string name, string src, string dst, int port) => new
    {
        name,
        source = new { kind = "workload", labels = new Dictionary<string, string> { ["app"] = src, ["env"] = "prod" } },
        destination = new { kind = "workload", labels = new Dictionary<string, string> { ["app"] = dst, ["env"] = "prod" } },
        ports = new[] { new { protocol = "tcp", from = port, to = port } },
    };

    private static async Task Provision(HttpClient http, string mode)
    {
        using var response = await http.PostAsJsonAsync("/api/v1/policy/rulesets/prod/provision", new { version = 1, mode });
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    private static string Counts(long allowed = 0, long potentiallyBlocked = 0, long blocked = 0, long violation = 0, long unmanaged = 0) =>
        $"allowed={allowed} potentiallyBlocked={potentiallyBlocked} blocked={blocked} violation={violation} unmanaged={unmanaged}";

    private static List<string> Edges(JsonElement graph) =>
        [.. graph.GetProperty("edges").EnumerateArray().Select(e =>
        {
            var d = e.GetProperty("decisions");
            var counts = Counts(d.GetProperty("allowed").GetInt64(), d.GetProperty("potentiallyBlocked").GetInt64(), d.GetProperty("blocked").GetInt64(),
                d.GetProperty("violation").GetInt64(), d.GetProperty("unmanaged").GetInt64());
            return $"{e.GetProperty("source").GetString()}>{e.GetProperty("target").GetString()} {counts} [{string.Join(", ", e.GetProperty("allowedBy").EnumerateArray().Select(r => r.GetString()))}]";
        }).Order(StringComparer.Ordinal)];

    private static (string At, string Name, int Version, string Mode, string Scope) Basis(JsonElement graph)
    {
        var policy = graph.GetProperty("policy");
        var ruleset = Assert.Single(policy.GetProperty("rulesets").EnumerateArray());
        return (policy.GetProperty("decisionsAt").GetString()!, ruleset.GetProperty("name").GetString()!, ruleset.GetProperty("version").GetInt32(),
            ruleset.GetProperty("mode").GetString()!, ruleset.GetProperty("scope").GetString()!);
    }

    private static async Task<string> CreateKeyAsync(HttpClient http, string name, string role, string scope)
    {
        using var response = await http.PostAsJsonAsync("/api/v1/keys", new { name, role, scope });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("key").GetString()!;
    }

    private static async Task<JsonElement> Json(HttpClient http, string url)
    {
        using var response = await http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static void Produce(string bootstrap, DateTimeOffset start, int rounds)
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        var n = (int)(start.ToUnixTimeMilliseconds() % 100_000);
        for (var round = 0; round < rounds; round++)
        {
            foreach (var (src, dst, proto, port) in DemoEstate.Conversations)
            {
                n++;
                var c = new Ulogd2Writer.Connection((uint)n, src, dst, proto, (ushort)(20000 + (n % 40000)), port, start.AddMilliseconds(round * 100), start.AddMilliseconds((round * 100) + 50), 100, 2, 1000, 3);
                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.New(c) });
                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }
}
