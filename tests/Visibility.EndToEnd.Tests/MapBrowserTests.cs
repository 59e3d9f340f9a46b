using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Microsoft.Playwright;
using Visibility.Ingest.Demo;
using Xunit.Abstractions;
using static Visibility.EndToEnd.Tests.MapPage;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The map in a real browser: Debian's chromium driven by Playwright against <c>visibility serve --demo</c> (demo
/// traffic through the dev broker into chDB). Screenshots go to <c>artifacts/browser-tests/</c> at the repository root.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xUnit disposes the rig through IAsyncLifetime.DisposeAsync, which the analyzer does not count.")]
public sealed partial class MapBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string DevApi = "app=api,env=dev";
    private const string ProdDb = "app=db,env=prod";
    private readonly MapBrowserRig rig = new(output, nameof(MapBrowserTests), "visibility-map");

    public Task InitializeAsync() =>
        rig.StartAsync(path => VisibilityProcess.Start(path, ["--demo"]), service => service.WaitReadyAsync(TimeSpan.FromSeconds(90)));

    public Task DisposeAsync() => rig.DisposeAsync().AsTask();

    [Fact]
    public async Task Map_DevToProdEdgeHighlighted_OpensItsFlows_GroupByAndFilterChange_SavedViewReloads()
    {
        await StoreRefusedAttemptAsync();
        var page = await rig.NewPageAsync();
        await page.GotoAsync(rig.Service.BaseUrl + "/");

        // The demo's dev → prod database edge appears, drawn in the cross-environment style; ordinary edges are not.
        var edges = await WaitForEdgesAsync(page, list => list.Any(e => e.Source == DevApi && e.Target == ProdDb));
        var devProd = edges.Single(e => e.Source == DevApi && e.Target == ProdDb);
        Assert.Contains("cross-env", devProd.Classes);
        Assert.Equal("rgb(207,34,46)", devProd.Color);
        Assert.All(edges.Where(e => e.Source.EndsWith("env=dev", StringComparison.Ordinal) && e.Target.EndsWith("env=dev", StringComparison.Ordinal)),
            e => Assert.DoesNotContain("cross-env", e.Classes));
        Assert.Contains(edges, e => e.Source == "internet" && e.Classes.Contains("from-internet"));
        Assert.Contains(edges, e => e.Source == "unknown" && e.Classes.Contains("from-unknown"));
        await Expect(page.Locator("#legend")).ToContainTextAsync("cross-environment");
        await rig.ScreenshotAsync(page, "1-map");

        // Clicking the edge on the canvas opens it: totals, findings and its flows, page by page.
        var point = await page.EvaluateAsync<JsonElement>("([s, t]) => window.visibilityMap.edgePoint(s, t)", new[] { DevApi, ProdDb });
        await page.Mouse.ClickAsync(point.GetProperty("x").GetSingle(), point.GetProperty("y").GetSingle());
        var details = page.Locator("#details");
        await Expect(details.Locator("h2")).ToHaveTextAsync($"{DevApi} → {ProdDb}");
        await Expect(details).ToContainTextAsync("cross_env");
        await Expect(details.Locator(".flows tbody tr").First).ToContainTextAsync("10.10.3.10:5432");
        Assert.All(await details.Locator(".flows tbody tr td:nth-child(4)").AllTextContentsAsync(), d => Assert.Equal("10.10.3.10:5432", d));
        if (await details.Locator(".next-page").CountAsync() > 0)
        {
            var firstPage = await details.Locator(".flows tbody").TextContentAsync();
            await details.Locator(".next-page").ClickAsync();
            await Expect(details.Locator(".pager")).ToContainTextAsync("page 2");
            Assert.NotEqual(firstPage, await details.Locator(".flows tbody").TextContentAsync());
        }

        await rig.ScreenshotAsync(page, "2-edge-flows");

        // Group by role and env: the URL and the nodes follow.
        await page.FillAsync("#groupBy", "role,env");
        await page.ClickAsync("#controls button[type=submit]");
        await page.WaitForURLAsync(new Regex("groupBy=role%2Cenv"));
        await WaitForAsync(page, "() => window.visibilityMap.ready && window.visibilityMap.nodeIds().some(id => id.startsWith('role='))");
        Assert.DoesNotContain(await page.EvaluateAsync<string[]>("() => window.visibilityMap.nodeIds()"), id => id.StartsWith("app=", StringComparison.Ordinal));
        await rig.ScreenshotAsync(page, "3-group-by-role");

        // A filter narrows the map; a bad one is explained in place, at its position.
        await page.FillAsync("#filter", "src.env = dev");
        await page.ClickAsync("#controls button[type=submit]");
        await page.WaitForURLAsync(new Regex("filter=src.env"));
        edges = await WaitForEdgesAsync(page, list => list.Count > 0 && list.All(e => e.Source.EndsWith("env=dev", StringComparison.Ordinal)));
        Assert.Contains(edges, e => e.Target == "role=database,env=prod" && e.Classes.Contains("cross-env"));

        await page.FillAsync("#filter", "src.env = = dev");
        await page.ClickAsync("#controls button[type=submit]");
        await Expect(page.Locator("#filter-error")).ToContainTextAsync("position 11");
        await Expect(page.Locator("#filter")).ToHaveAttributeAsync("aria-invalid", "true");
        await rig.ScreenshotAsync(page, "4-filter-error");

        // Completion offers label keys and their values from the inventory.
        await page.FillAsync("#filter", "");
        await page.FocusAsync("#filter");
        await page.Keyboard.TypeAsync("src.en");
        await Expect(page.Locator("#completions li").First).ToHaveTextAsync("src.env");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync("= p");
        await Expect(page.Locator("#completions li").First).ToHaveTextAsync("prod");
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("src.env = prod ", await page.InputValueAsync("#filter"));

        // ... and the flow fields verdict, decision and policy with their values: the verdicts, the decisions, and the
        // policy names stored flows name; finding offers the computed policy_violation too.
        await page.FillAsync("#filter", "");
        await page.FocusAsync("#filter");
        await page.Keyboard.TypeAsync("verd");
        await Expect(page.Locator("#completions li").First).ToHaveTextAsync("verdict");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync("= ");
        await Expect(page.Locator("#completions li")).ToHaveTextAsync(["allowed", "blocked"]);
        await page.Keyboard.PressAsync("ArrowDown");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync("and deci");
        await Expect(page.Locator("#completions li").First).ToHaveTextAsync("decision");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync("= ");
        await Expect(page.Locator("#completions li")).ToHaveTextAsync(["allowed", "potentiallyBlocked", "blocked", "violation", "unmanaged"]);
        await page.Keyboard.TypeAsync("p");
        await Expect(page.Locator("#completions li")).ToHaveTextAsync(["potentiallyBlocked"]);
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync("and poli");
        await Expect(page.Locator("#completions li").First).ToHaveTextAsync("policy");
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync("= ");
        await Expect(page.Locator("#completions li")).ToHaveTextAsync([RefusedPolicy]);
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync("or finding = po");
        await Expect(page.Locator("#completions li")).ToHaveTextAsync(["policy_violation"]);
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal($"verdict = blocked and decision = potentiallyBlocked and policy = {RefusedPolicy} or finding = policy_violation ", await page.InputValueAsync("#filter"));
        await rig.ScreenshotAsync(page, "5-completion");

        // Save the view (name asked by a dialog), then open its shared URL in a fresh page.
        await page.FillAsync("#filter", "src.env = dev");
        await page.ClickAsync("#controls button[type=submit]");
        await WaitForEdgesAsync(page, list => list.Count > 0 && list.All(e => e.Source.EndsWith("env=dev", StringComparison.Ordinal)));
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync("dev traffic by role");
        await page.ClickAsync("#save-view");
        await Expect(page.Locator("#status")).ToContainTextAsync("Saved \"dev traffic by role\"");
        var viewId = ViewId().Match(page.Url).Groups[1].Value;
        Assert.Matches("^[a-z2-7]{16}$", viewId);

        var reloaded = await rig.NewPageAsync();
        await reloaded.GotoAsync($"{rig.Service.BaseUrl}/?view={viewId}");
        await Expect(reloaded.Locator("#groupBy")).ToHaveValueAsync("role,env");
        await Expect(reloaded.Locator("#filter")).ToHaveValueAsync("src.env = dev");
        await Expect(reloaded.Locator("#views")).ToHaveValueAsync(viewId);
        await Expect(reloaded.Locator("#views option:checked")).ToHaveTextAsync("dev traffic by role");
        edges = await WaitForEdgesAsync(reloaded, list => list.Count > 0);
        Assert.All(edges, e => Assert.EndsWith("env=dev", e.Source, StringComparison.Ordinal));
        await rig.ScreenshotAsync(reloaded, "6-saved-view-reloaded");
        await rig.AssertNoCspViolationsAsync();
    }

    [Fact]
    public async Task Map_FindingJumpsToItsEdge_BlastRadiusHighlights_KeyboardReachesThePanel()
    {
        var page = await rig.NewPageAsync();
        await page.GotoAsync(rig.Service.BaseUrl + "/");
        await WaitForEdgesAsync(page, list => list.Any(e => e.Source == DevApi && e.Target == ProdDb));

        await page.ClickAsync("#tab-findings");
        var finding = page.Locator("#findings .finding", new PageLocatorOptions { HasText = "cross env" }).First;
        await Expect(finding).ToContainTextAsync("dev-api-1 → prod-db-1 tcp/5432");
        await Expect(finding.Locator(".sev")).ToHaveTextAsync("high");
        await finding.ClickAsync();
        await Expect(page.Locator("#details h2")).ToHaveTextAsync($"{DevApi} → {ProdDb}");
        var selected = (await EdgesAsync(page)).Where(e => e.Selected).ToList();
        Assert.Equal((DevApi, ProdDb), (Assert.Single(selected).Source, selected[0].Target));
        await rig.ScreenshotAsync(page, "7-finding-to-edge");

        // A node's blast radius: what dev's api reaches within three hops, highlighted on the map.
        var point = await page.EvaluateAsync<JsonElement>("id => window.visibilityMap.nodePoint(id)", DevApi);
        await page.Mouse.ClickAsync(point.GetProperty("x").GetSingle(), point.GetProperty("y").GetSingle());
        await Expect(page.Locator("#details h2")).ToHaveTextAsync(DevApi);
        await Expect(page.Locator("#details")).ToContainTextAsync("dev-api-1");
        await page.ClickAsync("#details button:text('Blast radius')");
        await Expect(page.Locator("#analytics-result h3")).ToContainTextAsync("Reachable from id=app=api,env=dev");
        await WaitForAsync(page, "() => window.visibilityMap.highlighted().length > 0");
        var highlighted = await page.EvaluateAsync<string[]>("() => window.visibilityMap.highlighted()");
        Assert.Contains(ProdDb, highlighted);
        Assert.Contains("app=db,env=dev", highlighted);
        Assert.DoesNotContain("internet", highlighted);
        await rig.ScreenshotAsync(page, "8-blast-radius");

        // Paths from dev to the production database.
        await page.FillAsync("#path-source", "env=dev");
        await page.FillAsync("#path-target", "env=prod,app=db");
        await page.ClickAsync("#analytics button:text('Find paths')");
        await Expect(page.Locator("#analytics .path-list li").First).ToContainTextAsync(ProdDb);

        // Keyboard: tabs move with the arrow keys and the focused control is visibly outlined.
        await page.FocusAsync("#tab-details");
        await page.Keyboard.PressAsync("ArrowRight");
        await Expect(page.Locator("#tab-findings")).ToBeFocusedAsync();
        await Expect(page.Locator("#findings")).ToBeVisibleAsync();
        var outline = await page.EvaluateAsync<string>("() => getComputedStyle(document.activeElement).outlineStyle");
        Assert.Equal("solid", outline);

        // The export link carries the current range and filter.
        var href = await page.GetAttributeAsync("#export-csv", "href");
        Assert.StartsWith("/api/v1/flows?", href, StringComparison.Ordinal);
        Assert.Contains("format=csv", href, StringComparison.Ordinal);
        using var csv = await rig.Service.Http.GetAsync(href);
        Assert.Equal("text/csv; charset=utf-8", csv.Content.Headers.ContentType?.ToString());
        Assert.Contains("10.10.3.10", await csv.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await rig.AssertNoCspViolationsAsync();
    }

    [Fact]
    public async Task Map_PolicyTab_DraftsFromTheView_SimulationMarksTheFlaggedEdgesBlocked()
    {
        var page = await rig.NewPageAsync();
        await page.GotoAsync(rig.Service.BaseUrl + "/");
        await WaitForEdgesAsync(page, list => list.Any(e => e.Source == DevApi && e.Target == ProdDb));

        // Drafted without the flagged flows, the rules leave dev → prod out: simulating them marks that edge blocked.
        await page.ClickAsync("#tab-policy");
        await page.ClickAsync("#policy-draft");
        await Expect(page.Locator("#policy-summary")).ToContainTextAsync("flagged flow(s) left out");
        var ruleset = JsonDocument.Parse(await page.InputValueAsync("#policy-ruleset")).RootElement;
        Assert.Equal("visibility.policy/v1", ruleset.GetProperty("schema").GetString());
        Assert.Contains(ruleset.GetProperty("rules").EnumerateArray(), r => r.GetProperty("name").GetString() == "app=api,env=prod -> app=db,env=prod");
        await page.ClickAsync("#policy-simulate");
        await Expect(page.Locator("#policy-coverage")).ToContainTextAsync("would be blocked");
        await Expect(page.Locator("#policy-result .blocked-list")).ToContainTextAsync($"{DevApi} → {ProdDb} tcp/5432");
        await WaitForAsync(page, "() => window.visibilityMap.blocked().length > 0");
        var blocked = await page.EvaluateAsync<JsonElement>("() => window.visibilityMap.blocked()");
        Assert.Contains(blocked.EnumerateArray(), e => e.GetProperty("source").GetString() == DevApi && e.GetProperty("target").GetString() == ProdDb);
        Assert.DoesNotContain(blocked.EnumerateArray(), e => e.GetProperty("source").GetString() == "app=api,env=prod");
        await rig.ScreenshotAsync(page, "9-policy-blocked");

        // A ruleset edited into something invalid gets the API's message, naming the problem.
        await page.FillAsync("#policy-ruleset", "{\"schema\": \"visibility.policy/v1\", \"name\": \"x\", \"groupBy\": [], \"rules\": [{\"name\": \"r\", \"source\": {\"kind\": \"host\", \"labels\": {}}, \"destination\": {\"kind\": \"internet\", \"labels\": {}}, \"ports\": [{\"protocol\": \"tcp\", \"from\": 1, \"to\": 1}]}]}");
        await page.ClickAsync("#policy-simulate");
        await Expect(page.Locator("#policy-result")).ToContainTextAsync("rules[0].source.kind 'host'");
        await rig.AssertNoCspViolationsAsync();
    }

    [Fact]
    public async Task Map_PassesAxeAccessibilityRules_WithEachPanelOpen()
    {
        var page = await rig.NewPageAsync();
        await page.GotoAsync(rig.Service.BaseUrl + "/");
        await WaitForEdgesAsync(page, list => list.Any(e => e.Source == DevApi && e.Target == ProdDb));

        // axe-core's rules (WCAG 2.x A/AA: colour contrast, names of controls, roles, landmarks) on the page as the
        // analyst sees it: the map with an edge's details open, then the findings and the analytics panels.
        var point = await page.EvaluateAsync<JsonElement>("([s, t]) => window.visibilityMap.edgePoint(s, t)", new[] { DevApi, ProdDb });
        await page.Mouse.ClickAsync(point.GetProperty("x").GetSingle(), point.GetProperty("y").GetSingle());
        await Expect(page.Locator("#details .flows tbody tr").First).ToBeVisibleAsync();
        var checkedPanels = 0;
        foreach (var tab in new[] { "#tab-details", "#tab-findings", "#tab-analytics", "#tab-policy" })
        {
            await page.ClickAsync(tab);
            var result = await rig.AxeAsync(page, tab);
            Assert.Empty(result.Violations);
            Assert.NotEmpty(result.Passes);
            checkedPanels++;
        }

        Assert.Equal(4, checkedPanels);
        await rig.AssertNoCspViolationsAsync();
    }

    [Fact]
    public async Task LargeMap_LaidOutPerEnvironment_EveryNodeInsideItsEnvironmentBox_NodesStillOpen()
    {
        // 480 workloads in four environments and 1,600 edges: above the size where the map lays environments out
        // separately and draws their boxes itself (no compound nodes).
        string[] envs = ["prod", "staging", "dev", "test"];
        var workloads = Enumerable.Range(0, 480).Select(i => new
        {
            name = $"w{i:D3}",
            addresses = new[] { $"10.{60 + (i / 200)}.{i % 200}.10" },
            labels = new Dictionary<string, string> { ["app"] = $"app{i % 40}", ["env"] = envs[i % 4], ["suite"] = "large" },
        }).ToList();
        using (var put = await rig.Service.Http.PutAsJsonAsync("/api/v1/workloads", workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        var pairs = new HashSet<(int, int)>();
        for (var i = 0; i < workloads.Count; i++)
        {
            pairs.Add((i, (i + 4) % workloads.Count));
        }

        var random = new Random(7);
        while (pairs.Count < 1_600)
        {
            var a = random.Next(workloads.Count);
            var b = random.Next(workloads.Count);
            if (a != b && (a % 4 == b % 4 || random.Next(10) == 0))
            {
                pairs.Add((a, b));
            }
        }

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Service.Bootstrap, LingerMs = 5 }).Build())
        {
            var start = DateTimeOffset.UtcNow.AddMinutes(-3);
            var n = 0;
            foreach (var (a, b) in pairs)
            {
                n++;
                var c = new Ulogd2Writer.Connection((uint)(100_000 + n), workloads[a].addresses[0], workloads[b].addresses[0], 6, (ushort)(20000 + (n % 30000)), 443,
                    start.AddMilliseconds(n), start.AddMilliseconds(n + 200), 100, 1, 200, 1);
                producer.Produce("flows", new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var page = await rig.NewPageAsync();
        await page.GotoAsync($"{rig.Service.BaseUrl}/?last=1h&groupBy=workload,env&filter=src.suite%20%3D%20large%20and%20dst.suite%20%3D%20large");
        // 1,600 records through the broker while the other end-to-end tests load the machine: ingest may take a while
        // (this test is about the layout; the map's speed is measured by `make bench-map`).
        await WaitForEdgesAsync(page, list => list.Count == pairs.Count, TimeSpan.FromSeconds(180));

        // Each environment's box surrounds exactly its own nodes.
        var layout = await page.EvaluateAsync<JsonElement>("() => window.visibilityMap.groupLayout()");
        var byEnv = layout.GetProperty("boxes").EnumerateArray().ToDictionary(b => b.GetProperty("env").GetString()!);
        Assert.Equal(envs.Order(), byEnv.Keys.Order());
        var inside = 0;
        foreach (var node in layout.GetProperty("nodes").EnumerateArray())
        {
            var box = byEnv[node.GetProperty("env").GetString()!];
            var (x, y) = (node.GetProperty("x").GetDouble(), node.GetProperty("y").GetDouble());
            Assert.InRange(x, box.GetProperty("x1").GetDouble(), box.GetProperty("x2").GetDouble());
            Assert.InRange(y, box.GetProperty("y1").GetDouble(), box.GetProperty("y2").GetDouble());
            inside++;
        }

        Assert.Equal(workloads.Count, inside);
        var boxes = byEnv.Values.ToList();
        for (var i = 0; i < boxes.Count; i++)
        {
            for (var j = i + 1; j < boxes.Count; j++)
            {
                var overlap = boxes[i].GetProperty("x1").GetDouble() < boxes[j].GetProperty("x2").GetDouble() && boxes[j].GetProperty("x1").GetDouble() < boxes[i].GetProperty("x2").GetDouble()
                    && boxes[i].GetProperty("y1").GetDouble() < boxes[j].GetProperty("y2").GetDouble() && boxes[j].GetProperty("y1").GetDouble() < boxes[i].GetProperty("y2").GetDouble();
                Assert.False(overlap, "environment boxes overlap");
            }
        }

        // A node still opens with its workload, once zoomed in on (at full view, 480 nodes overlap): the node
        // farthest from its nearest neighbour, so the click cannot land on another one.
        var placed = layout.GetProperty("nodes").EnumerateArray()
            .Select(n => (Id: n.GetProperty("id").GetString()!, X: n.GetProperty("x").GetDouble(), Y: n.GetProperty("y").GetDouble())).ToList();
        var loneliest = placed.MaxBy(n => placed.Where(o => o.Id != n.Id).Min(o => Math.Pow(o.X - n.X, 2) + Math.Pow(o.Y - n.Y, 2)));
        var index = int.Parse(loneliest.Id.AsSpan(10, 3), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await page.EvaluateAsync<bool>("id => window.visibilityMap.zoomTo(id, 2.5)", loneliest.Id));
        var point = await page.EvaluateAsync<JsonElement>("id => window.visibilityMap.nodePoint(id)", loneliest.Id);
        await page.Mouse.ClickAsync(point.GetProperty("x").GetSingle(), point.GetProperty("y").GetSingle());
        await Expect(page.Locator("#details h2")).ToHaveTextAsync(loneliest.Id);
        await Expect(page.Locator("#details")).ToContainTextAsync(workloads[index].addresses[0]);

        // A refresh keeps the large map as it is, zoomed in on that node: no node moves.
        var before = await NodePositionsAsync(page);
        var after = await RedrawAsync(page, () => page.ClickAsync("#controls button[type=submit]"));
        Assert.Equal(workloads.Count, after.Count);
        Assert.Equal("kept", await page.EvaluateAsync<string>("() => window.visibilityMap.layout"));
        rig.AssertStill("large map refresh", before, after);
        await rig.ScreenshotAsync(page, "9-large-map");
        await NodesRejoinTheLargeMapAsync(page, envs, workloads.Count);
        await rig.AssertNoCspViolationsAsync();
    }

    private const string RefusedPolicy = "edge/deny-ssh";

    /// <summary>
    /// A refused attempt from the demo's internet source to prod-web-1's ssh, naming the policy that refused it
    /// (canonical JSON, which the flows topic's <c>auto</c> format recognises), stored before the page loads its
    /// completion vocabulary.
    /// </summary>
    private async Task StoreRefusedAttemptAsync()
    {
        var record = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["version"] = 1,
            ["id"] = "map-test/attempt/1",
            ["event"] = "new",
            ["start"] = DateTimeOffset.UtcNow.AddSeconds(-30).ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["proto"] = "tcp",
            ["src"] = new { ip = DemoEstate.InternetSource, port = 51514 },
            ["dst"] = new { ip = "10.10.1.10", port = 22 },
            ["bytes_out"] = 60,
            ["packets_out"] = 1,
            ["verdict"] = "blocked",
            ["attempt"] = true,
            ["policies"] = new[] { RefusedPolicy },
        });
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Service.Bootstrap }).Build())
        {
            producer.Produce("flows", new Message<Null, string> { Value = record });
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        await rig.Service.WaitAsync(
            async () =>
            {
                using var flows = JsonDocument.Parse(await rig.Service.Http.GetStringAsync($"/api/v1/flows?last=1h&filter={Uri.EscapeDataString($"policy = {RefusedPolicy}")}"));
                return flows.RootElement.GetProperty("flows").GetArrayLength();
            },
            n => n == 1, TimeSpan.FromSeconds(60), "the refused attempt in the flows", TimeSpan.FromMilliseconds(300));
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    [GeneratedRegex(@"[?&]view=([a-z2-7]+)")]
    private static partial Regex ViewId();
}
