using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Playwright;
using Visibility.Ingest.Demo;
using Xunit.Abstractions;
using static Visibility.EndToEnd.Tests.MapPage;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The map in policy colouring, in Debian's chromium against a real <c>visibility serve</c> (chDB, the dev broker,
/// authentication on): seeded dev → prod and prod → prod traffic, a ruleset for <c>env=prod</c> that allows
/// prod → prod only, provisioned in visibility mode; then "Allow this" on the potentially blocked edge, as a policy
/// author (refused provisioning) and as an admin (provisioned: the edge turns green). Screenshots go to
/// <c>artifacts/browser-tests/</c>.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xUnit disposes the rig through IAsyncLifetime.DisposeAsync, which the analyzer does not count.")]
public sealed class MapPolicyBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string DevApi = "app=api,env=dev";
    private const string ProdApi = "app=api,env=prod";
    private const string ProdDb = "app=db,env=prod";
    private const string Green = "rgb(26,127,55)";
    private const string Orange = "rgb(188,76,0)";
    private readonly MapBrowserRig rig = new(output, nameof(MapPolicyBrowserTests), "visibility-map-policy");
    private string adminKey = "";

    public Task InitializeAsync() => rig.StartAsync(
        path => VisibilityProcess.Start(path, environment: new Dictionary<string, string> { ["Visibility__Auth__Disabled"] = "false" }),
        async service =>
        {
            adminKey = await service.WaitForPrintedKeyAsync(TimeSpan.FromSeconds(90));
            await service.WaitReadyAsync(TimeSpan.FromSeconds(60));
        });

    public Task DisposeAsync() => rig.DisposeAsync().AsTask();

    [Fact]
    public async Task PolicyColouring_AllowThePotentiallyBlockedEdge_NewVersionSimulatedProvisioned_EdgeTurnsGreen_NodesStayPut()
    {
        await SeedAsync();
        var author = await CreateKeyAsync("map-author", "policy-author");

        // The author's map in policy colouring: prod → prod allowed (green, solid), dev → prod potentially blocked
        // (orange, dashed); the legend names the decisions.
        var page = await rig.NewPageAsync();
        await page.GotoAsync($"{rig.Service.BaseUrl}/?colour=policy#key={author}");
        var edges = await WaitForEdgesAsync(page, HasDecisions);
        AssertDecision(edges, ProdApi, ProdDb, "allowed", Green);
        AssertDecision(edges, DevApi, ProdDb, "potentiallyBlocked", Orange);
        await Expect(page.Locator("#legend")).ToContainTextAsync("potentially blocked");
        await Expect(page.Locator("#legend")).ToContainTextAsync("violation");
        await Expect(page.Locator("#colour-policy")).ToBeCheckedAsync();
        await rig.ScreenshotAsync(page, "1-policy-colours");

        // prod → prod names the rule that allowed it.
        await ClickEdgeAsync(page, ProdApi, ProdDb);
        await Expect(page.Locator("#edge-decision")).ToContainTextAsync("allowed");
        await Expect(page.Locator("#details .allowed-by")).ToContainTextAsync($"prod/{ProdApi} -> {ProdDb}");
        await Expect(page.Locator("#allow-this")).ToHaveCountAsync(0);

        // dev → prod: Allow this saves version 2 (version 1 and the edge's rule), simulates it, and the author's
        // provisioning is refused with the reason; version 1 stays provisioned.
        await ClickEdgeAsync(page, DevApi, ProdDb);
        await Expect(page.Locator("#edge-decision")).ToContainTextAsync("potentially blocked");
        await Expect(page.Locator("#details .decision-counts tr[data-decision=potentiallyBlocked] td.num")).Not.ToHaveTextAsync("0");
        await Expect(page.Locator("#details .allowed-by")).ToHaveTextAsync("no rule");
        await page.ClickAsync("#allow-this");
        await Expect(page.Locator("#allow-version")).ToContainTextAsync("Saved prod version 2");
        await Expect(page.Locator("#allow-version")).ToContainTextAsync($"{DevApi} -> {ProdDb}");
        await Expect(page.Locator("#allow-edge-outcome")).ToHaveTextAsync("This edge would be allowed.");
        await Expect(page.Locator("#allow-coverage")).ToContainTextAsync("100.0% of");
        await page.ClickAsync("#allow-provision");
        await Expect(page.Locator("#allow-refused")).ToContainTextAsync("role 'policy-author' may not provision rulesets; it needs one of the roles admin");
        Assert.Equal((1, "visibility"), await ProvisionedAsync());
        await rig.ScreenshotAsync(page, "2-author-refused");

        // The admin's map: nodes stay put across a refresh and a switch to findings colouring and back.
        var context = await rig.Chromium.NewContextAsync(new BrowserNewContextOptions { ViewportSize = MapBrowserRig.Viewport });
        var admin = await context.NewPageAsync();
        await rig.WatchAsync(admin);
        await admin.GotoAsync($"{rig.Service.BaseUrl}/?colour=policy#key={adminKey}");
        await WaitForEdgesAsync(admin, HasDecisions);
        var start = await NodePositionsAsync(admin);
        Assert.Equal(new[] { DevApi, ProdApi, ProdDb }.Order(), start.Keys.Order());
        var refreshed = await RedrawAsync(admin, () => admin.ClickAsync("#controls button[type=submit]"));
        AssertStill("refresh", start, refreshed);
        var findings = await RedrawAsync(admin, () => admin.CheckAsync("#colour-findings"));
        AssertStill("switch to findings colouring", refreshed, findings);
        Assert.DoesNotContain("colour=policy", admin.Url, StringComparison.Ordinal);
        Assert.Contains("cross-env", (await EdgesAsync(admin)).Single(e => e.Source == DevApi && e.Target == ProdDb).Classes);
        await Expect(admin.Locator("#legend")).ToContainTextAsync("cross-environment");
        var policy = await RedrawAsync(admin, () => admin.CheckAsync("#colour-policy"));
        Assert.Contains("colour=policy", admin.Url, StringComparison.Ordinal);
        AssertStill("switch back to policy colouring", findings, policy);
        AssertDecision(await EdgesAsync(admin), DevApi, ProdDb, "potentiallyBlocked", Orange);

        // Allow this as the admin: version 3, simulated, provisioned in the mode it had; the map reloads in place and
        // the edge is green, allowed by the new rule.
        await ClickEdgeAsync(admin, DevApi, ProdDb);
        await admin.ClickAsync("#allow-this");
        await Expect(admin.Locator("#allow-version")).ToContainTextAsync("Saved prod version 3");
        await Expect(admin.Locator("#allow-edge-outcome")).ToHaveTextAsync("This edge would be allowed.");
        await Expect(admin.Locator("#allow-provision")).ToHaveTextAsync("Provision version 3 (visibility)");
        await rig.ScreenshotAsync(admin, "3-simulated");

        // Previewed on the map (judged by version 3 in place of the provisioned version 1): green already, nothing moves.
        var preview = await RedrawAsync(admin, () => admin.ClickAsync("#allow-preview"));
        AssertStill("preview of version 3", policy, preview);
        AssertDecision(await EdgesAsync(admin), DevApi, ProdDb, "allowed", Green);
        await Expect(admin.Locator("#status")).ToContainTextAsync("what if prod:3 were provisioned");
        Assert.Equal((1, "visibility"), await ProvisionedAsync());

        var provisioned = await RedrawAsync(admin, () => admin.ClickAsync("#allow-provision"));
        AssertStill("provisioned and refreshed", preview, provisioned);
        await Expect(admin.Locator("#status")).ToContainTextAsync("judged by prod v3 (visibility)");
        Assert.Equal((3, "visibility"), await ProvisionedAsync());
        edges = await EdgesAsync(admin);
        AssertDecision(edges, DevApi, ProdDb, "allowed", Green);
        AssertDecision(edges, ProdApi, ProdDb, "allowed", Green);
        await Expect(admin.Locator("#edge-decision")).ToContainTextAsync("allowed");
        await Expect(admin.Locator("#details .allowed-by")).ToContainTextAsync($"prod/{DevApi} -> {ProdDb}");
        await rig.ScreenshotAsync(admin, "4-provisioned-green");

        // Policy colours and the decision panel meet WCAG AA (contrast, names) as the other panels do.
        var axe = await rig.AxeAsync(admin, "policy colouring");
        Assert.Empty(axe.Violations);
        await rig.AssertNoCspViolationsAsync();
        await context.CloseAsync();
    }

    /// <summary>Three workloads, dev → prod and prod → prod traffic, and ruleset prod (env=prod: prod → prod only) provisioned in visibility mode.</summary>
    private async Task SeedAsync()
    {
        var workloads = new object[]
        {
            new { name = "dev-api-1", addresses = new[] { "10.41.1.10" }, labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "dev" } },
            new { name = "prod-api-1", addresses = new[] { "10.42.1.10" }, labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "prod" } },
            new { name = "prod-db-1", addresses = new[] { "10.42.2.10" }, labels = new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" } },
        };
        using (var put = await rig.Service.Http.PutAsJsonAsync("/api/v1/workloads", workloads))
        {
            Assert.True(put.StatusCode == HttpStatusCode.OK, await put.Content.ReadAsStringAsync());
        }

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Service.Bootstrap, LingerMs = 5 }).Build())
        {
            var start = DateTimeOffset.UtcNow.AddMinutes(-3);
            for (var i = 0; i < 20; i++)
            {
                var source = i % 2 == 0 ? "10.41.1.10" : "10.42.1.10";
                var c = new Ulogd2Writer.Connection((uint)(500 + i), source, "10.42.2.10", 6, (ushort)(40000 + i), 5432,
                    start.AddSeconds(i), start.AddSeconds(i + 1), 900, 6, 4000, 5);
                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        await rig.Service.WaitAsync(
            async () =>
            {
                using var graph = JsonDocument.Parse(await rig.Service.Http.GetStringAsync("/api/v1/graph?last=1h&groupBy=app,env"));
                return graph.RootElement.GetProperty("edges").EnumerateArray().Sum(e => e.GetProperty("flows").GetInt64());
            },
            flows => flows == 20, TimeSpan.FromSeconds(60), "the 20 seeded flows in the graph", TimeSpan.FromMilliseconds(300));

        var rule = new
        {
            name = $"{ProdApi} -> {ProdDb}",
            source = new { kind = "workload", labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "prod" } },
            destination = new { kind = "workload", labels = new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod" } },
            ports = new[] { new { protocol = "tcp", from = 5432, to = 5432 } },
        };
        using (var saved = await rig.Service.Http.PostAsJsonAsync("/api/v1/policy/rulesets", new { name = "prod", scope = "env=prod", rules = new[] { rule } }))
        {
            Assert.True(saved.StatusCode == HttpStatusCode.Created, await saved.Content.ReadAsStringAsync());
        }

        using var provisioned = await rig.Service.Http.PostAsJsonAsync("/api/v1/policy/rulesets/prod/provision", new { version = 1, mode = "visibility" });
        Assert.True(provisioned.StatusCode == HttpStatusCode.OK, await provisioned.Content.ReadAsStringAsync());
    }

    private async Task<string> CreateKeyAsync(string name, string role)
    {
        using var response = await rig.Service.Http.PostAsJsonAsync("/api/v1/keys", new { name, role, scope = "" });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("key").GetString()!;
    }

    /// <summary>The version and mode of ruleset prod in the provisioned set now.</summary>
    private async Task<(int Version, string Mode)> ProvisionedAsync()
    {
        using var set = JsonDocument.Parse(await rig.Service.Http.GetStringAsync("/api/v1/policy/provisioned?format=json"));
        var prod = set.RootElement.GetProperty("rulesets").EnumerateArray().Single(r => r.GetProperty("name").GetString() == "prod");
        return (prod.GetProperty("version").GetInt32(), prod.GetProperty("mode").GetString()!);
    }

    private static bool HasDecisions(List<DrawnEdge> edges) =>
        edges.Any(e => e.Source == DevApi && e.Target == ProdDb && e.Classes.Any(c => c.StartsWith("decision-", StringComparison.Ordinal)))
        && edges.Any(e => e.Source == ProdApi && e.Target == ProdDb);

    private static void AssertDecision(List<DrawnEdge> edges, string source, string target, string decision, string colour)
    {
        var edge = edges.Single(e => e.Source == source && e.Target == target);
        Assert.Contains($"decision-{decision}", edge.Classes);
        Assert.DoesNotContain("cross-env", edge.Classes);
        Assert.Equal(colour, edge.Color);
    }

    private static async Task ClickEdgeAsync(IPage page, string source, string target)
    {
        var point = await page.EvaluateAsync<JsonElement>("([s, t]) => window.visibilityMap.edgePoint(s, t)", new[] { source, target });
        await page.Mouse.ClickAsync(point.GetProperty("x").GetSingle(), point.GetProperty("y").GetSingle());
        await Expect(page.Locator("#details h2")).ToHaveTextAsync($"{source} → {target}");
    }

    /// <summary>The same nodes on both maps, and none moved (<see cref="MapBrowserRig.AssertStill"/>).</summary>
    private void AssertStill(string step, Dictionary<string, NodeAt> before, Dictionary<string, NodeAt> after)
    {
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        rig.AssertStill(step, before, after);
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);
}
