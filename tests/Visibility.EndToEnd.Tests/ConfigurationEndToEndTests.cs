namespace Visibility.EndToEnd.Tests;

/// <summary>A misspelt configuration key stops the start (exit 2) naming the key and the nearest known key, instead of being ignored.</summary>
public sealed class ConfigurationEndToEndTests : IDisposable
{
    private readonly TempDirectory data = new("config");

    public void Dispose() => data.Dispose();

    [Theory]
    [InlineData("serve", "Visibility__Kafka__BootstrapServer", "127.0.0.1:9092", "Visibility:Kafka:BootstrapServer", "Visibility:Kafka:BootstrapServers")]
    [InlineData("ingest", "Visibility__Kafka__BootstrapServer", "127.0.0.1:9092", "Visibility:Kafka:BootstrapServer", "Visibility:Kafka:BootstrapServers")]
    [InlineData("serve", "Visibility__Export__Sinks__x__Fromat", "json", "Visibility:Export:Sinks:x:Fromat", "Visibility:Export:Sinks:x:Format")]
    [InlineData("verify-store", "Visibility__Store__Pth", "/tmp/x", "Visibility:Store:Pth", "Visibility:Store:Path")]
    public async Task MisspeltKey_StopsTheStart_NamingTheNearestKey(string verb, string variable, string value, string key, string nearest)
    {
        var store = Path.Combine(data.Path, "store");
        var (code, _, stderr) = await VisibilityProcess.RunCommandAsync([verb], new Dictionary<string, string>
        {
            ["Visibility__Store__Path"] = store,
            ["Visibility__Kafka__Embedded"] = "true",
            ["Visibility__Kafka__DevBrokerPort"] = FreePorts.Tcp().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Visibility__Http__Urls"] = $"http://127.0.0.1:{FreePorts.Tcp()}",
            ["Visibility__Auth__Disabled"] = "true",
            [variable] = value,
        });
        Assert.Equal(2, code);
        Assert.Contains($"visibility: unknown configuration key {key} (environment variable {variable}): did you mean {nearest}?", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(store), "the start stopped before the store was opened");
    }

    [Fact]
    public async Task MisspeltKeyInAppsettings_NamesTheFile()
    {
        // The program reads appsettings.json beside itself: a copy of the build output with a misspelt key in it.
        var copy = Path.Combine(data.Path, "app");
        CopyDirectory(Path.GetDirectoryName(VisibilityProcess.DllPath)!, copy);
        var settings = Path.Combine(copy, "appsettings.json");
        await File.WriteAllTextAsync(settings, (await File.ReadAllTextAsync(settings)).Replace("\"GroupId\":", "\"GrupId\":", StringComparison.Ordinal));
        var (code, _, stderr) = await ProcessRunner.RunAsync("dotnet", [Path.Combine(copy, "visibility.dll"), "verify-store"], timeout: TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string> { ["Visibility__Store__Path"] = Path.Combine(data.Path, "store") });
        Assert.Equal(2, code);
        Assert.Contains("unknown configuration key Visibility:Kafka:GrupId (in appsettings.json): did you mean Visibility:Kafka:GroupId?", stderr, StringComparison.Ordinal);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var directory in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(directory.Replace(from, to, StringComparison.Ordinal));
        }

        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, file.Replace(from, to, StringComparison.Ordinal));
        }
    }
}
