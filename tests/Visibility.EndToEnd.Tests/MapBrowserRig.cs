using System.Collections.Concurrent;
using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Visibility.EndToEnd.Tests.MapPage;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// What the map's browser tests stand on: a real <c>visibility serve</c> on a data directory of its own and Debian's
/// chromium (<see cref="Browser"/>); pages of one size, each watched for Content-Security-Policy violations and errors;
/// screenshots in <see cref="Browser.ArtifactsDirectory"/> named after the test class. Disposed in reverse: the
/// browser, the service, then its data.
/// </summary>
internal sealed class MapBrowserRig(ITestOutputHelper output, string testClass, string dataDirectory) : IAsyncDisposable
{
    /// <summary>How far a node that stays on the map may move across a redraw, in page pixels.</summary>
    public const double StillPx = 5;

    private readonly TempDirectory data = new(dataDirectory);
    private readonly List<IPage> pages = [];
    private readonly ConcurrentQueue<string> cspConsole = new();
    private VisibilityProcess? service;
    private IPlaywright? playwright;
    private IBrowser? chromium;

    /// <summary>The size of every page the tests open.</summary>
    public static ViewportSize Viewport => new() { Width = 1400, Height = 850 };

    /// <summary>The test's output, where the rig writes too.</summary>
    public ITestOutputHelper Output => output;

    public VisibilityProcess Service => service ?? throw new InvalidOperationException("the rig has not been started");

    public IBrowser Chromium => chromium ?? throw new InvalidOperationException("the rig has not been started");

    /// <summary>
    /// Starts the service on the rig's data directory (<paramref name="start"/>), waits for it as <paramref name="ready"/>
    /// says, then launches chromium.
    /// </summary>
    public async Task StartAsync(Func<string, VisibilityProcess> start, Func<VisibilityProcess, Task> ready)
    {
        service = start(data.Path);
        await ready(service);
        playwright = await Playwright.CreateAsync();
        chromium = await Browser.LaunchAsync(playwright);
    }

    /// <summary>A new page of <see cref="Viewport"/>'s size, watched (<see cref="WatchAsync"/>).</summary>
    public async Task<IPage> NewPageAsync()
    {
        var page = await Chromium.NewPageAsync(new BrowserNewPageOptions { ViewportSize = Viewport });
        await WatchAsync(page);
        return page;
    }

    /// <summary>
    /// The server's Content-Security-Policy must let the map work: a blocked script, style, worker, image or request is
    /// reported as a securitypolicyviolation event in the page and as a console message (workers too); both are kept
    /// for <see cref="AssertNoCspViolationsAsync"/>. Page errors and console errors go to the test's output.
    /// </summary>
    public async Task WatchAsync(IPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        pages.Add(page);
        await page.AddInitScriptAsync("""
            window.__cspViolations = [];
            document.addEventListener('securitypolicyviolation', (e) =>
              window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`));
            """);
        page.Console += (_, message) => KeepCspMessage("", message);
        page.Worker += (_, worker) => worker.Console += (_, message) => KeepCspMessage("worker: ", message);
        page.PageError += (_, error) => output.WriteLine($"page error: {error}");
        page.Console += (_, message) =>
        {
            // A 400 is what a test's deliberately bad filter draws; other errors are worth reading when a test fails.
            if (message.Type == "error" && !message.Text.Contains("400 (Bad Request)", StringComparison.Ordinal))
            {
                output.WriteLine($"console error: {message.Text}");
            }
        };
    }

    /// <summary>Fails with every Content-Security-Policy violation the pages of this test reported.</summary>
    public async Task AssertNoCspViolationsAsync()
    {
        var violations = new List<string>(cspConsole);
        foreach (var page in pages.Where(p => !p.IsClosed))
        {
            violations.AddRange(await page.EvaluateAsync<string[]>("() => window.__cspViolations || []"));
        }

        Assert.Empty(violations);
    }

    /// <summary>Runs axe-core's WCAG 2.1 AA rules on the page as it is and writes each violation to the test's output.</summary>
    public async Task<AxeResult> AxeAsync(IPage page, string what)
    {
        var result = await page.RunAxe(new AxeRunOptions
        {
            RunOnly = new RunOnlyOptions { Type = "tag", Values = ["wcag2a", "wcag2aa", "wcag21aa"] },
        });
        foreach (var violation in result.Violations)
        {
            output.WriteLine($"{what}: {violation.Id} ({violation.Impact}): {violation.Help} — {string.Join(" | ", violation.Nodes.Take(3).Select(n => string.Join(",", n.Target)))}");
        }

        return result;
    }

    /// <summary>Every node on both maps moved less than <see cref="StillPx"/> on the page.</summary>
    public void AssertStill(string step, Dictionary<string, NodeAt> before, Dictionary<string, NodeAt> after)
    {
        var common = before.Keys.Intersect(after.Keys).ToList();
        Assert.NotEmpty(common);
        var moved = common.Max(id => Distance(before[id], after[id]));
        output.WriteLine($"{step}: {common.Count} nodes kept, largest movement {moved:F2} px");
        Assert.True(moved < StillPx, $"{step}: a node moved {moved:F1} px");
    }

    public async Task ScreenshotAsync(IPage page, string name)
    {
        var path = Path.Combine(Browser.ArtifactsDirectory, $"{testClass}-{name}.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path });
        output.WriteLine($"screenshot: {path}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (chromium is not null)
            {
                await chromium.CloseAsync();
            }

            playwright?.Dispose();
            if (service is not null)
            {
                await service.DisposeAsync();
            }
        }
        finally
        {
            data.Dispose();
        }
    }

    private void KeepCspMessage(string prefix, IConsoleMessage message)
    {
        if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
        {
            cspConsole.Enqueue(prefix + message.Text);
        }
    }
}
