using Confluent.Kafka;
using Microsoft.Extensions.Options;
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
/// The ingest writer against a store that fails: one that goes away for a while, and one that stores an insert but
/// loses the answer. Real engine and broker; the faults come from a wrapper around the store's writer.
/// </summary>
public sealed class StoreFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ingest_InsertStoredButAnswerLost_RetryFindsItStoredAndEveryRecordIsStoredOnce()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "lost-" + Guid.NewGuid().ToString("N")[..8], GroupId = "lost" };
        broker.CreateTopic(kafka.Topic, 2);
        var store = await TestStore.CreateAsync();
        var writer = new FaultyWriter(store);
        var options = new IngestOptions { BatchSize = 100, BatchLinger = TimeSpan.FromMilliseconds(20) };
        var metrics = new IngestMetrics();
        writer.LoseAnswers(3);
        await ProduceAsync(broker.BootstrapServers, kafka.Topic, 0, 1_000);

        await RunAsync(broker.BootstrapServers, writer, kafka, options, metrics, async () =>
            await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= 1_000, TimeSpan.FromSeconds(60), "storing 1,000 records"));

        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        output.WriteLine($"answers lost {writer.AnswersLost}, insert retries {metrics.Writer.InsertRetries}, rows {check.Rows}, duplicates {check.Duplicates}");
        Assert.Equal(3, writer.AnswersLost);
        Assert.True(metrics.Writer.InsertRetries >= 3, $"only {metrics.Writer.InsertRetries} inserts were retried after a lost answer");
        Assert.True(check.ExactlyOnce, $"duplicates {check.Duplicates}, beyond progress {check.BeyondProgress}");
        Assert.Equal(1_000, check.Rows);
        Assert.True(check.RollupsMatch);
        Assert.True(metrics.Writer.StoreAvailable);
    }

    [Theory]
    [InlineData("embedded")]
    [InlineData(ServerTargets.ChdbHttp)]
    public async Task Ingest_InsertFailsAfterPartOfItIsStored_RetryStoresEveryRecordOnceInRawFlowsAndEveryRollup(string transport)
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "part-" + Guid.NewGuid().ToString("N")[..8], GroupId = "part" };
        broker.CreateTopic(kafka.Topic, 2);
        IFlowStore store = transport == "embedded" ? await TestStore.CreateAsync() : await ServerTargets.CreateAsync(transport);
        var db = FlowSchema.QuoteDatabase(store.Database);

        // flows_5m refuses every row: an insert writes the raw part and flows_1m's (and what flows_1m feeds before
        // flows_5m), then fails — part of it stored, as when a disk fills between two views or one shard is down.
        await ExecuteAsync(store, $"ALTER TABLE {db}.flows_5m ADD CONSTRAINT refuse_all CHECK bytes = 1234567890123");
        var options = new IngestOptions { BatchSize = 100, InsertRows = 1_000, BatchLinger = TimeSpan.FromMilliseconds(20) };
        var metrics = new IngestMetrics();
        await ProduceAsync(broker.BootstrapServers, kafka.Topic, 0, 1_000);

        long rawWhileFailing = 0;
        await RunAsync(broker.BootstrapServers, store, kafka, options, metrics, async () =>
        {
            await Eventually.TrueAsync(() => metrics.Writer.InsertRetries >= 2, TimeSpan.FromSeconds(60), "the insert failing twice");
            rawWhileFailing = await CountAsync(store, $"SELECT count() FROM {db}.flows_raw");
            Assert.Equal(0, await CountAsync(store, $"SELECT count() FROM {db}.flows_5m"));
            Assert.True(rawWhileFailing > 0, "the failing insert stored no raw rows: nothing was partly stored");
            Assert.True(await CountAsync(store, $"SELECT sum(closed) FROM {db}.flows_1m") > 0, "the failing insert reached no view");
            await ExecuteAsync(store, $"ALTER TABLE {db}.flows_5m DROP CONSTRAINT refuse_all");
            await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= 1_000, TimeSpan.FromSeconds(60), "storing 1,000 records");
        });

        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        output.WriteLine($"{transport}: raw rows while failing {rawWhileFailing}, insert retries {metrics.Writer.InsertRetries}, rows {check.Rows}, " +
            $"duplicates {check.Duplicates}, raw closed {check.Raw.Closed}, rollups {string.Join(", ", check.Rollups.Select(r => $"{r.Table} {r.Closed}"))}");
        Assert.True(check.ExactlyOnce, $"duplicates {check.Duplicates}, beyond progress {check.BeyondProgress}");
        Assert.Equal(1_000, check.Rows);
        Assert.Equal(1_000, check.Raw.Closed);
        Assert.All(check.Rollups, r => Assert.Equal(1_000, r.Closed));
        Assert.True(check.RollupsMatch);
    }

    [Fact]
    public async Task Ingest_StoreDownWhileRecordsArrive_PausesWithinItsBoundSaysSoAndStoresEverythingOnceItIsBack()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "down-" + Guid.NewGuid().ToString("N")[..8], GroupId = "down" };
        broker.CreateTopic(kafka.Topic, 4);
        var store = await TestStore.CreateAsync();
        var writer = new FaultyWriter(store);
        var options = new IngestOptions { BatchSize = 100, QueueDepth = 2, InsertRows = 200, BatchLinger = TimeSpan.FromMilliseconds(20), PrefetchKilobytes = 1024 };

        // The group being inserted (under InsertRows before its last batch), a full queue, the batch in hand.
        var bound = options.InsertRows - 1 + options.BatchSize + ((options.QueueDepth + 1) * options.BatchSize);
        var metrics = new IngestMetrics();
        await ProduceAsync(broker.BootstrapServers, kafka.Topic, 0, 500);

        await RunAsync(broker.BootstrapServers, writer, kafka, options, metrics, async () =>
        {
            await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= 500, TimeSpan.FromSeconds(60), "storing the first 500 records");
            writer.Down = true;
            await ProduceAsync(broker.BootstrapServers, kafka.Topic, 500, 5_000);
            await Eventually.TrueAsync(() => metrics.Source.PausedConsumers == 1, TimeSpan.FromSeconds(30), "the consumer pausing");
            var read = metrics.Pipeline.RecordsIn;
            var held = metrics.Pipeline.Buffered;
            await Task.Delay(TimeSpan.FromSeconds(2));
            output.WriteLine($"store down: read {metrics.Pipeline.RecordsIn} (then {read}), held {metrics.Pipeline.Buffered} (bound {bound}), stored {metrics.Writer.Stored}, failure {metrics.Writer.CurrentStoreFailure}");
            Assert.Equal(read, metrics.Pipeline.RecordsIn);
            Assert.InRange(held, (options.QueueDepth + 1) * options.BatchSize, bound);
            Assert.Equal(500, metrics.Writer.Stored);
            Assert.False(metrics.Writer.StoreAvailable);
            Assert.Contains("unreachable", metrics.Writer.CurrentStoreFailure!.Reason, StringComparison.Ordinal);

            writer.Down = false;
            await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= 5_500, TimeSpan.FromSeconds(60), "storing every record");
        });

        Assert.True(metrics.Writer.StoreAvailable);
        Assert.Equal(0, metrics.Source.PausedConsumers);
        Assert.Equal(0, metrics.Pipeline.Buffered);
        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.ExactlyOnce, $"duplicates {check.Duplicates}, beyond progress {check.BeyondProgress}");
        Assert.Equal(5_500, check.Rows);
    }

    /// <summary>
    /// A member pauses its partitions while its store is down; a second member joins and takes some of them over
    /// (their revocation waits for the store), then leaves again. The partitions that come back must be read: a
    /// partition revoked while paused must not stay paused in the client (CI saw a scale-out test stall on it).
    /// </summary>
    [Fact]
    public async Task Ingest_PartitionsRevokedWhilePaused_AreReadWhenTheyComeBack()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "paused-" + Guid.NewGuid().ToString("N")[..8], GroupId = "paused" };
        kafka.Properties["session.timeout.ms"] = "6000";
        kafka.Properties["heartbeat.interval.ms"] = "500";
        broker.CreateTopic(kafka.Topic, 4);
        var store = await TestStore.CreateAsync();
        var writer = new FaultyWriter(store);
        var options = new IngestOptions { BatchSize = 100, QueueDepth = 2, InsertRows = 200, BatchLinger = TimeSpan.FromMilliseconds(20), PrefetchKilobytes = 1024 };
        var first = new IngestMetrics();
        await ProduceAsync(broker.BootstrapServers, kafka.Topic, 0, 500);

        await RunAsync(broker.BootstrapServers, writer, kafka, options, first, async () =>
        {
            await Eventually.WaitAsync(() => Task.FromResult(first.Writer.Stored), n => n >= 500, TimeSpan.FromSeconds(60), "storing the first 500 records");
            writer.Down = true;
            await ProduceAsync(broker.BootstrapServers, kafka.Topic, 500, 2_000);
            await Eventually.TrueAsync(() => first.Source.PausedConsumers == 1, TimeSpan.FromSeconds(30), "the first member pausing");

            var second = new IngestMetrics();
            await RunAsync(broker.BootstrapServers, store, kafka, options, second, async () =>
            {
                await Eventually.TrueAsync(() => first.Source.Revocations > 0, TimeSpan.FromSeconds(60), "the second member joining (a revocation on the first)");
                writer.Down = false;
                await Eventually.TrueAsync(() => second.Writer.Stored > 0, TimeSpan.FromSeconds(60), "the second member storing");
            });

            // The second member left: its partitions come back to the first, and every record is read and stored.
            await ProduceAsync(broker.BootstrapServers, kafka.Topic, 2_500, 2_000);
            await Eventually.WaitAsync(() => CountAsync(store, $"SELECT count() FROM {FlowSchema.QuoteDatabase(store.Database)}.flows_raw"), n => n >= 4_500, TimeSpan.FromSeconds(90), "all 4,500 records stored");
        });

        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.ExactlyOnce, $"duplicates {check.Duplicates}, beyond progress {check.BeyondProgress}");
        Assert.Equal(4_500, check.Rows);
    }

    private async Task RunAsync(string bootstrap, IFlowWriter store, KafkaOptions kafka, IngestOptions options, IngestMetrics metrics, Func<Task> whileRunning)
    {
        using var stop = new CancellationTokenSource();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        var inventory = new WorkloadInventory(Options.Create(new InventoryOptions()));
        inventory.Upsert(DemoEstate.Workloads);
        var run = new IngestConsumer(store, new Dictionary<string, IFlowDecoder> { [kafka.Topic] = new Ulogd2JsonDecoder() }, inventory, metrics, options, kafka,
            deadLetters, new TestLogger(output, "ingest")).RunAsync(bootstrap, stop.Token);
        try
        {
            await whileRunning();
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    private static Task ExecuteAsync(IFlowReader store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static _ => 0, [], CancellationToken.None);

    private static Task<long> CountAsync(IFlowReader store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static span => long.Parse(System.Text.Encoding.UTF8.GetString(span).Trim(), System.Globalization.CultureInfo.InvariantCulture), [], CancellationToken.None);

    private static async Task ProduceAsync(string bootstrap, string topic, int first, int count)
    {
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        var now = DateTimeOffset.UtcNow;
        for (var i = first; i < first + count; i++)
        {
            var conversation = DemoEstate.Conversations[i % DemoEstate.Conversations.Count];
            var c = new Ulogd2Writer.Connection((uint)i + 1, conversation.Src, conversation.Dst, conversation.Proto, (ushort)(10000 + (i % 50000)), conversation.Port, now, now, 100, 1, 1000, 2);
            producer.Produce(topic, new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        await Task.CompletedTask;
    }

    /// <summary>A real store's writer with faults switched on from the test: down (every write refused), or
    /// storing the next inserts and then reporting them failed, as a connection lost before the answer.</summary>
    private sealed class FaultyWriter(IFlowWriter inner) : IFlowWriter
    {
        private int answersToLose;
        private int answersLost;
        private volatile bool down;

        public bool Down
        {
            get => down;
            set => down = value;
        }

        public int AnswersLost => Volatile.Read(ref answersLost);

        public void LoseAnswers(int inserts) => Volatile.Write(ref answersToLose, inserts);

        public async Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, InsertToken token, CancellationToken cancellationToken)
        {
            ThrowIfDown();
            await inner.InsertFlowsAsync(chunks, encoding, token, cancellationToken);
            if (Interlocked.Decrement(ref answersToLose) >= 0)
            {
                Interlocked.Increment(ref answersLost);
                throw new StoreException("ClickHouse at test: the connection was reset before the answer");
            }
        }

        public Task RecordProgressAsync(IReadOnlyList<PartitionProgress> progress, CancellationToken cancellationToken)
        {
            ThrowIfDown();
            return inner.RecordProgressAsync(progress, cancellationToken);
        }

        public Task<IReadOnlyList<PartitionResume>> ResumeAsync(IReadOnlyCollection<KafkaPartition> partitions, CancellationToken cancellationToken)
        {
            ThrowIfDown();
            return inner.ResumeAsync(partitions, cancellationToken);
        }

        private void ThrowIfDown()
        {
            if (down)
            {
                throw new StoreException("ClickHouse at test is unreachable: Connection refused");
            }
        }
    }
}
