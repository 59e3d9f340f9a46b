using System.Reflection;
using System.Text.RegularExpressions;

namespace Visibility.EndToEnd.Tests;

/// <summary>The visibility program running as a child process on free loopback ports.</summary>
public sealed partial class VisibilityProcess : IAsyncDisposable
{
    private readonly ChildProcess process;

    private VisibilityProcess(ChildProcess process, int httpPort, int brokerPort, int managementPort)
    {
        this.process = process;
        HttpPort = httpPort;
        BrokerPort = brokerPort;
        ManagementPort = managementPort;
        Http = new HttpClient(new OutputOnFailure(process)) { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };
        Management = new HttpClient(new OutputOnFailure(process)) { BaseAddress = new Uri($"http://127.0.0.1:{managementPort}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>The API listener's port; for <c>ingest</c>, which has none, the management port.</summary>
    public int HttpPort { get; }

    /// <summary>The management listener's port (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c> without a key).</summary>
    public int ManagementPort { get; }

    /// <summary>A client of the management listener: never sends a key.</summary>
    public HttpClient Management { get; }

    public int BrokerPort { get; }

    public string Bootstrap => $"127.0.0.1:{BrokerPort}";

    public string BaseUrl => $"http://127.0.0.1:{HttpPort}";

    public HttpClient Http { get; }

    public string Output => process.Output;

    public bool HasExited => process.HasExited;

    public int ExitCode => process.ExitCode;

    public static string DllPath =>
        typeof(VisibilityProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "VisibilityDll").Value!;

    public int Id => process.Id;

    /// <summary>The most memory the process has had resident (VmHWM), in bytes.</summary>
    public long PeakResidentBytes => process.PeakResidentBytes;

    /// <summary>The memory the process has resident now (VmRSS), in bytes.</summary>
    public long ResidentBytes => process.ResidentBytes;

    /// <summary>Runs a short-lived `visibility` command to its end (60 s at most): exit code, standard output and error.</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunCommandAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        ProcessRunner.RunAsync("dotnet", [DllPath, .. args], timeout: TimeSpan.FromSeconds(60), environment: environment);

    /// <summary>
    /// Starts <c>visibility serve</c> (or another <paramref name="command"/>) with its own data directory and ports;
    /// <paramref name="extraUrls"/> are listened on beside the HTTP port (such as an https:// URL).
    /// </summary>
    public static VisibilityProcess Start(string dataPath, IEnumerable<string>? args = null, IReadOnlyDictionary<string, string>? environment = null, string command = "serve", string? extraUrls = null)
    {
        var http = FreePorts.Tcp();
        var broker = FreePorts.Tcp();
        var management = FreePorts.Tcp();
        var info = ChildProcess.Command(["dotnet", DllPath, command, .. args ?? []]);
        info.Environment["Visibility__Store__Path"] = dataPath;
        info.Environment["Visibility__Http__Urls"] = $"http://127.0.0.1:{http}" + (extraUrls is null ? "" : ";" + extraUrls);
        info.Environment["Visibility__Management__Urls"] = $"http://127.0.0.1:{management}";
        info.Environment["Visibility__Kafka__BootstrapServers"] = "";
        info.Environment["Visibility__Kafka__Embedded"] = "true";
        info.Environment["Visibility__Kafka__DevBrokerPort"] = broker.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["Visibility__Ingest__BatchLinger"] = "00:00:00.100";
        // Statistics as fresh as the tests of lag and broker readiness want (30 s by default, which costs less).
        info.Environment["Visibility__Kafka__StatisticsInterval"] = "2s";
        // Tests about other features talk to the API without keys (loopback only); the auth tests turn this off.
        info.Environment["Visibility__Auth__Disabled"] = "true";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        // ingest listens on the management listener only: its Http is that.
        return new VisibilityProcess(ChildProcess.Start(info, "visibility", keepLines: 400), command == "ingest" ? management : http, broker, management);
    }

    /// <summary>
    /// Waits for the admin key serve prints at its first start (or with --demo), and sends it with every request of
    /// <see cref="Http"/> from then on.
    /// </summary>
    public async Task<string> WaitForPrintedKeyAsync(TimeSpan timeout)
    {
        var key = (await process.WaitForLineAsync(PrintedKey(), timeout)).Groups[1].Value;
        Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return key;
    }

    /// <summary>Waits until the management listener's <c>/readyz</c> answers 200, or fails with the process output.</summary>
    public Task WaitReadyAsync(TimeSpan timeout) => process.WaitAsync(ReadyAsync, static ready => ready, timeout, "ready (/readyz 200)");

    /// <summary>
    /// Polls <paramref name="probe"/> until <paramref name="done"/> holds for its value; fails with the output if
    /// the process exits or time runs out.
    /// </summary>
    public Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what, TimeSpan? interval = null) =>
        process.WaitAsync(probe, done, timeout, what, interval);

    /// <summary>Stops the process the way an operator does (SIGTERM) and waits for it to exit.</summary>
    public Task StopAsync() => process.StopAsync(TimeSpan.FromSeconds(40));

    /// <summary>Kills the process without warning (SIGKILL), as a crash or the OOM killer would.</summary>
    public Task KillAsync() => process.KillAsync();

    public Task<int> WaitForExitAsync(TimeSpan timeout) => process.WaitForExitAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await process.DisposeAsync();
        }
        finally
        {
            Http.Dispose();
            Management.Dispose();
        }
    }

    private async Task<bool> ReadyAsync()
    {
        try
        {
            using var response = await Management.GetAsync("/readyz");
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            // Not listening yet.
            return false;
        }
    }

    /// <summary>
    /// A request that cannot reach the program fails with what the program printed last, and whether it is still
    /// running: a connection refused mid-test otherwise says nothing of why (a crash, a listener gone).
    /// </summary>
    private sealed class OutputOnFailure(ChildProcess process) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                return await base.SendAsync(request, cancellationToken);
            }
            catch (HttpRequestException ex)
            {
                var state = process.HasExited ? $"exited with code {process.ExitCode}" : "still running";
                var tail = string.Join('\n', process.Lines.TakeLast(40));
                throw new HttpRequestException($"{request.Method} {request.RequestUri}: {ex.Message} (visibility {state}; its last output:\n{tail})", ex);
            }
        }
    }

    [GeneratedRegex(@"^\s+(vis_[0-9a-f]{12}_[0-9a-f]{64})$")]
    private static partial Regex PrintedKey();
}
