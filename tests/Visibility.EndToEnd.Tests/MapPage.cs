using System.Text.Json;
using Microsoft.Playwright;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The drawn map, read through the page's <c>window.visibilityMap</c>: its edges and nodes, waiting for it to show
/// something or to redraw. Shared by the map's browser tests (<c>using static</c>).
/// </summary>
internal static class MapPage
{
    /// <summary>An edge as the page draws it: its end nodes, style classes, colour (<c>rgb(r,g,b)</c>) and whether it is selected.</summary>
    public sealed record DrawnEdge(string Source, string Target, string[] Classes, string Color, bool Selected);

    /// <summary>The edges drawn on the map now.</summary>
    public static async Task<List<DrawnEdge>> EdgesAsync(IPage page)
    {
        var json = await page.EvaluateAsync<JsonElement>("() => window.visibilityMap.edgeList()");
        return [.. json.EnumerateArray().Select(e => new DrawnEdge(
            e.GetProperty("source").GetString()!, e.GetProperty("target").GetString()!,
            [.. e.GetProperty("classes").EnumerateArray().Select(c => c.GetString()!)],
            e.GetProperty("color").GetString()!.Replace(" ", "", StringComparison.Ordinal), e.GetProperty("selected").GetBoolean()))];
    }

    /// <summary>Polls the drawn map (reloading it while the demo's first flows arrive) until it satisfies the condition.</summary>
    public static Task<List<DrawnEdge>> WaitForEdgesAsync(IPage page, Func<List<DrawnEdge>, bool> done, TimeSpan? timeout = null)
    {
        List<DrawnEdge>? drawn = null;
        return Eventually.WaitAsync(
            async () =>
            {
                if (drawn is not null)
                {
                    await page.ClickAsync("#controls button[type=submit]");
                }

                await WaitForAsync(page, "() => window.visibilityMap && window.visibilityMap.ready");
                return drawn = await EdgesAsync(page);
            },
            done, timeout ?? TimeSpan.FromSeconds(60), "the map showing the expected edges",
            () => $"drawn {drawn?.Count}: {string.Join("; ", (drawn ?? []).Take(20).Select(e => $"{e.Source} -> {e.Target}"))}",
            TimeSpan.FromMilliseconds(500));
    }

    /// <summary>Waits up to 60 s until <paramref name="predicate"/> (JavaScript) holds in the page.</summary>
    public static Task WaitForAsync(IPage page, string predicate) =>
        page.WaitForFunctionAsync(predicate, null, new PageWaitForFunctionOptions { Timeout = 60_000 });

    /// <summary>A drawn node's position on the page (rendered pixels) and in the model.</summary>
    public sealed record NodeAt(double X, double Y, double ModelX, double ModelY);

    /// <summary>Each drawn node's position on the page (rendered pixels) and in the model.</summary>
    public static async Task<Dictionary<string, NodeAt>> NodePositionsAsync(IPage page)
    {
        var json = await page.EvaluateAsync<JsonElement>("() => window.visibilityMap.nodePositions()");
        return json.EnumerateArray().ToDictionary(n => n.GetProperty("id").GetString()!, n => new NodeAt(
            n.GetProperty("x").GetDouble(), n.GetProperty("y").GetDouble(), n.GetProperty("mx").GetDouble(), n.GetProperty("my").GetDouble()));
    }

    /// <summary>Runs what makes the map redraw, waits for the next drawn map and returns its node positions.</summary>
    public static async Task<Dictionary<string, NodeAt>> RedrawAsync(IPage page, Func<Task> change)
    {
        var renders = await page.EvaluateAsync<int>("() => window.visibilityMap.renders");
        await change();
        await page.WaitForFunctionAsync("n => window.visibilityMap.ready && window.visibilityMap.renders > n", renders, new PageWaitForFunctionOptions { Timeout = 60_000 });
        return await NodePositionsAsync(page);
    }

    /// <summary>How far apart two nodes are on the page, in pixels.</summary>
    public static double Distance(NodeAt a, NodeAt b) => Math.Sqrt(Math.Pow(a.X - b.X, 2) + Math.Pow(a.Y - b.Y, 2));
}
