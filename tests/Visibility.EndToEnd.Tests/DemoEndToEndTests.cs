namespace Visibility.EndToEnd.Tests;

/// <summary><c>serve --demo</c> (what <c>make demo</c> runs) serves a populated graph soon after start.</summary>
public sealed class DemoEndToEndTests : IDisposable
{
    private readonly TempDirectory data = new("visibility-demo");

    private string DataPath => data.Path;

    public void Dispose() => data.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Demo_ServesNonEmptyGraphWithDevToProdEdge_Within60Seconds(int consumers)
    {
        var started = DateTime.UtcNow;
        await using var demo = VisibilityProcess.Start(DataPath, ["--demo"], new Dictionary<string, string>
        {
            // Two consumers in one group: the development broker must let the second one in without a long stall.
            ["Visibility__Ingest__Consumers"] = consumers.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // As `make demo` runs it: authentication on, an admin key printed at start.
            ["Visibility__Auth__Disabled"] = "false",
        });
        var key = await demo.WaitForPrintedKeyAsync(TimeSpan.FromSeconds(60));
        Assert.Contains($"{demo.BaseUrl}/#key={key}", demo.Output, StringComparison.Ordinal);
        await demo.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using (var anonymous = new HttpClient { BaseAddress = new Uri(demo.BaseUrl) })
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/graph")).StatusCode);
            Assert.Equal(System.Net.HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        }

        using var graph = await PipelineEndToEndTests.WaitForGraphAsync(
            demo.Http,
            g => g.RootElement.GetProperty("edges").EnumerateArray().Any(e => e.GetProperty("crossEnv").GetBoolean()) &&
                 g.RootElement.GetProperty("edges").EnumerateArray().Any(e => e.GetProperty("source").GetString() == "unknown"),
            TimeSpan.FromSeconds(60) - (DateTime.UtcNow - started));

        var edges = graph.RootElement.GetProperty("edges").EnumerateArray().ToList();
        Assert.Contains(edges, e => e.GetProperty("source").GetString() == "app=api,env=dev" && e.GetProperty("target").GetString() == "app=db,env=prod" && e.GetProperty("crossEnv").GetBoolean());
        Assert.Contains(edges, e => e.GetProperty("source").GetString() == "unknown");

        // The map page and its script (the browser tests drive it; here: it is served, built from web/ui, without a key).
        using var browserLike = new HttpClient { BaseAddress = new Uri(demo.BaseUrl) };
        var page = await browserLike.GetStringAsync("/");
        Assert.Contains("id=\"map\"", page, StringComparison.Ordinal);
        var script = System.Text.RegularExpressions.Regex.Match(page, "src=\"(/assets/[^\"]+\\.js)\"").Groups[1].Value;
        Assert.Contains("/api/v1/graph", await browserLike.GetStringAsync(script), StringComparison.Ordinal);
    }
}
