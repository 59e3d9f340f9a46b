using System.Text.Json;
using Microsoft.Playwright;
using static Visibility.EndToEnd.Tests.MapPage;

namespace Visibility.EndToEnd.Tests;

/// <summary>The map keeps its layout: what a refresh or a change of range, width or filter leaves on the map stays put.</summary>
public sealed partial class MapBrowserTests
{
    [Fact]
    public async Task Map_RefreshRangeWidthAndFilterChanges_KeepNodesInPlace_NewNodesPlacedNextToTheirNeighbours()
    {
        string[] all = ["internet", "unknown", "app=web,env=prod", "app=api,env=prod", ProdDb, "app=web,env=dev", DevApi, "app=db,env=dev"];
        var page = await rig.NewPageAsync();
        await page.GotoAsync(rig.Service.BaseUrl + "/");
        await WaitForEdgesAsync(page, list => all.All(id => list.Any(e => e.Source == id || e.Target == id)));
        await rig.ScreenshotAsync(page, "10-stable-before");

        // The refresh (Apply with nothing changed), another width, another range with the same nodes: nothing moves.
        var start = await NodePositionsAsync(page);
        Assert.Equal(all.Order(), start.Keys.Order());
        var before = start;
        foreach (var (step, change) in new (string, Func<Task>)[]
        {
            ("refresh", () => page.ClickAsync("#controls button[type=submit]")),
            ("width flows", () => page.SelectOptionAsync("#width", "flows")),
            ("range 6h", async () =>
            {
                await page.SelectOptionAsync("#range", "6h");
                await page.ClickAsync("#controls button[type=submit]");
            }),
            ("refresh again", () => page.ClickAsync("#controls button[type=submit]")),
        })
        {
            var after = await RedrawAsync(page, change);
            Assert.Equal(all.Order(), after.Keys.Order());
            rig.AssertStill(step, before, after);
            Assert.Equal("kept", await page.EvaluateAsync<string>("() => window.visibilityMap.layout"));
            before = after;
        }

        rig.AssertStill("all steps", start, before);

        // A filter that leaves out four nodes: they disappear, the others stay where they were.
        await page.FillAsync("#filter", "src.env = dev");
        var filtered = await RedrawAsync(page, () => page.ClickAsync("#controls button[type=submit]"));
        string[] dev = ["app=web,env=dev", DevApi, "app=db,env=dev", ProdDb];
        Assert.Equal(dev.Order(), filtered.Keys.Order());
        rig.AssertStill("filter src.env = dev", before, filtered);
        await rig.ScreenshotAsync(page, "11-stable-filtered");

        // The filter cleared: the four come back as new nodes, each next to a neighbour and outside the other
        // environment's box, while the four that stayed do not move.
        await page.FillAsync("#filter", "");
        var widened = await RedrawAsync(page, () => page.ClickAsync("#controls button[type=submit]"));
        Assert.Equal(all.Order(), widened.Keys.Order());
        Assert.Equal("kept", await page.EvaluateAsync<string>("() => window.visibilityMap.layout"));
        rig.AssertStill("filter cleared", filtered, widened);
        var edges = await EdgesAsync(page);
        var zoom = await page.EvaluateAsync<double>("() => window.visibilityMap.zoom()");
        foreach (var id in all.Except(dev))
        {
            var nearest = edges.Where(e => e.Source == id || e.Target == id).Select(e => e.Source == id ? e.Target : e.Source)
                .Min(n => Distance(widened[id], widened[n]));
            rig.Output.WriteLine($"new node {id}: {nearest:F0} px from its nearest neighbour (zoom {zoom:F2})");
            Assert.InRange(nearest / zoom, 1, 250);
        }

        var layout = await page.EvaluateAsync<JsonElement>("() => window.visibilityMap.groupLayout()");
        var boxes = layout.GetProperty("boxes").EnumerateArray()
            .Select(b => (Env: b.GetProperty("env").GetString()!, X1: b.GetProperty("x1").GetDouble(), Y1: b.GetProperty("y1").GetDouble(), X2: b.GetProperty("x2").GetDouble(), Y2: b.GetProperty("y2").GetDouble()))
            .ToList();
        Assert.Equal(["dev", "prod"], boxes.Select(b => b.Env).Order());
        Assert.False(boxes[0].X1 < boxes[1].X2 && boxes[1].X1 < boxes[0].X2 && boxes[0].Y1 < boxes[1].Y2 && boxes[1].Y1 < boxes[0].Y2, "environment boxes overlap");
        foreach (var id in new[] { "internet", "unknown" })
        {
            var (x, y) = (widened[id].ModelX, widened[id].ModelY);
            Assert.DoesNotContain(boxes, b => x > b.X1 && x < b.X2 && y > b.Y1 && y < b.Y2);
        }

        await rig.ScreenshotAsync(page, "12-stable-widened");

        // Another grouping is another map: laid out afresh and fitted to the view.
        await page.FillAsync("#groupBy", "role,env");
        await RedrawAsync(page, () => page.ClickAsync("#controls button[type=submit]"));
        Assert.Equal("fresh", await page.EvaluateAsync<string>("() => window.visibilityMap.layout"));
        await rig.AssertNoCspViolationsAsync();
    }

