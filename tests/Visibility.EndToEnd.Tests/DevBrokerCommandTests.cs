using System.Diagnostics;

namespace Visibility.EndToEnd.Tests;

/// <summary><c>visibility dev-broker</c> runs the development broker as its own process until stopped.</summary>
public sealed class DevBrokerCommandTests
{
    [Fact]
    public async Task DevBrokerCommand_ServesTopicWithChosenPartitions_UntilStopped()
    {
        var port = VisibilityProcess.FreePort();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { VisibilityProcess.DllPath, "dev-broker", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--topic", "cmd-topic", "--partitions", "5" })
        {
            info.ArgumentList.Add(arg);
        }

        using var broker = Process.Start(info)!;
        try
        {
            var banner = await broker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Contains($"listening on 127.0.0.1:{port}", banner, StringComparison.Ordinal);

            var kcat = new ProcessStartInfo("kcat") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { "-b", $"127.0.0.1:{port}", "-L", "-t", "cmd-topic" })
            {
                kcat.ArgumentList.Add(arg);
            }

            using var list = Process.Start(kcat)!;
            var listing = await list.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await list.WaitForExitAsync();
            Assert.Equal(0, list.ExitCode);
            Assert.Contains("topic \"cmd-topic\" with 5 partitions", listing, StringComparison.Ordinal);

            using (var term = Process.Start("kill", ["-TERM", broker.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await broker.WaitForExitAsync(cts.Token);
            Assert.Equal(0, broker.ExitCode);
        }
        finally
        {
            if (!broker.HasExited)
            {
                broker.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task UnknownCommand_ExitsWithUsage()
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(VisibilityProcess.DllPath);
        info.ArgumentList.Add("frobnicate");
        using var process = Process.Start(info)!;
        var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync();
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("unknown command 'frobnicate'", stderr, StringComparison.Ordinal);
        Assert.Contains("dev-broker", stderr, StringComparison.Ordinal);
    }
}
