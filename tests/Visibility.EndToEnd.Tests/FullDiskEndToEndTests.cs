using System.Globalization;
using System.Net;
using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Issue 9's full disk, embedded store: the store's data directory is on a small tmpfs that records fill while they
/// stream in. The `visibility ingest` worker keeps running and says what happened (log, metrics, readiness), holds
/// no more than its bound, and when the file system is grown it goes on by itself; afterwards every record is stored
/// exactly once and the store opens cleanly. Twice: with the store's free-space margin (inserts stop while
/// <c>Store:MinFreeMegabytes</c> are left), and without it, where chDB itself runs out of room — it then refuses an
/// insert after writing its raw part, while pushing it to a materialized view, so the rollups can miss that insert.
/// </summary>
[Collection(FaultTests.Collection)]
public sealed class FullDiskEndToEndTests(ITestOutputHelper output)
{
    private const int QueueDepth = FaultTests.QueueDepth;
    private const int HeldBound = FaultTests.HeldBound;

    /// <summary>Room left on the disk once the store is open: a few seconds of records.</summary>
    private const long Headroom = 3L << 20;

    [Theory]
    [InlineData(8)]
    [InlineData(0)]
    public async Task EmbeddedStoreDiskFills_MidStream_IngestReportsAndWaitsThenResumesWhenGrownAndStoresEveryRecordOnce(int minFreeMegabytes)
    {
        const int total = 100_000;
        using var data = new TempDirectory("visibility-full-disk");
        using var disk = new Tmpfs(Path.Combine(data.Path, "disk"), 256L << 20);
        var storePath = Path.Combine(disk.Path, "store");
        await using var rig = new IngestRig("full-disk", partitions: 32);
        await using (var worker = rig.StartIngest(storePath, FaultTests.WithIngestSettings(new Dictionary<string, string>
        {
            ["Visibility__Ingest__PrefetchKilobytes"] = "1024",
            ["Visibility__Ingest__BatchLinger"] = "00:00:01",
            ["Visibility__Store__MinFreeMegabytes"] = minFreeMegabytes.ToString(CultureInfo.InvariantCulture),
        })))
        {
            await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));

            // The store is open and migrated; from now on only records take room.
            var opened = disk.UsedBytes;
            disk.Resize(opened + ((long)minFreeMegabytes << 20) + Headroom);
            output.WriteLine($"store open: {opened / 1024} KiB used; disk now {disk.SizeBytes / 1024} KiB");

            // 1,000 records every half second, about 50 s of traffic.
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

            // Full: the store refuses a write and the worker says so.
            var started = DateTime.UtcNow;
            var full = await worker.WaitAsync(
                () => Sample.TakeAsync(worker, disk), sample => sample.StoreAvailable == 0, TimeSpan.FromSeconds(90), "the disk filling",
                TimeSpan.FromMilliseconds(250));

            var fullAt = DateTime.UtcNow;
            output.WriteLine($"{fullAt:HH:mm:ss.fff} full after {(fullAt - started).TotalSeconds:F1} s: {full}; produced {Volatile.Read(ref produced)}");

            // It stays so for 20 s while records keep arriving.
            var samples = new List<(TimeSpan At, Sample Sample)>();
            while (DateTime.UtcNow - fullAt < TimeSpan.FromSeconds(20))
            {
                Assert.False(worker.HasExited, $"the worker exited with the disk full:\n{worker.Output}");
                samples.Add((DateTime.UtcNow - fullAt, await Sample.TakeAsync(worker, disk)));
                await Task.Delay(500);
            }

            var last = await Sample.TakeAsync(worker, disk);
            foreach (var (at, sample) in samples.Where((_, i) => i % 4 == 0))
            {
                output.WriteLine($"  +{at.TotalSeconds,5:F1} s {sample}");
            }

            output.WriteLine($"readyz: {last.ReadyBody}");
            output.WriteLine("log: " + string.Join("\n     ", worker.Output.Split('\n').Where(l => l.Contains("space", StringComparison.OrdinalIgnoreCase)).Take(6)));
            var peakHeld = samples.Max(s => s.Sample.Buffered);
            output.WriteLine($"while full: produced {Volatile.Read(ref produced)}, peak held {peakHeld} (bound {HeldBound}), peak resident {samples.Max(s => s.Sample.ResidentBytes) / 1048576} MiB");

