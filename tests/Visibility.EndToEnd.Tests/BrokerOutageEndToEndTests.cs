using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Issue 9's first fault: the Kafka broker goes down for 30 s while records stream in (librdkafka's mock cluster,
/// fault injection) and comes back. The `visibility ingest` worker keeps running through the outage, and afterwards
/// every record the broker holds is stored exactly once.
/// </summary>
[Collection(FaultTests.Collection)]
public sealed class BrokerOutageEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task BrokerDownFor30Seconds_MidStream_NothingLostNothingDuplicated()
    {
        const int total = 60_000;
        await using var rig = new IngestRig("outage", partitions: 8);
        using var data = new TempDirectory("visibility-outage");
        await using var worker = rig.StartIngest(data.Path);
        await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));

        var produced = 0;
        var producing = Task.Run(async () =>
        {
            using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5, EnableIdempotence = true }).Build();
            // 600 records every half second: about 50 s of traffic, so it goes on before, during and after the outage.
            for (var i = 0; i < total; i += 600)
            {
                rig.Produce(producer, i, 600);
                Volatile.Write(ref produced, i + 600);
                await Task.Delay(500);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(120)));
        });

        // The outage starts once the worker has stored records, with more on their way.
        await worker.WaitAsync(async () => IngestRig.Metric(await worker.Http.GetStringAsync("/metrics"), "visibility_ingest_stored_total"), stored => stored > 0, TimeSpan.FromSeconds(90), "a first stored batch");
        var before = IngestRig.Metric(await worker.Http.GetStringAsync("/metrics"), "visibility_ingest_stored_total");
        rig.SetBrokerAvailable(false);
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} broker down; stored {before}, produced {Volatile.Read(ref produced)}");
        await Task.Delay(TimeSpan.FromSeconds(30));
        Assert.False(worker.HasExited, $"the worker exited during the outage:\n{worker.Output}");
        rig.SetBrokerAvailable(true);
        var during = IngestRig.Metric(await worker.Http.GetStringAsync("/metrics"), "visibility_ingest_stored_total");
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss} broker up; stored {during}, produced {Volatile.Read(ref produced)}");
        Assert.True(Volatile.Read(ref produced) < total, "the traffic ended before the broker came back: not mid-stream");
        Assert.True(during < total, "everything was stored before the outage ended: not mid-stream");

        await producing;
        await rig.WaitCommittedToEndAsync(worker, TimeSpan.FromSeconds(180));
        await worker.StopAsync();
        Assert.Equal(0, worker.ExitCode);

        rig.AssertBrokerKeptEverything();
        var (exit, report) = await IngestRig.VerifyStoreAsync(data.Path);
        var high = rig.HighWatermarks();
        output.WriteLine($"verify-store exit {exit}: rows {report.GetProperty("rows")} (broker holds {high.Sum()}), duplicates {report.GetProperty("duplicates")}, beyond progress {report.GetProperty("beyondProgress")}");
        Assert.Equal(total, high.Sum());
        Assert.Equal(total, report.GetProperty("rows").GetInt64());
        Assert.Equal(0, report.GetProperty("duplicates").GetInt64());
        Assert.Equal(0, report.GetProperty("beyondProgress").GetInt64());
        Assert.Equal(0, exit);
    }
}
