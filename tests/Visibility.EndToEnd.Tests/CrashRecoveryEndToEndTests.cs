using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>Exactly-once effect into the store across crashes of the real program.</summary>
[Collection(FaultTests.Collection)]
public sealed class CrashRecoveryEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ingest_SigkilledAtRandomMomentsWhileRecordsStream_StoresEveryRecordExactlyOnce()
    {
        const int total = 200_000;
        const int kills = 5;
        await using var rig = new IngestRig("crash", partitions: 64);
        using var data = new TempDirectory("visibility-crash");
        var seed = Environment.TickCount;
        var random = new Random(seed);
        output.WriteLine($"seed {seed}");

        // Records stream in for the whole test: 200,000 over about a minute. On a slow machine the last 10,000 wait
        // for the kills, so every kill lands while records are still streaming in.
        var killedWhileStreaming = 0;
        var producing = Task.Run(async () =>
        {
            using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build();
            for (var i = 0; i < total; i += 1_000)
            {
                while (i >= total - 10_000 && Volatile.Read(ref killedWhileStreaming) < kills)
                {
                    await Task.Delay(100);
                }

                rig.Produce(producer, i, 1_000);
                await Task.Delay(300);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        });

        var killed = 0;
        while (killed < kills || !producing.IsCompleted)
        {
            await using var worker = rig.StartIngest(data.Path);
            await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));

            // Somewhere in the middle of storing: after the first batch landed, a random time later.
            var stored = await WaitStoringAsync(worker);
            await Task.Delay(random.Next(0, 2_500));
            var metrics = await worker.Http.GetStringAsync("/metrics");
            var streaming = !producing.IsCompleted;
            await worker.KillAsync();
            killed++;
            if (streaming)
            {
                Interlocked.Increment(ref killedWhileStreaming);
            }
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} kill {killed}: this run stored {IngestRig.Metric(metrics, "visibility_ingest_stored_total")} " +
                $"(first batch after {stored:F1} s), skipped {IngestRig.Metric(metrics, "visibility_ingest_already_stored_total")} records an unacknowledged insert had stored");
        }

        await producing;
        Assert.True(killedWhileStreaming >= kills, $"only {killedWhileStreaming} kills happened while records streamed in");

        await using (var last = rig.StartIngest(data.Path))
        {
            await last.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await rig.WaitCommittedToEndAsync(last, TimeSpan.FromSeconds(180));
            var metrics = await last.Http.GetStringAsync("/metrics");
            output.WriteLine($"last run stored {IngestRig.Metric(metrics, "visibility_ingest_stored_total")}, skipped as already stored {IngestRig.Metric(metrics, "visibility_ingest_already_stored_total")}");
            await last.StopAsync();
        }

        rig.AssertBrokerKeptEverything();
        var (exit, report) = await IngestRig.VerifyStoreAsync(data.Path);
        var high = rig.HighWatermarks();
        foreach (var p in report.GetProperty("partitions").EnumerateArray())
        {
            output.WriteLine($"partition {p.GetProperty("partition").GetInt32()}: rows {p.GetProperty("rows").GetInt64()}, offsets {p.GetProperty("minOffset").GetInt64()}..{p.GetProperty("maxOffset").GetInt64()}, " +
                $"progress {p.GetProperty("progress")}, end {high[p.GetProperty("partition").GetInt32()]}");
        }

        output.WriteLine($"verify-store exit {exit}: rows {report.GetProperty("rows")}, duplicates {report.GetProperty("duplicates")}, beyond progress {report.GetProperty("beyondProgress")}");
        Assert.Equal(total, report.GetProperty("rows").GetInt64());
        Assert.Equal(0, report.GetProperty("duplicates").GetInt64());
        Assert.Equal(0, report.GetProperty("beyondProgress").GetInt64());
        Assert.Equal(0, exit);
        Assert.Equal(high.Sum(), report.GetProperty("partitions").EnumerateArray().Sum(p => p.GetProperty("distinctOffsets").GetInt64()));
    }

    /// <summary>Waits for the worker's first stored batch; returns the seconds that took.</summary>
    private static async Task<double> WaitStoringAsync(VisibilityProcess worker)
    {
        var started = DateTime.UtcNow;
        await worker.WaitAsync(
            async () => IngestRig.Metric(await worker.Http.GetStringAsync("/metrics"), "visibility_ingest_batches_total"), batches => batches > 0,
            TimeSpan.FromSeconds(60), "a first stored batch", TimeSpan.FromMilliseconds(50));
        return (DateTime.UtcNow - started).TotalSeconds;
    }
}