            Assert.True(last.Stored < total, "everything was stored before the disk filled: not mid-stream");
            Assert.True(peakHeld <= HeldBound, $"the worker held {peakHeld} records, more than its bound {HeldBound}");
            Assert.True(samples.Where(s => s.At >= TimeSpan.FromSeconds(10)).All(s => s.Sample.RecordsIn == last.RecordsIn), "the worker kept reading with the disk full");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, last.Ready);
            Assert.Contains("No space left", last.ReadyBody, StringComparison.OrdinalIgnoreCase);
            Assert.Contains(storePath, last.ReadyBody, StringComparison.Ordinal);
            Assert.Equal(0, last.StoreAvailable);
            Assert.Contains(worker.Output.Split('\n'), l => l.Contains("Retrying with backoff", StringComparison.Ordinal)
                && l.Contains("No space left", StringComparison.OrdinalIgnoreCase) && l.Contains(storePath, StringComparison.Ordinal));

            // Grown: ingest goes on by itself.
            disk.Resize(256L << 20);
            var grown = DateTime.UtcNow;
            output.WriteLine($"{grown:HH:mm:ss.fff} disk grown to {disk.SizeBytes >> 20} MiB");
            await producing;
            await rig.WaitCommittedToEndAsync(worker, TimeSpan.FromSeconds(180));
            var after = await Sample.TakeAsync(worker, disk);
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} caught up {(DateTime.UtcNow - grown).TotalSeconds:F1} s after growing: {after}");
            Assert.Equal(HttpStatusCode.OK, after.Ready);
            Assert.Equal(1, after.StoreAvailable);
            await worker.StopAsync();
            Assert.Equal(0, worker.ExitCode);
        }

        rig.AssertBrokerKeptEverything();
        var high = rig.HighWatermarks();
        var (exit, report) = await IngestRig.VerifyStoreAsync(storePath);
        output.WriteLine($"verify-store exit {exit}: rows {report.GetProperty("rows")} (broker holds {high.Sum()}), duplicates {report.GetProperty("duplicates")}, beyond progress {report.GetProperty("beyondProgress")}");
        Assert.Equal(total, high.Sum());
        Assert.Equal(total, report.GetProperty("rows").GetInt64());
        Assert.Equal(0, report.GetProperty("duplicates").GetInt64());
        Assert.Equal(0, report.GetProperty("beyondProgress").GetInt64());
        Assert.Equal(0, exit);

        // Every test record closes one connection: the rollups count each once. Without the free-space margin chDB can
        // store a raw part and then find no room for a view's; the retry, under the same insert token, keeps the raw
        // part once and fills in the views that missed it.
        var closed = report.GetProperty("raw").GetProperty("closed").GetInt64();
        Assert.Equal(total, closed);
        var rollups = report.GetProperty("rollups").EnumerateArray()
            .Select(r => (Table: r.GetProperty("table").GetString(), Missing: closed - r.GetProperty("closed").GetInt64())).ToList();
        output.WriteLine("connections missing from the rollups: " + string.Join(", ", rollups.Select(r => $"{r.Table} {r.Missing}")));
        Assert.All(rollups, r => Assert.Equal(0, r.Missing));
        Assert.True(report.GetProperty("rollupsMatch").GetBoolean());
    }

    /// <summary>What the worker's metrics and readiness, /proc and the disk say at one moment.</summary>
    private sealed record Sample(
        long RecordsIn, long Stored, long Buffered, long Paused, long StoreAvailable, long StoreErrors,
        HttpStatusCode Ready, string ReadyBody, long ResidentBytes, long DiskUsed)
    {
        public static async Task<Sample> TakeAsync(VisibilityProcess worker, Tmpfs disk)
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
                ready.StatusCode,
                await ready.Content.ReadAsStringAsync(),
                worker.ResidentBytes,
                disk.UsedBytes);
        }

        public override string ToString() =>
            $"read {RecordsIn}, stored {Stored}, held {Buffered}, paused {Paused}, store available {StoreAvailable}, store errors {StoreErrors}, " +
            $"readyz {(int)Ready}, resident {ResidentBytes / 1048576} MiB, disk used {DiskUsed / 1024} KiB";
    }
}
