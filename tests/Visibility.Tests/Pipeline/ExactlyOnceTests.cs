using System.Buffers;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Demo;
using Visibility.Ingest.Enrichment;
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
        var kafka = new KafkaOptions { Topic = "eo-" + Guid.NewGuid().ToString("N")[..8], GroupId = "eo" };
        broker.CreateTopic(kafka.Topic, 2);
        var store = await TestStore.CreateAsync();
        var options = new IngestOptions { BatchSize = 100, BatchLinger = TimeSpan.FromMilliseconds(20) };
        // Both partitions get records (without a partition, the producer's sticky partitioner may put all on one).
        await ProduceAsync(broker.BootstrapServers, kafka.Topic, 0, 500, partition: 0);
        await ProduceAsync(broker.BootstrapServers, kafka.Topic, 500, 500, partition: 1);

        var first = new IngestMetrics();
        await RunUntilStoredAsync(broker.BootstrapServers, store, kafka, options, first, 1_000);

        // What a crash leaves behind: an insert that landed without its progress (the next 50 records of partition 0
        // stored, nothing recorded) ...
        await ProduceAsync(broker.BootstrapServers, kafka.Topic, 1_000, 300, partition: 0);
        await ProduceAsync(broker.BootstrapServers, kafka.Topic, 1_300, 200, partition: 1);
        var next = Assert.Single(await store.ResumeAsync([new KafkaPartition(kafka.Topic, 0)], CancellationToken.None)).NextOffset!.Value;
        await InsertAsync(store, kafka.Topic, 0, Enumerable.Range((int)next, 50));

        // ... and Kafka offsets that were never committed: a group with no committed offsets at all reads from the start.
        kafka.GroupId = "eo-after-crash";
        var second = new IngestMetrics();
        await RunUntilStoredAsync(broker.BootstrapServers, store, kafka, options, second, 450);

        Assert.Equal(50, second.Pipeline.AlreadyStored);
        Assert.Equal(450, second.Writer.Stored);
        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.ExactlyOnce, $"duplicates {check.Duplicates}, beyond progress {check.BeyondProgress}");
        Assert.Equal(1_500, check.Rows);
    }

    [Fact]
    public async Task Ingest_SecondConsumerJoinsMidStream_PartitionsMoveAndEveryRecordIsStoredOnce()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "scale-" + Guid.NewGuid().ToString("N")[..8], GroupId = "scale" };

        // The mock broker completes a rebalance only when a session times out (measured: 45 s with the default).
        kafka.Properties["session.timeout.ms"] = "6000";
        kafka.Properties["heartbeat.interval.ms"] = "500";
        broker.CreateTopic(kafka.Topic, 8);
        var store = await TestStore.CreateAsync();
        var options = new IngestOptions { BatchSize = 200, BatchLinger = TimeSpan.FromMilliseconds(20) };
        var metricsA = new IngestMetrics();
        var metricsB = new IngestMetrics();
        using var stop = new CancellationTokenSource();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var a = new IngestConsumer(store, Decoders(kafka.Topic), Inventory(), metricsA, options, kafka, deadLetters, new TestLogger(output, "A"))
            .RunAsync(broker.BootstrapServers, stop.Token);

        const int total = 20_000;
        var producing = Task.Run(async () =>
        {
            for (var i = 0; i < total; i += 1_000)
            {
                await ProduceAsync(broker.BootstrapServers, kafka.Topic, i, 1_000);
                await Task.Delay(100);
            }
        });
        await Eventually.WaitAsync(() => Task.FromResult(metricsA.Writer.Stored), n => n > 2_000, TimeSpan.FromSeconds(60), "the first consumer storing");
        output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} B joins");
        var b = new IngestConsumer(store, Decoders(kafka.Topic), Inventory(), metricsB, options, kafka, deadLetters, new TestLogger(output, "B"))
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
        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.ExactlyOnce, $"duplicates {check.Duplicates}, beyond progress {check.BeyondProgress}");
        Assert.Equal(total, check.Rows);
        Assert.Equal(total, metricsA.Writer.Stored + metricsB.Writer.Stored);
    }

    private static async Task RunUntilStoredAsync(string bootstrap, IFlowStore store, KafkaOptions kafka, IngestOptions options, IngestMetrics metrics, int expected)
    {
        using var stop = new CancellationTokenSource();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        var run = new IngestConsumer(store, Decoders(kafka.Topic), Inventory(), metrics, options, kafka, deadLetters, NullLogger.Instance)
            .RunAsync(bootstrap, stop.Token);
        await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= expected, TimeSpan.FromSeconds(60), $"storing {expected} records");

        // Give a duplicate the chance to show up before stopping.
        await Task.Delay(300);
        await stop.CancelAsync();
        await run;
    }

    private static async Task ProduceAsync(string bootstrap, string topic, int first, int count, int? partition = null)
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        var now = DateTimeOffset.UtcNow;
        for (var i = first; i < first + count; i++)
        {
            var conversation = DemoEstate.Conversations[i % DemoEstate.Conversations.Count];
            var c = new Ulogd2Writer.Connection((uint)i + 1, conversation.Src, conversation.Dst, conversation.Proto, (ushort)(10000 + (i % 50000)), conversation.Port, now, now, 100, 1, 1000, 2);
            var message = new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) };
            if (partition is { } p)
            {
                producer.Produce(new TopicPartition(topic, p), message);
            }
            else
            {
                producer.Produce(topic, message);
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        await Task.CompletedTask;
    }

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

    private static WorkloadInventory Inventory()
    {
        var inventory = new WorkloadInventory(Options.Create(new InventoryOptions()));
        inventory.Upsert(DemoEstate.Workloads);
        return inventory;
    }

    private static Dictionary<string, IFlowDecoder> Decoders(string topic) => new() { [topic] = new Ulogd2JsonDecoder() };
}
