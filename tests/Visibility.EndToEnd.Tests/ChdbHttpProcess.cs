using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Visibility.EndToEnd.Tests;

/// <summary>The test ClickHouse HTTP endpoint (chDB behind it) as its own process, logging every request.</summary>
public sealed partial class ChdbHttpProcess : IAsyncDisposable
{
    private readonly ChildProcess process;

    private ChdbHttpProcess(ChildProcess process, int port)
    {
        this.process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>A ClickHouse.Driver connection string naming <paramref name="user"/>, so the request log tells clients apart.</summary>
    public string ConnectionString(string user) => $"Host=127.0.0.1;Port={Port};Username={user}";

    /// <summary>Every line the endpoint printed, its request log among them.</summary>
    public IReadOnlyList<string> Lines => process.Lines;

    public static string DllPath =>
        typeof(ChdbHttpProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ChdbHttpDll").Value!;

    public bool HasExited => process.HasExited;

    /// <summary>
    /// Starts the endpoint on <paramref name="dataPath"/> and waits until it listens: on a free port, or on
    /// <paramref name="port"/> (a store coming back where its clients expect it).
    /// </summary>
    public static async Task<ChdbHttpProcess> StartAsync(string dataPath, TimeSpan timeout, int? port = null)
    {
        port ??= FreePorts.Tcp();
        var info = ChildProcess.Command(["dotnet", DllPath, "--path", dataPath, "--port", port.Value.ToString(CultureInfo.InvariantCulture), "--log"]);
        var endpoint = new ChdbHttpProcess(ChildProcess.Start(info, "the chDB endpoint"), port.Value);
        try
        {
            await endpoint.process.WaitForLineAsync(Listening(), timeout);
        }
        catch
        {
            await endpoint.DisposeAsync();
            throw;
        }

        return endpoint;
    }

    /// <summary>Waits until a line of the endpoint's output satisfies <paramref name="wanted"/> (its request log is written after each answer).</summary>
    public Task WaitForLineAsync(Func<string, bool> wanted, TimeSpan timeout, string what) =>
        process.WaitAsync(() => Task.FromResult(process.Lines.Any(wanted)), static found => found, timeout, what);

    /// <summary>Kills the endpoint without warning (SIGKILL), as a crashed or cut-off server; disposing it afterwards is harmless.</summary>
    public ValueTask KillAsync() => DisposeAsync();

    public ValueTask DisposeAsync() => process.DisposeAsync();

    [GeneratedRegex("listening on")]
    private static partial Regex Listening();
}
