using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Debian's <c>prometheus</c> on a free loopback port, with a generated configuration that scrapes one target every
/// second, and its HTTP API's instant queries.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly ChildProcess process;
    private readonly HttpClient http;

    private PrometheusServer(ChildProcess process, int port)
    {
        this.process = process;
        http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Starts Prometheus in <paramref name="directory"/> scraping <c>127.0.0.1:<paramref name="targetPort"/>/metrics</c> as job <c>visibility</c>.</summary>
    public static async Task<PrometheusServer> StartAsync(string directory, int targetPort, ITestOutputHelper log)
    {
        var binary = new[] { "/usr/bin/prometheus", "/usr/local/bin/prometheus" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("prometheus is not installed: run infra/setup/install-deps.sh (Debian's prometheus package)");
        var config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: visibility
                metrics_path: /metrics
                static_configs:
                  - targets: ["127.0.0.1:{targetPort.ToString(CultureInfo.InvariantCulture)}"]
            """);
        var (check, checkOut, checkErr) = await ProcessRunner.RunAsync("promtool", ["check", "config", config]);
        Assert.True(check == 0, $"promtool check config: {checkOut}{checkErr}");

        var port = FreePorts.Tcp();
        var info = ChildProcess.Command([binary, $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "tsdb")}",
            $"--web.listen-address=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", "--log.level=warn"]);
        var server = new PrometheusServer(ChildProcess.Start(info, "prometheus", keepLines: 200), port);
        try
        {
            await server.process.WaitAsync(server.ReadyAsync, static ready => ready, TimeSpan.FromSeconds(60), "prometheus ready (/-/ready 200)");
        }
        catch
        {
            log.WriteLine(server.process.Output);
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>Runs <paramref name="query"/> until its result satisfies <paramref name="done"/> (60 s), and returns it.</summary>
    public Task<IReadOnlyList<Sample>> WaitForAsync(string query, Func<IReadOnlyList<Sample>, bool> done) =>
        process.WaitAsync(() => QueryAsync(query), done, TimeSpan.FromSeconds(60), $"Prometheus query {query}", TimeSpan.FromMilliseconds(500));

    /// <summary>
    /// Waits until Prometheus holds a series of each of <paramref name="names"/> (a histogram's as <c>_bucket</c>), and
    /// returns every metric name it holds; fails naming those still missing.
    /// </summary>
    public async Task<IReadOnlySet<string>> WaitForNamesAsync(IReadOnlyList<string> names)
    {
        IReadOnlyList<string> Missing(IReadOnlySet<string> held) => [.. names.Where(n => !held.Contains(n) && !held.Contains(n + "_bucket"))];
        var held = await Eventually.LastAsync(
            async () => (IReadOnlySet<string>)(await http.GetFromJsonAsync<JsonElement>("/api/v1/label/__name__/values"))
                .GetProperty("data").EnumerateArray().Select(n => n.GetString()!).ToHashSet(StringComparer.Ordinal),
            held => Missing(held).Count == 0, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(500));
        Assert.True(Missing(held).Count == 0, $"documented and not in Prometheus: {string.Join(", ", Missing(held))}");
        return held;
    }

    /// <summary>An instant query through <c>/api/v1/query</c>: one sample per series.</summary>
    public async Task<IReadOnlyList<Sample>> QueryAsync(string query)
    {
        var answer = await http.GetFromJsonAsync<JsonElement>($"/api/v1/query?query={Uri.EscapeDataString(query)}");
        Assert.Equal("success", answer.GetProperty("status").GetString());
        return [.. answer.GetProperty("data").GetProperty("result").EnumerateArray().Select(r => new Sample(
            r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal),
            double.Parse(r.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture)))];
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await process.DisposeAsync();
    }

    private async Task<bool> ReadyAsync()
    {
        try
        {
            using var response = await http.GetAsync("/-/ready");
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>One series of a query's result: its labels and value.</summary>
    public sealed record Sample(IReadOnlyDictionary<string, string> Labels, double Value)
    {
        public override string ToString() => $"{{{string.Join(',', Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {Value}";
    }
}
