using System.Net;
using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Issue 9's store fault, server transport: the ClickHouse endpoint (the test one, chDB behind it, its own process)
/// is killed while records stream in and comes back 30 s later on the same port and data. The `visibility ingest`
/// worker keeps running: it stops reading once the records it holds reach the bound its configuration sets, says so
/// in its log, metrics and readiness, retries with backoff, and afterwards every record is stored exactly once.
/// </summary>
[Collection(FaultTests.Collection)]
public sealed class StoreOutageEndToEndTests(ITestOutputHelper output)
{
    private const int BatchSize = FaultTests.BatchSize;
    private const int QueueDepth = FaultTests.QueueDepth;
    private const int HeldBound = FaultTests.HeldBound;

    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task StoreKilledFor30Seconds_MidStream_IngestPausesWithinItsBoundAndStoresEveryRecordOnce()
    {
        const int total = 120_000;
        using var data = new TempDirectory("visibility-store-outage");
        var storePath = Path.Combine(data.Path, "store");
        await using var rig = new IngestRig("store-outage", partitions: 32);
        var endpoint = await ChdbHttpProcess.StartAsync(storePath, TimeSpan.FromSeconds(60));
        try
        {
            Dictionary<string, string> Environment(string user) => FaultTests.WithIngestSettings(new(rig.Environment())
            {
                ["Visibility__Store__Mode"] = "server",
                ["Visibility__Store__ConnectionString"] = endpoint.ConnectionString(user),
                ["Visibility__Store__Database"] = "store_outage",
                ["Visibility__Store__MigrateOnStart"] = "true",
                ["Visibility__Ingest__PrefetchKilobytes"] = "1024",

                // Batches close when full, not by time, so what the worker holds can reach its bound.
                ["Visibility__Ingest__BatchLinger"] = "00:00:05",
            });

            await using var worker = VisibilityProcess.Start(Path.Combine(data.Path, "worker"), environment: Environment("worker"), command: "ingest");
            await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));

            // 1,000 records every half second, about a minute of traffic: before, during and after the outage.
            var produced = 0;
            var producing = Task.Run(async () =>
            {
                using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build();
                for (var i = 0; i < total; i += 1_000)
                {
                    rig.Produce(producer, i, 1_000);
                    Volatile.Write(ref produced, i + 1_000);
                    await Task.Delay(500);
                }

                Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
            });

            await worker.WaitAsync(() => Sample.TakeAsync(worker), sample => sample.Stored >= 10_000, TimeSpan.FromSeconds(90), "10,000 records stored");
            var before = await Sample.TakeAsync(worker);
            await endpoint.KillAsync();
            var killed = DateTime.UtcNow;
            var producedAtKill = Volatile.Read(ref produced);
            output.WriteLine($"{killed:HH:mm:ss.fff} store killed; {before}; produced {producedAtKill}");

            // Through the outage, twice a second: what the worker holds, reads, stores, and says about it.
            var samples = new List<(TimeSpan At, Sample Sample)>();
            long committedEarly = -1;
            while (DateTime.UtcNow - killed < Outage)
            {
                Assert.False(worker.HasExited, $"the worker exited during the outage:\n{worker.Output}");
                var sample = await Sample.TakeAsync(worker);
                samples.Add((DateTime.UtcNow - killed, sample));
                if (committedEarly < 0 && DateTime.UtcNow - killed > TimeSpan.FromSeconds(2))
                {
                    committedEarly = rig.CommittedTotal();
                }

                await Task.Delay(500);
            }

            var last = await Sample.TakeAsync(worker);
            var committedLate = rig.CommittedTotal();
            var producedDuring = Volatile.Read(ref produced) - producedAtKill;
            endpoint = await ChdbHttpProcess.StartAsync(storePath, TimeSpan.FromSeconds(60), endpoint.Port);
            var restarted = DateTime.UtcNow;
            output.WriteLine($"{restarted:HH:mm:ss.fff} store back after {(restarted - killed).TotalSeconds:F1} s; {last}; produced {Volatile.Read(ref produced)}");
            foreach (var (at, sample) in samples.Where((_, i) => i % 4 == 0))
            {
                output.WriteLine($"  +{at.TotalSeconds,5:F1} s {sample}");
            }

            var peakHeld = samples.Max(s => s.Sample.Buffered);
            var peakResident = samples.Max(s => s.Sample.ResidentBytes);
            output.WriteLine($"during the outage: produced {producedDuring}, peak held {peakHeld} (bound {HeldBound}), resident {before.ResidentBytes / 1048576} MiB before, " +
                $"peak {peakResident / 1048576} MiB; committed offsets {committedEarly} at +2 s, {committedLate} at the end");

            // Mid-stream, and enough records arrived during the outage that reading them all would break the bound.
            Assert.True(producedDuring > HeldBound, $"only {producedDuring} records were produced during the outage: the bound ({HeldBound}) was not put to the test");
            Assert.True(last.Stored < total, "everything was stored before the store went down: not mid-stream");

