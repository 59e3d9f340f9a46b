using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Visibility.EndToEnd.Tests;

/// <summary>The visibility program running as a child process on free loopback ports.</summary>
public sealed class VisibilityProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly ConcurrentQueue<string> output = new();

    private VisibilityProcess(Process process, int httpPort, int brokerPort)
    {
        this.process = process;
        HttpPort = httpPort;
        BrokerPort = brokerPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(30) };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int HttpPort { get; }

    public int BrokerPort { get; }

    public string Bootstrap => $"127.0.0.1:{BrokerPort}";

    public string BaseUrl => $"http://127.0.0.1:{HttpPort}";

    public HttpClient Http { get; }

    public string Output => string.Join('\n', output);

    public bool HasExited => process.HasExited;

    public int ExitCode => process.ExitCode;

    public static string DllPath =>
        typeof(VisibilityProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "VisibilityDll").Value!;

    /// <summary>Runs a short-lived `visibility` command to its end (60 s at most): exit code, standard output and error.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunCommandAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public int Id => process.Id;

    /// <summary>The most memory the process has had resident (VmHWM), in bytes.</summary>
    public long PeakResidentBytes
    {
        get
        {
            var line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }

    /// <summary>The memory the process has resident now (VmRSS), in bytes.</summary>
    public long ResidentBytes
    {
        get
        {
            var line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }

    /// <summary>
    /// Starts <c>visibility serve</c> (or another <paramref name="command"/>) with its own data directory and ports;
    /// <paramref name="extraUrls"/> are listened on beside the HTTP port (such as an https:// URL).
    /// </summary>
    public static VisibilityProcess Start(string dataPath, IEnumerable<string>? args = null, IReadOnlyDictionary<string, string>? environment = null, string command = "serve", string? extraUrls = null)
    {
        var http = FreePort();
        var broker = FreePort();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(DllPath);
        info.ArgumentList.Add(command);
        foreach (var arg in args ?? [])
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["Visibility__Store__Path"] = dataPath;
        info.Environment["Visibility__Http__Urls"] = $"http://127.0.0.1:{http}" + (extraUrls is null ? "" : ";" + extraUrls);
        info.Environment["Visibility__Kafka__BootstrapServers"] = "";
        info.Environment["Visibility__Kafka__DevBrokerPort"] = broker.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["Visibility__Ingest__BatchLinger"] = "00:00:00.100";
        // Tests about other features talk to the API without keys (loopback only); the auth tests turn this off.
        info.Environment["Visibility__Auth__Disabled"] = "true";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start visibility");
        return new VisibilityProcess(process, http, broker);
    }

    /// <summary>
    /// Waits for the admin key serve prints at its first start (or with --demo), and sends it with every request of
    /// <see cref="Http"/> from then on.
    /// </summary>
    public async Task<string> WaitForPrintedKeyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var match = System.Text.RegularExpressions.Regex.Match(Output, @"^\s+(vis_[0-9a-f]{12}_[0-9a-f]{64})$", System.Text.RegularExpressions.RegexOptions.Multiline);
            if (match.Success)
            {
                Http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", match.Groups[1].Value);
                return match.Groups[1].Value;
            }

            if (process.HasExited)
            {
                throw new InvalidOperationException($"visibility exited with {process.ExitCode}:\n{Output}");
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"visibility printed no key within {timeout}:\n{Output}");
    }

    /// <summary>Waits until <c>/readyz</c> answers 200, or fails with the process output.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"visibility exited with {process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await Http.GetAsync("/readyz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"visibility was not ready within {timeout}:\n{Output}");
    }

    /// <summary>Stops the process the way an operator does (SIGTERM) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await process.WaitForExitAsync(cts.Token);
    }

    /// <summary>Kills the process without warning (SIGKILL), as a crash or the OOM killer would.</summary>
    public async Task KillAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        process.WaitForExit();
        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        finally
        {
            Http.Dispose();
            process.Dispose();
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        output.Enqueue(line);
        while (output.Count > 400)
        {
            output.TryDequeue(out _);
        }
    }
}
