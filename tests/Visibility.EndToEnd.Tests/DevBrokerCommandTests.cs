using System.Globalization;
using System.Text.RegularExpressions;

namespace Visibility.EndToEnd.Tests;

/// <summary><c>visibility dev-broker</c> runs the development broker as its own process until stopped.</summary>
public sealed class DevBrokerCommandTests
{
    [Fact]
    public async Task DevBrokerCommand_ServesTopicWithChosenPartitions_UntilStopped()
    {
        var port = FreePorts.Tcp();
        await using var broker = ChildProcess.Start(
            ChildProcess.Command(["dotnet", VisibilityProcess.DllPath, "dev-broker", "--port", port.ToString(CultureInfo.InvariantCulture), "--topic", "cmd-topic", "--partitions", "5"]),
            "dev-broker");
        await broker.WaitForLineAsync(new Regex($"listening on {Regex.Escape($"127.0.0.1:{port}")}"), TimeSpan.FromSeconds(60));

        var (exitCode, listing, stderr) = await ProcessRunner.RunAsync("kcat", ["-b", $"127.0.0.1:{port}", "-L", "-t", "cmd-topic"], timeout: TimeSpan.FromSeconds(30));
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("topic \"cmd-topic\" with 5 partitions", listing, StringComparison.Ordinal);

        await broker.StopAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, broker.ExitCode);
    }

    [Fact]
    public async Task UnknownCommand_ExitsWithUsage()
    {
        var (exitCode, _, stderr) = await VisibilityProcess.RunCommandAsync(["frobnicate"]);
        Assert.Equal(2, exitCode);
        Assert.Contains("unknown command 'frobnicate'", stderr, StringComparison.Ordinal);
        Assert.Contains("dev-broker", stderr, StringComparison.Ordinal);
    }
}
