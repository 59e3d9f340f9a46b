using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Two `visibility ingest` processes in one consumer group share one store (server transport, through the test
/// ClickHouse HTTP endpoint backed by chDB); one is killed mid-stream and the other takes its partitions over.
/// </summary>
[Collection(FaultTests.Collection)]
public sealed class ScaleOutEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TwoIngestProcesses_OneKilledMidStream_OtherTakesOverAndEveryRecordIsStoredOnce()
    {
        const int total = 100_000;
        using var data = new TempDirectory("visibility-scale");
        await using var endpoint = await ChdbHttpProcess.StartAsync(Path.Combine(data.Path, "store"), TimeSpan.FromSeconds(60));
        await using var rig = new IngestRig("scale", partitions: 64);
        Dictionary<string, string> Environment(string user) => new(rig.Environment())
        {
            ["Visibility__Store__Mode"] = "server",
            ["Visibility__Store__ConnectionString"] = endpoint.ConnectionString(user),
            ["Visibility__Store__Database"] = "scale_out",
            ["Visibility__Store__MigrateOnStart"] = "true",
        };

        await using var a = VisibilityProcess.Start(Path.Combine(data.Path, "a"), environment: Environment("a"), command: "ingest");
        await using var b = VisibilityProcess.Start(Path.Combine(data.Path, "b"), environment: Environment("b"), command: "ingest");
        await a.WaitReadyAsync(TimeSpan.FromSeconds(60));
        await b.WaitReadyAsync(TimeSpan.FromSeconds(60));

        var producing = Task.Run(async () =>
        {
            using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build();
            for (var i = 0; i < total; i += 1_000)
            {
                rig.Produce(producer, i, 1_000);
                await Task.Delay(250);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        });

        // Both share the partitions and store; then one dies mid-stream.
        await Eventually.TrueAsync(async () => await Stored(a) > 0 && await Stored(b) > 0, TimeSpan.FromSeconds(90), "both workers storing", interval: TimeSpan.FromMilliseconds(100));
        var storedByA = await Stored(a);
        await a.KillAsync();
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} killed A after it stored {storedByA}; B had stored {await Stored(b)}");
        Assert.False(producing.IsCompleted, "records should still be streaming when A is killed");
        await producing;

        await rig.WaitCommittedToEndAsync(b, TimeSpan.FromSeconds(180));
        var metrics = await b.Http.GetStringAsync("/metrics");
        output.WriteLine($"B stored {IngestRig.Metric(metrics, "visibility_ingest_stored_total")}, assignments {IngestRig.Metric(metrics, "visibility_ingest_assignments_total")}, " +
            $"skipped {IngestRig.Metric(metrics, "visibility_ingest_already_stored_total")} records of A's unacknowledged inserts");
        Assert.True(IngestRig.Metric(metrics, "visibility_ingest_assignments_total") >= 2, "B was never given A's partitions");
        await b.StopAsync();
        Assert.Equal(0, b.ExitCode);

        rig.AssertBrokerKeptEverything();
        var (exit, report) = await IngestRig.VerifyStoreAsync(Path.Combine(data.Path, "verify"), Environment("verify"));
        output.WriteLine($"verify-store exit {exit}: rows {report.GetProperty("rows")}, duplicates {report.GetProperty("duplicates")}, beyond progress {report.GetProperty("beyondProgress")}");
        Assert.Equal(total, report.GetProperty("rows").GetInt64());
        Assert.Equal(0, report.GetProperty("duplicates").GetInt64());
        Assert.Equal(0, report.GetProperty("beyondProgress").GetInt64());
        Assert.Equal(0, exit);
    }

    private static async Task<long> Stored(VisibilityProcess worker) =>
        IngestRig.Metric(await worker.Http.GetStringAsync("/metrics"), "visibility_ingest_stored_total");
}
