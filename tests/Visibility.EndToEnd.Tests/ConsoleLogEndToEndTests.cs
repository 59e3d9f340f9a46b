using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The console log of the built program, in a time zone five and a half hours from UTC: the JSON format
/// (<c>Logging__Console__FormatterName=json</c>) writes one JSON object per line, the default text format one line per
/// entry, and both stamp each entry with UTC.
/// </summary>
public sealed partial class ConsoleLogEndToEndTests : IDisposable
{
    private const string StoreCategory = "Visibility.Flows.Store.EmbeddedFlowStore";
    private const string StoreReady = "Embedded store ready at ";
    private readonly TempDirectory data = new("visibility-console-log");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task Serve_JsonFormat_EachLineAJsonObject_TimestampUtc()
    {
        await using var serve = VisibilityProcess.Start(Path.Combine(data.Path, "store"), environment: new Dictionary<string, string>
        {
            ["Logging__Console__FormatterName"] = "json",
            ["TZ"] = "Asia/Kolkata",
        });
        var line = await serve.WaitAsync(
            () => Task.FromResult(Lines(serve.Output).FirstOrDefault(l => l.StartsWith('{') && l.Contains(StoreReady, StringComparison.Ordinal))),
            l => l is not null, TimeSpan.FromSeconds(60), "the store's start logged as JSON");

        using var entry = JsonDocument.Parse(line!);
        var root = entry.RootElement;
        Assert.Equal(StoreCategory, root.GetProperty("Category").GetString());
        Assert.Equal("Information", root.GetProperty("LogLevel").GetString());
        Assert.StartsWith(StoreReady, root.GetProperty("Message").GetString(), StringComparison.Ordinal);
        var timestamp = root.GetProperty("Timestamp").GetString()!;
        Assert.Matches(UtcTimestamp(), timestamp);
        AssertNow(timestamp);

        // Every entry is JSON, the program's own and ASP.NET Core's alike.
        await serve.WaitReadyAsync(TimeSpan.FromSeconds(60));
        var entries = Lines(serve.Output).Where(l => l.StartsWith('{')).ToList();
        Assert.Contains(entries, l => l.Contains("\"Category\":\"Microsoft.Hosting.Lifetime\"", StringComparison.Ordinal));
        Assert.All(entries, l => Assert.Matches(UtcTimestamp(), JsonDocument.Parse(l).RootElement.GetProperty("Timestamp").GetString()!));
    }

    [Fact]
    public async Task Serve_TextFormat_OneLinePerEntry_TimestampUtc()
    {
        await using var serve = VisibilityProcess.Start(Path.Combine(data.Path, "store"), environment: new Dictionary<string, string> { ["TZ"] = "Asia/Kolkata" });
        var line = await serve.WaitAsync(
            () => Task.FromResult(Lines(serve.Output).FirstOrDefault(l => l.Contains(StoreReady, StringComparison.Ordinal))),
            l => l is not null, TimeSpan.FromSeconds(60), "the store's start logged");

        var match = TextLine().Match(line!);
        Assert.True(match.Success, $"not a timestamped text log line: {line}");
        Assert.Equal(StoreCategory, match.Groups["category"].Value);
        AssertNow(match.Groups["time"].Value);
    }

    /// <summary>The timestamp is the current UTC time (the process's local time is 5:30 hours ahead).</summary>
    private static void AssertNow(string timestamp)
    {
        var at = DateTimeOffset.ParseExact(timestamp, "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.InRange(at, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    private static IEnumerable<string> Lines(string output) => output.Split('\n').Select(l => l.TrimEnd('\r'));

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex UtcTimestamp();

    [GeneratedRegex(@"^(?<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) info: (?<category>[\w.]+)\[0\] Embedded store ready at ")]
    private static partial Regex TextLine();
}
