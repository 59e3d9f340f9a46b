using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Issue 18, item 6: falling off the log is never silent. The development broker keeps 5 MiB per partition; while
/// the worker is stopped, more than that arrives, so retention deletes records the group never read. At its next
/// start the worker says which, as an error per partition, and counts them.
/// </summary>
[Collection(FaultTests.Collection)]
public sealed class LogRetentionLossEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ConsumerStoppedWhileRetentionDeletesUnreadRecords_ErrorNamesRangeAndMetricCountsThem()
    {
        const int partitions = 2;
        const int before = 2_000;
        await using var rig = new IngestRig("loss", partitions);
        using var data = new TempDirectory("visibility-loss");
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build();

        await using (var first = rig.StartIngest(data.Path))
        {
            await first.WaitReadyAsync(TimeSpan.FromSeconds(60));
            rig.Produce(producer, 0, before);
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
            await rig.WaitCommittedToEndAsync(first, TimeSpan.FromSeconds(120));
            await first.StopAsync();
            Assert.Equal(0, first.ExitCode);
        }

        // Well over 5 MiB per partition (a record is about 500 bytes) while no consumer reads.
        var read = rig.HighWatermarks();
        rig.Produce(producer, before, 50_000);
        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
        var low = rig.LowWatermarks();
        var high = rig.HighWatermarks();
        output.WriteLine($"read up to {string.Join(",", read)}; log now {string.Join(",", low.Zip(high, (l, h) => $"{l}..{h}"))}");
        Assert.All(Enumerable.Range(0, partitions), p => Assert.True(low[p] > read[p], $"partition {p}: retention deleted nothing unread ({low[p]} <= {read[p]})"));
        var expected = Enumerable.Range(0, partitions).Sum(p => low[p] - read[p]);

        await using var second = rig.StartIngest(data.Path);
        await second.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await rig.WaitCommittedToEndAsync(second, TimeSpan.FromSeconds(180));
        var metrics = await second.Http.GetStringAsync("/metrics");
        output.WriteLine(string.Join('\n', metrics.Split('\n').Where(l => l.Contains("records_lost", StringComparison.Ordinal))));
        Assert.Equal(expected, IngestRig.Metric(metrics, "visibility_ingest_records_lost_total"));
        for (var p = 0; p < partitions; p++)
        {
            Assert.Contains($"visibility_ingest_records_lost_total{{partition=\"{p}\",topic=\"{rig.Topic}\"}} {low[p] - read[p]}", metrics, StringComparison.Ordinal);
            Assert.Contains($"{rig.Topic}/{p}: {low[p] - read[p]} records lost, offsets {read[p]}..{low[p] - 1}", second.Output, StringComparison.Ordinal);
        }

        Assert.Contains("fail:", second.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Offset out of range", second.Output, StringComparison.OrdinalIgnoreCase);
        await second.StopAsync();

        // Everything the broker still held was stored: what was read before, and the log from its new start.
        var (exit, report) = await IngestRig.VerifyStoreAsync(data.Path);
        Assert.Equal(0, exit);
        Assert.Equal(before + Enumerable.Range(0, partitions).Sum(p => high[p] - low[p]), report.GetProperty("rows").GetInt64());
    }
}
