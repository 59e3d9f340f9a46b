using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace Visibility.EndToEnd.Tests;

/// <summary>The test ClickHouse HTTP endpoint (chDB behind it) as its own process, logging every request.</summary>
public sealed class ChdbHttpProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly ConcurrentQueue<string> output = new();
    private readonly TaskCompletionSource listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChdbHttpProcess(Process process, int port)
    {
        this.process = process;
        Port = port;
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; }

    /// <summary>A ClickHouse.Driver connection string naming <paramref name="user"/>, so the request log tells clients apart.</summary>
    public string ConnectionString(string user) => $"Host=127.0.0.1;Port={Port};Username={user}";

    public IReadOnlyList<string> Lines => [.. output];

    public static string DllPath =>
        typeof(ChdbHttpProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ChdbHttpDll").Value!;

    public bool HasExited => process.HasExited;

    /// <summary>
    /// Starts the endpoint on <paramref name="dataPath"/> and waits until it listens: on a free port, or on
    /// <paramref name="port"/> (a store coming back where its clients expect it).
    /// </summary>
    public static async Task<ChdbHttpProcess> StartAsync(string dataPath, TimeSpan timeout, int? port = null)
    {
        port ??= VisibilityProcess.FreePort();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { DllPath, "--path", dataPath, "--port", port.Value.ToString(CultureInfo.InvariantCulture), "--log" })
        {
            info.ArgumentList.Add(arg);
        }

        var endpoint = new ChdbHttpProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start the endpoint"), port.Value);
        try
        {
            await endpoint.listening.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            await endpoint.DisposeAsync();
            throw new TimeoutException($"the endpoint did not listen within {timeout}:\n{string.Join('\n', endpoint.Lines)}");
        }

        return endpoint;
    }

    /// <summary>Kills the endpoint without warning (SIGKILL), as a crashed or cut-off server; disposing it afterwards is harmless.</summary>
    public ValueTask KillAsync() => DisposeAsync();

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        output.Enqueue(line);
        if (line.Contains("listening on", StringComparison.Ordinal))
        {
            listening.TrySetResult();
        }
    }
}