            // Bounded: the worker held at most the bound, filled it, and then read nothing more for the rest of the outage.
            Assert.True(peakHeld <= HeldBound, $"the worker held {peakHeld} records, more than its bound {HeldBound}");
            Assert.True(peakHeld >= (QueueDepth + 1) * BatchSize, $"the worker held only {peakHeld} records: its queue never filled");
            var lateWindow = samples.Where(s => s.At >= Outage - TimeSpan.FromSeconds(10)).Select(s => s.Sample).ToList();
            Assert.True(lateWindow.All(s => s.RecordsIn == last.RecordsIn),
                $"the worker kept reading during the last 10 s of the outage: {string.Join(", ", lateWindow.Select(s => s.RecordsIn))} → {last.RecordsIn}");
            Assert.Equal(1, last.Paused);

            // Nothing was stored or committed for a failed insert.
            Assert.Equal(committedEarly, committedLate);
            Assert.True(samples.Where(s => s.At > TimeSpan.FromSeconds(2)).All(s => s.Sample.Stored == last.Stored), "stored records grew while the store was down");

            // Said clearly: readiness, metrics, log.
            Assert.Equal(HttpStatusCode.ServiceUnavailable, last.Ready);
            Assert.Contains("store unavailable", last.ReadyBody, StringComparison.Ordinal);
            Assert.Contains("is unreachable", last.ReadyBody, StringComparison.Ordinal);
            Assert.Equal(0, last.StoreAvailable);
            Assert.True(last.StoreErrors >= 3, $"only {last.StoreErrors} failed store attempts in {Outage}: no retries");
            Assert.True(last.StoreErrors <= 20, $"{last.StoreErrors} failed store attempts in {Outage}: no backoff");
            Assert.Contains(worker.Output.Split('\n'), l => l.Contains("failed: ", StringComparison.Ordinal) && l.Contains("Retrying with backoff", StringComparison.Ordinal));
            Assert.Contains(worker.Output.Split('\n'), l => l.Contains("failed again", StringComparison.Ordinal) && l.Contains("is unreachable: Connection refused", StringComparison.Ordinal));
            Assert.Contains(worker.Output.Split('\n'), l => l.Contains("pausing", StringComparison.Ordinal) && l.Contains("partition(s)", StringComparison.Ordinal));

            // Resumed without a restart: everything in, readiness back.
            await producing;
            await rig.WaitCommittedToEndAsync(worker, TimeSpan.FromSeconds(180));
            var after = await Sample.TakeAsync(worker);
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} caught up {(DateTime.UtcNow - restarted).TotalSeconds:F1} s after the store came back; {after}; " +
                $"peak resident over the run {worker.PeakResidentBytes / 1048576} MiB");
            Assert.Equal(HttpStatusCode.OK, after.Ready);
            Assert.Equal(1, after.StoreAvailable);
            Assert.Equal(0, after.Paused);
            Assert.Contains(worker.Output.Split('\n'), l => l.Contains("the store is available again", StringComparison.Ordinal));
            await worker.StopAsync();
            Assert.Equal(0, worker.ExitCode);

            rig.AssertBrokerKeptEverything();
            var high = rig.HighWatermarks();
            var (exit, report) = await IngestRig.VerifyStoreAsync(Path.Combine(data.Path, "verify"), Environment("verify"));
            output.WriteLine($"verify-store exit {exit}: rows {report.GetProperty("rows")} (broker holds {high.Sum()}), duplicates {report.GetProperty("duplicates")}, " +
                $"beyond progress {report.GetProperty("beyondProgress")}; batches found stored after a failed insert: {after.LandedUnacknowledged}");
            Assert.Equal(total, high.Sum());
            Assert.Equal(total, report.GetProperty("rows").GetInt64());
            Assert.Equal(0, report.GetProperty("duplicates").GetInt64());
            Assert.Equal(0, report.GetProperty("beyondProgress").GetInt64());
            Assert.Equal(0, exit);
        }
        finally
        {
            await endpoint.DisposeAsync();
        }
    }

    /// <summary>What the worker's metrics, readiness and /proc say at one moment.</summary>
    private sealed record Sample(
        long RecordsIn, long Stored, long Buffered, long Paused, long StoreAvailable, long StoreErrors, long LandedUnacknowledged,
        HttpStatusCode Ready, string ReadyBody, long ResidentBytes)
    {
        public static async Task<Sample> TakeAsync(VisibilityProcess worker)
        {
            var metrics = await worker.Http.GetStringAsync("/metrics");
            using var ready = await worker.Http.GetAsync("/readyz");
            return new Sample(
                IngestRig.Metric(metrics, "visibility_ingest_records_total"),
                IngestRig.Metric(metrics, "visibility_ingest_stored_total"),
                IngestRig.Metric(metrics, "visibility_ingest_buffered_records"),
                IngestRig.Metric(metrics, "visibility_ingest_paused_consumers"),
                IngestRig.Metric(metrics, "visibility_store_available"),
                IngestRig.Metric(metrics, "visibility_store_errors_total"),
                IngestRig.Metric(metrics, "visibility_ingest_landed_unacknowledged_total"),
                ready.StatusCode,
                await ready.Content.ReadAsStringAsync(),
                worker.ResidentBytes);
        }

        public override string ToString() =>
            $"read {RecordsIn}, stored {Stored}, held {Buffered}, paused {Paused}, store available {StoreAvailable}, store errors {StoreErrors}, " +
            $"readyz {(int)Ready}, resident {ResidentBytes / 1048576} MiB";
    }
}