    /// <summary>
    /// On the large map of <see cref="LargeMap_LaidOutPerEnvironment_EveryNodeInsideItsEnvironmentBox_NodesStillOpen"/>,
    /// a filter leaves out one environment and one app, then is cleared: those 132 nodes come back as new nodes (the
    /// environment as a new group). No other node moves, every node is inside its environment's box and no two
    /// boxes overlap.
    /// </summary>
    private async Task NodesRejoinTheLargeMapAsync(IPage page, string[] envs, int workloads)
    {
        const string Large = "src.suite = large and dst.suite = large";
        var all = await NodePositionsAsync(page);
        Assert.Equal(workloads, all.Count);
        await page.FillAsync("#filter", $"{Large} and env != test and app != app1");
        var narrowed = await RedrawAsync(page, () => page.ClickAsync("#controls button[type=submit]"));
        Assert.DoesNotContain(narrowed.Keys, id => id.EndsWith(",env=test", StringComparison.Ordinal));
        Assert.True(narrowed.Count < workloads - 120, $"{narrowed.Count} nodes left");
        rig.AssertStill("large map narrowed", all, narrowed);

        await page.FillAsync("#filter", Large);
        var widened = await RedrawAsync(page, () => page.ClickAsync("#controls button[type=submit]"));
        Assert.Equal(workloads, widened.Count);
        Assert.Equal("kept", await page.EvaluateAsync<string>("() => window.visibilityMap.layout"));
        rig.AssertStill($"large map, {workloads - narrowed.Count} nodes back", narrowed, widened);

        var layout = await page.EvaluateAsync<JsonElement>("() => window.visibilityMap.groupLayout()");
        var boxes = layout.GetProperty("boxes").EnumerateArray().ToDictionary(b => b.GetProperty("env").GetString()!, b => (
            X1: b.GetProperty("x1").GetDouble(), Y1: b.GetProperty("y1").GetDouble(), X2: b.GetProperty("x2").GetDouble(), Y2: b.GetProperty("y2").GetDouble()));
        Assert.Equal(envs.Order(), boxes.Keys.Order());
        var inside = 0;
        foreach (var node in layout.GetProperty("nodes").EnumerateArray())
        {
            var box = boxes[node.GetProperty("env").GetString()!];
            Assert.InRange(node.GetProperty("x").GetDouble(), box.X1, box.X2);
            Assert.InRange(node.GetProperty("y").GetDouble(), box.Y1, box.Y2);
            inside++;
        }

        Assert.Equal(workloads, inside);
        foreach (var (env, a) in boxes)
        {
            foreach (var (other, b) in boxes.Where(o => o.Key != env))
            {
                Assert.False(a.X1 < b.X2 && b.X1 < a.X2 && a.Y1 < b.Y2 && b.Y1 < a.Y2, $"the boxes of {env} {a} and {other} {b} overlap");
            }
        }

        await page.EvaluateAsync("() => window.visibilityMap.fit()");
        await rig.ScreenshotAsync(page, "13-large-map-nodes-back");
    }
}
