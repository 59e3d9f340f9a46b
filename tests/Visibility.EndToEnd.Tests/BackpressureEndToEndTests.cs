using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>Under a backlog, ingest memory stays bounded: consumption slows instead of buffering.</summary>
[Collection(FaultTests.Collection)]
public sealed class BackpressureEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ingest_TenfoldBacklog_PeakMemoryStaysWithinOneAndAHalfTimesSteadyState()
    {
        const int steadyRecords = 30_000;

        // Steady state: records arrive about as fast as they are stored (5,000/s).
        long steadyPeak;
        await using (var rig = new IngestRig("steady", partitions: 64))
        using (var data = new TempDirectory("visibility-steady"))
        await using (var worker = rig.StartIngest(data.Path))
        {
            await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));
            using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build())
            {
                for (var i = 0; i < steadyRecords; i += 500)
                {
                    rig.Produce(producer, i, 500);
                    await Task.Delay(100);
                }

                Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
            }

            await rig.WaitCommittedToEndAsync(worker, TimeSpan.FromSeconds(120));
            steadyPeak = worker.PeakResidentBytes;
            await worker.StopAsync();
        }

        // A backlog ten times that size is waiting when the worker starts.
        long backlogPeak;
        await using (var rig = new IngestRig("backlog", partitions: 64))
        using (var data = new TempDirectory("visibility-backlog"))
        {
            using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build())
            {
                rig.Produce(producer, 0, steadyRecords * 10);
                Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
            }

            rig.AssertBrokerKeptEverything();
            await using var worker = rig.StartIngest(data.Path);
            await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));
            await rig.WaitCommittedToEndAsync(worker, TimeSpan.FromSeconds(240));
            backlogPeak = worker.PeakResidentBytes;
            await worker.StopAsync();
            var (exit, report) = await IngestRig.VerifyStoreAsync(data.Path);
            Assert.Equal(0, exit);
            Assert.Equal(steadyRecords * 10, report.GetProperty("rows").GetInt64());
        }

        output.WriteLine($"peak resident memory: steady {steadyPeak / 1048576} MiB, 10x backlog {backlogPeak / 1048576} MiB, ratio {(double)backlogPeak / steadyPeak:F2}");
        Assert.True(backlogPeak <= steadyPeak * 1.5,
            $"peak memory with a 10x backlog {backlogPeak / 1048576} MiB exceeds 1.5x the steady state's {steadyPeak / 1048576} MiB");
    }
}
