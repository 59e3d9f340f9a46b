using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using Visibility.Benchmarks.Support;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Pipeline;

namespace Visibility.Benchmarks.MapLayout;

/// <summary>
/// The map at size (<c>make bench-map</c>): a store holding 2,000 workloads and exactly 10,000 workload-to-workload
/// edges, served by the real <c>visibility serve</c>, opened in Debian's chromium grouped by workload and env (2,000
/// nodes in environment boxes, 10,000 edges). Per run: layout time (the fcose layout in its worker), time to the
/// first painted map, the longest main-thread task while loading, click-to-details latency and frame gaps while
/// zooming, so "stays responsive" is a number, not an impression.
/// </summary>
public static class MapLayoutHarness
{
    private const string Usage = """
        usage: Visibility.Benchmarks map [options]
          --workloads W   workloads, each a node (default 2000)
          --edges E       distinct workload-to-workload edges (default 10000)
          --runs N        page loads measured (default 5)
          --markdown PATH report (default artifacts/map/map-<UTC time>.md)
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var workloads = 2_000;
        var edges = 10_000;
        var runs = 5;
        string? markdown = null;
        string? loadInto = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} needs a value");
            switch (args[i])
            {
                case "--workloads": workloads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--edges": edges = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--markdown": markdown = Next(); break;
                case "--load-into": loadInto = Next(); break;
                case "--help" or "-h": Console.WriteLine(Usage); return 0;
                default: Console.Error.WriteLine($"unknown option '{args[i]}'\n{Usage}"); return 2;
            }
        }

        if (loadInto is not null)
        {
            // The child process that fills the store: the embedded engine holds its directory until its process exits.
            await LoadAsync(loadInto, BenchEstate.Create(workloads), edges);
            return 0;
        }

        markdown ??= Path.Combine("artifacts", "map", $"map-{DateTime.UtcNow:yyyyMMdd-HHmmss}.md");
        var dataPath = Path.Combine(Path.GetTempPath(), "visibility-bench-map-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var watch = Stopwatch.StartNew();
            await LoadInChildAsync(dataPath, workloads, edges);
            Console.Error.WriteLine($"stored {workloads:N0} workloads and {edges:N0} edges in {watch.Elapsed.TotalSeconds:F1} s");

            using var serve = Serve.Start(dataPath);
            await serve.WaitReadyAsync();
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = "/usr/bin/chromium",
                Headless = true,
                Args =
                [
                    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                ],
            });

            var url = $"{serve.BaseUrl}/?last=1h&groupBy=workload,env&limit={edges}";
            var results = new List<Run>();
            for (var run = 0; run < runs; run++)
            {
                results.Add(await MeasureAsync(browser, url, workloads, edges, run == 0 ? Path.ChangeExtension(markdown, ".png") : null));
                Console.Error.WriteLine($"run {run + 1}: {results[^1]}");
            }

            var report = Report(results, workloads, edges, url);
            Console.WriteLine(report);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(markdown))!);
            await File.WriteAllTextAsync(markdown, report);
            Console.Error.WriteLine($"report: {markdown}");
            return 0;
        }
        finally
        {
            if (Directory.Exists(dataPath))
            {
                Directory.Delete(dataPath, recursive: true);
            }
        }
    }

    private sealed record Run(double FetchMs, double LayoutMs, double BuildMs, double PaintMs, double FirstPaintMs, double LongestTaskMs, double LongTasksMs, double ClickToDetailsMs, double LongestFrameGapMs, int Frames)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"graph fetched {FetchMs:F0} ms, layout {LayoutMs:F0} ms, elements added {BuildMs:F0} ms, first paint {PaintMs:F0} ms, map drawn {FirstPaintMs:F0} ms after layout began, longest main-thread task {LongestTaskMs:F0} ms (long tasks {LongTasksMs:F0} ms in all), " +
            $"click→details {ClickToDetailsMs:F0} ms, zoom: {Frames} frames, longest gap {LongestFrameGapMs:F0} ms");
    }

    /// <summary>One page load: timings the page reports, long tasks, a node click and a zoom.</summary>
    private static async Task<Run> MeasureAsync(IBrowser browser, string url, int workloads, int edges, string? screenshot)
    {
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1600, Height = 1000 } });
        try
        {
            await page.AddInitScriptAsync("""
                window.__longTasks = [];
                new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push(e.duration); })
                  .observe({ type: 'longtask', buffered: true });
                """);
            await page.GotoAsync(url);
            await page.WaitForFunctionAsync("() => window.visibilityMap && window.visibilityMap.ready", null, new PageWaitForFunctionOptions { Timeout = 180_000 });
            var probe = await page.EvaluateAsync<JsonElement>("() => ({ ...window.visibilityMap, longTasks: window.__longTasks })");
            var nodes = probe.GetProperty("nodes").GetInt32();
            var drawn = probe.GetProperty("edges").GetInt32();
            if (nodes < workloads || drawn != edges)
            {
                throw new InvalidOperationException($"the map drew {nodes} nodes and {drawn} edges; expected ≥ {workloads} and {edges}: {probe}");
            }

            var tasks = probe.GetProperty("longTasks").EnumerateArray().Select(t => t.GetDouble()).ToList();

            // Click a node: time from the pointer going down to its details being in the panel.
            var id = await page.EvaluateAsync<string>("() => window.visibilityMap.nodeIds().find(id => id.startsWith('workload='))");
            var point = await page.EvaluateAsync<JsonElement>("id => window.visibilityMap.nodePoint(id)", id);
            await page.EvaluateAsync("""
                () => {
                  window.__click = {};
                  addEventListener('pointerdown', () => { window.__click.down = performance.now(); }, { capture: true, once: true });
                  new MutationObserver((_, o) => { window.__click.shown = performance.now(); o.disconnect(); })
                    .observe(document.getElementById('details'), { childList: true, subtree: true });
                }
                """);
            await page.Mouse.ClickAsync(point.GetProperty("x").GetSingle(), point.GetProperty("y").GetSingle());
            await page.WaitForFunctionAsync("() => window.__click.shown !== undefined", null, new PageWaitForFunctionOptions { Timeout = 30_000 });
            var click = await page.EvaluateAsync<double>("() => window.__click.shown - window.__click.down");

            // Zoom with the wheel for about a second while counting animation frames.
            await page.EvaluateAsync("""
                () => {
                  window.__frames = [];
                  const tick = (t) => { window.__frames.push(t); if (window.__frames.length < 2000) window.__frameId = requestAnimationFrame(tick); };
                  window.__frameId = requestAnimationFrame(tick);
                }
                """);
            await page.Mouse.MoveAsync(800, 500);
            for (var i = 0; i < 10; i++)
            {
                await page.Mouse.WheelAsync(0, i < 5 ? -200 : 200);
                await page.WaitForTimeoutAsync(100);
            }

            var frames = await page.EvaluateAsync<double[]>("() => { cancelAnimationFrame(window.__frameId); return window.__frames; }");
            var gaps = frames.Zip(frames.Skip(1), (a, b) => b - a).DefaultIfEmpty(0).Max();
            if (screenshot is not null)
            {
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot });
            }

            return new Run(
                probe.GetProperty("fetchMs").GetDouble(), probe.GetProperty("layoutMs").GetDouble(), probe.GetProperty("buildMs").GetDouble(),
                probe.GetProperty("paintMs").GetDouble(), probe.GetProperty("renderMs").GetDouble(),
                tasks.DefaultIfEmpty(0).Max(), tasks.Sum(), click, gaps, frames.Length);
        }
        finally
        {
            await page.CloseAsync();
        }
    }

    private static string Report(List<Run> runs, int workloads, int edges, string url)
    {
        static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted[sorted.Count / 2];
        }

        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Map at size: {workloads:N0} workload nodes in environment boxes, {edges:N0} edges; {url}");
        report.AppendLine(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} CPUs, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}, chromium headless (no GPU)");
        report.AppendLine();
        report.AppendLine("| run | graph API ms | layout (worker) ms | elements added ms | first paint ms | layout → drawn ms | longest main-thread task ms | long tasks, total ms | click → details ms | zoom frames | longest frame gap ms |");
        report.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (var i = 0; i < runs.Count; i++)
        {
            var r = runs[i];
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {i + 1} | {r.FetchMs:F0} | {r.LayoutMs:F0} | {r.BuildMs:F0} | {r.PaintMs:F0} | {r.FirstPaintMs:F0} | {r.LongestTaskMs:F0} | {r.LongTasksMs:F0} | {r.ClickToDetailsMs:F0} | {r.Frames} | {r.LongestFrameGapMs:F0} |");
        }

        report.AppendLine(CultureInfo.InvariantCulture,
            $"| median | {Median(runs.Select(r => r.FetchMs)):F0} | {Median(runs.Select(r => r.LayoutMs)):F0} | {Median(runs.Select(r => r.BuildMs)):F0} | " +
            $"{Median(runs.Select(r => r.PaintMs)):F0} | {Median(runs.Select(r => r.FirstPaintMs)):F0} | {Median(runs.Select(r => r.LongestTaskMs)):F0} | " +
            $"{Median(runs.Select(r => r.LongTasksMs)):F0} | {Median(runs.Select(r => r.ClickToDetailsMs)):F0} | {Median(runs.Select(r => (double)r.Frames)):F0} | {Median(runs.Select(r => r.LongestFrameGapMs)):F0} |");
        return report.ToString();
    }

    private static async Task LoadInChildAsync(string dataPath, int workloads, int edges)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        foreach (var arg in new[] { typeof(MapLayoutHarness).Assembly.Location, "map", "--load-into", dataPath, "--workloads", workloads.ToString(CultureInfo.InvariantCulture), "--edges", edges.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }

        using var child = Process.Start(info) ?? throw new InvalidOperationException("could not start the loader");
        await child.WaitForExitAsync();
        if (child.ExitCode != 0)
        {
            throw new InvalidOperationException($"the loader exited with {child.ExitCode}");
        }
    }

    /// <summary>Workloads and exactly <paramref name="edges"/> distinct edges: a ring through each environment's workloads, then random pairs, about 90 % within an environment.</summary>
    private static async Task LoadAsync(string dataPath, BenchEstate estate, int edges)
    {
        var store = new EmbeddedFlowStore(Options.Create(new StoreOptions { Path = dataPath }), NullLogger<EmbeddedFlowStore>.Instance);
        try
        {
            await store.InitializeAsync(CancellationToken.None);
            await store.UpsertWorkloadsAsync(estate.Workloads, CancellationToken.None);
            var specs = estate.Workloads;
            var index = WorkloadIndex.Build(specs);
            var pairs = new HashSet<(int, int)>();
            foreach (var env in specs.Select((s, i) => (Env: s.Labels["env"], Index: i)).GroupBy(w => w.Env))
            {
                // A ring through each environment's workloads, so every workload is a node.
                var ring = env.Select(w => w.Index).ToList();
                for (var i = 0; i < ring.Count && pairs.Count < edges; i++)
                {
                    pairs.Add((ring[i], ring[(i + 1) % ring.Count]));
                }
            }

            var random = new Random(2026);
            while (pairs.Count < edges)
            {
                var a = random.Next(specs.Count);
                var b = random.Next(specs.Count);
                if (a != b && (random.NextDouble() < 0.05 || specs[a].Labels["env"] == specs[b].Labels["env"]))
                {
                    pairs.Add((a, b));
                }
            }

            var now = DateTimeOffset.UtcNow.AddMinutes(-20).ToUnixTimeMilliseconds();
            var batch = new FlowBatch();
            var n = 0u;
            foreach (var (a, b) in pairs)
            {
                n++;
                Assert(IpAddressKey.TryParse(HostOf(specs[a]).AsSpan(), out var src));
                Assert(IpAddressKey.TryParse(HostOf(specs[b]).AsSpan(), out var dst));
                var start = now + (n % 600_000);
                var srcEnd = index.Lookup(src);
                var dstEnd = index.Lookup(dst);
                batch.Add(new FlowRecord
                {
                    StartMs = start,
                    EndMs = start + 1000,
                    ConnectionId = ConnectionKey.Compute(n, start / 1000, 6, src, dst, 40000, 443),
                    Event = FlowEvent.Destroy,
                    Protocol = 6,
                    SrcIp = src,
                    DstIp = dst,
                    SrcPort = 40000,
                    DstPort = 443,
                    BytesOut = 1000 + (n % 100_000),
                    BytesIn = 5000 + (n % 1_000_000),
                    PacketsOut = 10,
                    PacketsIn = 20,
                    Src = srcEnd,
                    Dst = dstEnd,
                    SourcePartition = 0,
                    SourceOffset = n,
                    Findings = FindingRules.Default.Classify(srcEnd, dstEnd),
                });
            }

            await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        }
        finally
        {
            Visibility.Flows.Store.Chdb.ChdbEngine.Shutdown(TimeSpan.FromSeconds(30));
        }
    }

    private static void Assert(bool condition)
    {
        if (!condition)
        {
            throw new InvalidOperationException("a bench address did not parse");
        }
    }

    /// <summary>A host address inside a workload's first address or prefix.</summary>
    private static string HostOf(WorkloadSpec spec)
    {
        var address = spec.Addresses[0];
        return address.EndsWith("/24", StringComparison.Ordinal) ? address[..^4].TrimEnd('0') + "10" : address;
    }

    /// <summary>The real program, <c>visibility serve</c>, on the prepared store (no ingest traffic).</summary>
    private sealed class Serve : IDisposable
    {
        private readonly Process process;

        private Serve(Process process, int port)
        {
            this.process = process;
            BaseUrl = $"http://127.0.0.1:{port}";
        }

        public string BaseUrl { get; }

        public static Serve Start(string dataPath)
        {
            var dll = typeof(MapLayoutHarness).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "VisibilityDll").Value!;
            var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            var brokerListener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            brokerListener.Start();
            var broker = ((System.Net.IPEndPoint)brokerListener.LocalEndpoint).Port;
            listener.Stop();
            brokerListener.Stop();
            var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add(dll);
            info.ArgumentList.Add("serve");
            info.Environment["Visibility__Store__Path"] = dataPath;
            info.Environment["Visibility__Http__Urls"] = $"http://127.0.0.1:{port}";
            info.Environment["Visibility__Management__Urls"] = "http://127.0.0.1:0";
            info.Environment["Visibility__Kafka__BootstrapServers"] = "";
            info.Environment["Visibility__Kafka__Embedded"] = "true";
            info.Environment["Visibility__Kafka__DevBrokerPort"] = broker.ToString(CultureInfo.InvariantCulture);
            info.Environment["Visibility__Auth__Disabled"] = "true";
            var process = Process.Start(info) ?? throw new InvalidOperationException("could not start visibility");
            process.OutputDataReceived += (_, e) => Show(e.Data);
            process.ErrorDataReceived += (_, e) => Show(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return new Serve(process, port);
        }

        private static readonly System.Collections.Concurrent.ConcurrentQueue<string> Lines = new();

        private static void Show(string? line)
        {
            if (line is not null)
            {
                Lines.Enqueue(line);
            }
        }

        public async Task WaitReadyAsync()
        {
            using var http = new HttpClient { BaseAddress = new Uri(BaseUrl) };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
            while (DateTime.UtcNow < deadline)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"visibility serve exited with {process.ExitCode}:\n{string.Join('\n', Lines.TakeLast(20))}");
                }

                try
                {
                    using var response = await http.GetAsync("/readyz");
                    if (response.IsSuccessStatusCode)
                    {
                        var workloads = await http.GetFromJsonAsync<JsonElement>("/api/v1/workloads");
                        Console.Error.WriteLine($"serve ready with {workloads.GetArrayLength():N0} workloads");
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                }

                await Task.Delay(250);
            }

            throw new TimeoutException("visibility serve was not ready within 120 s");
        }

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }

            process.Dispose();
        }
    }
}
