using Visibility.Flows.Store;
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
        var kafka = DemoIngest.CreateTopic(broker, "lost", 2);
        var store = await TestStore.CreateAsync();
        var writer = new FaultyWriter(store);
        var options = new IngestOptions { BatchSize = 100, BatchLinger = TimeSpan.FromMilliseconds(20) };
        var metrics = new IngestMetrics();
        writer.LoseAnswers(3);
        DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 0, 1_000);

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
        var kafka = DemoIngest.CreateTopic(broker, "part", 2);
        IFlowStore store = transport == "embedded" ? await TestStore.CreateAsync() : await ServerTargets.CreateAsync(transport);
        var db = FlowSchema.QuoteDatabase(store.Database);

        // flows_5m refuses every row: an insert writes the raw part and flows_1m's (and what flows_1m feeds before
        // flows_5m), then fails — part of it stored, as when a disk fills between two views or one shard is down.
        await ExecuteAsync(store, $"ALTER TABLE {db}.flows_5m ADD CONSTRAINT refuse_all CHECK bytes = 1234567890123");
        var options = new IngestOptions { BatchSize = 100, InsertRows = 1_000, BatchLinger = TimeSpan.FromMilliseconds(20) };
        var metrics = new IngestMetrics();
        DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 0, 1_000);

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
        var kafka = DemoIngest.CreateTopic(broker, "down", 4);
        var store = await TestStore.CreateAsync();
        var writer = new FaultyWriter(store);
        var options = PausingOptions();

        // The group being inserted (under InsertRows before its last batch), a full queue, the batch in hand.
        var bound = options.InsertRows - 1 + options.BatchSize + ((options.QueueDepth + 1) * options.BatchSize);
        var metrics = new IngestMetrics();
        DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 0, 500);

        await RunAsync(broker.BootstrapServers, writer, kafka, options, metrics, async () =>
        {
            await StoreGoesDownAfterTheFirst500Async(broker.BootstrapServers, kafka.Topic, writer, metrics, 5_000, "the consumer");
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
        await DemoIngest.AssertStoredOnceAsync(store, 5_500);
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
        var kafka = DemoIngest.CreateTopic(broker, "paused", 4, quickRebalance: true);
        var store = await TestStore.CreateAsync();
        var writer = new FaultyWriter(store);
        var options = PausingOptions();
        var first = new IngestMetrics();
        DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 0, 500);

        await RunAsync(broker.BootstrapServers, writer, kafka, options, first, async () =>
        {
            await StoreGoesDownAfterTheFirst500Async(broker.BootstrapServers, kafka.Topic, writer, first, 2_000, "the first member");

            var second = new IngestMetrics();
            await RunAsync(broker.BootstrapServers, store, kafka, options, second, async () =>
            {
                await Eventually.TrueAsync(() => first.Source.Revocations > 0, TimeSpan.FromSeconds(60), "the second member joining (a revocation on the first)");
                writer.Down = false;
                await Eventually.TrueAsync(() => second.Writer.Stored > 0, TimeSpan.FromSeconds(60), "the second member storing");
            });

            // The second member left: its partitions come back to the first, and every record is read and stored.
            DemoIngest.Produce(broker.BootstrapServers, kafka.Topic, 2_500, 2_000);
            await Eventually.WaitAsync(() => CountAsync(store, $"SELECT count() FROM {FlowSchema.QuoteDatabase(store.Database)}.flows_raw"), n => n >= 4_500, TimeSpan.FromSeconds(90), "all 4,500 records stored");
        });

        await DemoIngest.AssertStoredOnceAsync(store, 4_500);
    }

    private Task RunAsync(string bootstrap, IFlowWriter store, KafkaOptions kafka, IngestOptions options, IngestMetrics metrics, Func<Task> whileRunning) =>
        DemoIngest.RunAsync(bootstrap, store, kafka, options, metrics, new TestLogger(output, "ingest"), whileRunning);

    /// <summary>A small queue and insert groups with 1 MiB prefetch: a consumer whose store is down pauses soon.</summary>
    private static IngestOptions PausingOptions() =>
        new() { BatchSize = 100, QueueDepth = 2, InsertRows = 200, BatchLinger = TimeSpan.FromMilliseconds(20), PrefetchKilobytes = 1024 };

    /// <summary>
    /// Once records 0..499 (produced before) are stored, takes the store down, produces <paramref name="more"/> records
    /// from 500 on and waits until <paramref name="consumer"/> pauses.
    /// </summary>
    private static async Task StoreGoesDownAfterTheFirst500Async(string bootstrap, string topic, FaultyWriter writer, IngestMetrics metrics, int more, string consumer)
    {
        await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= 500, TimeSpan.FromSeconds(60), "storing the first 500 records");
        writer.Down = true;
        DemoIngest.Produce(bootstrap, topic, 500, more);
        await Eventually.TrueAsync(() => metrics.Source.PausedConsumers == 1, TimeSpan.FromSeconds(30), $"{consumer} pausing");
    }

    private static Task ExecuteAsync(IFlowReader store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static _ => 0, [], CancellationToken.None);

    private static Task<long> CountAsync(IFlowReader store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static span => long.Parse(System.Text.Encoding.UTF8.GetString(span).Trim(), System.Globalization.CultureInfo.InvariantCulture), [], CancellationToken.None);

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
