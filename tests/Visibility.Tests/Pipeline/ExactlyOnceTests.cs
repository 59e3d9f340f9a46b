using System.Buffers;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;
using Visibility.Tests.Support;
using Xunit.Abstractions;

namespace Visibility.Tests.Pipeline;

/// <summary>
/// The store's progress decides where a partition resumes: consumption restarts right after the last recorded batch,
/// whatever Kafka's committed offsets say, and records an insert without recorded progress already stored are
/// skipped, not stored again (rows are never deleted, so rollups built from inserts stay exact).
/// </summary>
public sealed class ExactlyOnceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Resume_RowsBeyondRecordedProgress_AreReportedForSkippingAndKept()
    {
        var store = await TestStore.CreateAsync();
        await InsertAsync(store, "t", 0, Enumerable.Range(0, 100));
        await InsertAsync(store, "t", 1, Enumerable.Range(0, 10));
        await InsertAsync(store, "other", 0, Enumerable.Range(0, 5));
        await store.RecordProgressAsync([new PartitionProgress(new KafkaPartition("t", 0), 60)], CancellationToken.None);

        var resumed = await store.ResumeAsync([new KafkaPartition("t", 0), new KafkaPartition("t", 1)], CancellationToken.None);

        PartitionResume[] expected =
        [
            new(new KafkaPartition("t", 0), 60, [.. Enumerable.Range(60, 40).Select(o => (long)o)]),
            new(new KafkaPartition("t", 1), null, [.. Enumerable.Range(0, 10).Select(o => (long)o)]),
        ];
        Assert.Equal(expected, resumed);
        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        var t0 = Assert.Single(check.Partitions, p => p.Topic == "t" && p.Partition == 0);
        Assert.Equal((100L, 0L, 99L, 60L, 40L), (t0.Rows, t0.MinOffset, t0.MaxOffset, t0.Progress!.Value, t0.BeyondProgress));

        // A partition that was not asked about is left alone, even though its rows have no progress yet.
        var other = Assert.Single(check.Partitions, p => p.Topic == "other");
        Assert.Equal((5L, 5L), (other.Rows, other.BeyondProgress));

        // Asking again changes nothing: resuming is a read.
        var again = await store.ResumeAsync([new KafkaPartition("t", 0)], CancellationToken.None);
        Assert.Equal(expected[0], Assert.Single(again));
    }

    [Fact]
    public async Task Progress_IsTheHighestRecorded_AndTopicNamesOutsideKafkasAlphabetAreRefused()
    {
        var store = await TestStore.CreateAsync();
        var p = new KafkaPartition("t", 3);
        await store.RecordProgressAsync([new PartitionProgress(p, 10)], CancellationToken.None);
        await store.RecordProgressAsync([new PartitionProgress(p, 25)], CancellationToken.None);

        Assert.Equal(25, Assert.Single(await store.ResumeAsync([p], CancellationToken.None)).NextOffset);
        await Assert.ThrowsAsync<ArgumentException>(() => store.ResumeAsync([new KafkaPartition("t', 1) --", 0)], CancellationToken.None));
    }

    [Fact]
    public async Task Ingest_AfterACrashBetweenInsertAndCommit_StoresEveryRecordExactlyOnce()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = DemoIngest.CreateTopic(broker, "eo", 2);
        var store = await TestStore.CreateAsync();
        var options = new IngestOptions { BatchSize = 100, BatchLinger = TimeSpan.FromMilliseconds(20) };
        // Both partitions get records (without a partition, the producer's sticky partitioner may put all on one).
        DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 0, 500, partition: 0);
        DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 500, 500, partition: 1);

        var first = new IngestMetrics();
        await RunUntilStoredAsync(broker.BootstrapServers, store, kafka, options, first, 1_000);

        // What a crash leaves behind: an insert that landed without its progress (the next 50 records of partition 0
        // stored, nothing recorded) ...
        DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 1_000, 300, partition: 0);
        DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 1_300, 200, partition: 1);
        var next = Assert.Single(await store.ResumeAsync([new KafkaPartition(kafka.Topic, 0)], CancellationToken.None)).NextOffset!.Value;
        await InsertAsync(store, kafka.Topic, 0, Enumerable.Range((int)next, 50));

        // ... and Kafka offsets that were never committed: a group with no committed offsets at all reads from the start.
        kafka.GroupId = "eo-after-crash";
        var second = new IngestMetrics();
        await RunUntilStoredAsync(broker.BootstrapServers, store, kafka, options, second, 450);

        Assert.Equal(50, second.Pipeline.AlreadyStored);
        Assert.Equal(450, second.Writer.Stored);
        await DemoIngest.AssertStoredOnceAsync(store, 1_500);
    }

    [Fact]
    public async Task Ingest_SecondConsumerJoinsMidStream_PartitionsMoveAndEveryRecordIsStoredOnce()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = DemoIngest.CreateTopic(broker, "scale", 8, quickRebalance: true);
        var store = await TestStore.CreateAsync();
        var options = new IngestOptions { BatchSize = 200, BatchLinger = TimeSpan.FromMilliseconds(20) };
        var metricsA = new IngestMetrics();
        var metricsB = new IngestMetrics();
        using var stop = new CancellationTokenSource();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var a = DemoIngest.Consumer(store, kafka, options, metricsA, deadLetters, new TestLogger(output, "A"))
            .RunAsync(broker.BootstrapServers, stop.Token);

        const int total = 20_000;
        var producing = Task.Run(async () =>
        {
            for (var i = 0; i < total; i += 1_000)
            {
                DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, i, 1_000);
                await Task.Delay(100);
            }
        });
        await Eventually.WaitAsync(() => Task.FromResult(metricsA.Writer.Stored), n => n > 2_000, TimeSpan.FromSeconds(60), "the first consumer storing");
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} B joins");
        var b = DemoIngest.Consumer(store, kafka, options, metricsB, deadLetters, new TestLogger(output, "B"))
            .RunAsync(broker.BootstrapServers, stop.Token);
        await producing;
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} produced");
        await Eventually.WaitAsync(() => Task.FromResult(metricsA.Writer.Stored + metricsB.Writer.Stored), n => n >= total, TimeSpan.FromSeconds(90), "storing every record");
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} stored; stopping");
        await stop.CancelAsync();
        await Task.WhenAll(a, b);
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} stopped");

        Assert.True(metricsB.Writer.Stored > 0, "the second consumer got no partitions");
        Assert.True(metricsA.Source.Revocations > 0, "the first consumer gave up no partitions");
        await DemoIngest.AssertStoredOnceAsync(store, total);
        Assert.Equal(total, metricsA.Writer.Stored + metricsB.Writer.Stored);
    }

    private static Task RunUntilStoredAsync(string bootstrap, IFlowStore store, KafkaOptions kafka, IngestOptions options, IngestMetrics metrics, int expected) =>
        DemoIngest.RunAsync(bootstrap, store, kafka, options, metrics, NullLogger.Instance, async () =>
        {
            await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= expected, TimeSpan.FromSeconds(60), $"storing {expected} records");

            // Give a duplicate the chance to show up before stopping.
            await Task.Delay(300);
        });

    private static async Task InsertAsync(IFlowStore store, string topic, int partition, IEnumerable<int> offsets)
    {
        var rows = new ArrayBufferWriter<byte>();
        foreach (var offset in offsets)
        {
            var record = FlowRecord.Blank;
            record.StartMs = record.EndMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            record.ConnectionId = (ulong)offset + 1;
            record.SourceTopic = topic;
            record.SourcePartition = partition;
            record.SourceOffset = offset;
            FlowSchema.WriteRow(rows, record);
        }

        await store.InsertFlowsAsync(rows.WrittenMemory, CancellationToken.None);
    }
}
