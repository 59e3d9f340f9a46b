namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Issue 18, item 8: restarting <c>serve --demo</c> on an existing store. The development broker in the process
/// starts empty, while the store keeps its progress on the previous run's log: the program says so in one line
/// (instead of a client warning per partition about offsets out of range) and counts nothing as lost.
/// </summary>
public sealed class DemoRestartEndToEndTests
{
    [Fact]
    public async Task ServeDemo_RestartedOnExistingStore_ExplainsTheNewLogAndLosesNothing()
    {
        using var data = new TempDirectory("visibility-demo-restart");
        var environment = new Dictionary<string, string> { ["Visibility__Kafka__Embedded"] = "true" };
        await using (var first = VisibilityProcess.Start(data.Path, ["--demo"], environment))
        {
            await first.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await WaitStoredAsync(first, 200);
            await first.StopAsync();
            Assert.Equal(0, first.ExitCode);
        }

        await using var second = VisibilityProcess.Start(data.Path, ["--demo"], environment);
        await second.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await WaitStoredAsync(second, 200);
        var metrics = await second.Http.GetStringAsync("/metrics");
        Assert.Equal(0, IngestRig.Metric(metrics, "visibility_ingest_records_lost_total"));
        Assert.Contains("belongs to the log of an earlier run, whose records are stored", second.Output, StringComparison.Ordinal);
        Assert.Contains("nothing was lost", second.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Offset out of range", second.Output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("records lost", second.Output, StringComparison.Ordinal);
        await second.StopAsync();
    }

    private static Task WaitStoredAsync(VisibilityProcess serve, long records) =>
        serve.WaitAsync(
            async () => IngestRig.Metric(await serve.Http.GetStringAsync("/metrics"), "visibility_ingest_stored_total"),
            stored => stored >= records, TimeSpan.FromSeconds(90), $"{records} records stored");
}
