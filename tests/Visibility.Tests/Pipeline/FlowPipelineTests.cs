using System.Globalization;
using System.Reflection;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Pipeline;
using Visibility.Tests.Support;

namespace Visibility.Tests.Pipeline;

/// <summary>
/// The pipeline stage on its own: byte payloads in, batches, rows and dead letters out. No broker; where the rows'
/// content matters, the batch is inserted into the real engine and read back.
/// </summary>
public sealed class FlowPipelineTests
{
    private const string Topic = "flows";
    private const string HubbleTopic = "hubble";

    [Fact]
    public void Accept_GoodMalformedAndNonFlowRecords_RowsDeadLettersAndSkipsWithEveryOffsetTracked()
    {
        var rig = new Rig();
        var now = Now();
        Assert.Equal(RecordOutcome.Row, rig.Feed(Topic, 3, 10, Canonical("10.1.1.1", "10.2.2.2", now)));
        Assert.Equal(RecordOutcome.DeadLettered, rig.Feed(Topic, 3, 11, "{not json"));
        Assert.Equal(RecordOutcome.Skipped, rig.Feed(HubbleTopic, 0, 7, """{"node_status":{"state":"NODE_ALIVE"}}"""));
        Assert.Equal(RecordOutcome.Row, rig.Feed(Topic, 3, 12, Canonical("10.1.1.1", "10.2.2.2", now)));
        Assert.Equal(RecordOutcome.DeadLettered, rig.Feed(HubbleTopic, 0, 8, """{"flow":{"time":"yesterday"}}"""));

        Assert.Equal(
            [new DeadLetter(new KafkaPartition(Topic, 3), 11, CanonicalJsonDecoder.FormatName, "malformed JSON"),
             new DeadLetter(new KafkaPartition(HubbleTopic, 0), 8, HubbleJsonDecoder.FormatName, "time is not an RFC 3339 time")],
            rig.DeadLetters);
        var batch = rig.Pipeline.Current;
        Assert.Equal((2, 5), (batch.Count, batch.Messages));
        Assert.Equal([(new KafkaPartition(Topic, 3), new RowRange(10, 12, 2))], batch.RowRanges);

        // Records without a row are committed too: every partition read resumes after its last record.
        var next = new Dictionary<KafkaPartition, long>();
        batch.MergeOffsetsInto(next);
        Assert.Equal(13, next[new KafkaPartition(Topic, 3)]);
        Assert.Equal(9, next[new KafkaPartition(HubbleTopic, 0)]);

        var m = rig.Metrics;
        Assert.Equal((5L, 2L, 2L, 1L, 2L, 5L), (m.RecordsIn, m.Decoded, m.Enriched, m.Skipped, m.InvalidTotal, m.Buffered));
        Assert.Equal(1, m.Invalid["malformed JSON"]);
    }

    [Fact]
    public void Accept_RecordsTheStoreHoldsAhead_AreSkippedAndCommittedWithoutARow()
    {
        var rig = new Rig();
        var partition = new KafkaPartition(Topic, 1);
        rig.Pipeline.SkipStored([new PartitionResume(partition, 20, [21, 23]), new PartitionResume(new KafkaPartition(Topic, 2), 5)]);
        var line = Canonical("10.1.1.1", "10.2.2.2", Now());

        var outcomes = Enumerable.Range(20, 5).Select(offset => rig.Feed(Topic, 1, offset, line)).ToList();
        Assert.Equal([RecordOutcome.Row, RecordOutcome.AlreadyStored, RecordOutcome.Row, RecordOutcome.AlreadyStored, RecordOutcome.Row], outcomes);
        Assert.Equal(RecordOutcome.Row, rig.Feed(Topic, 2, 21, line));

        // Once past the last offset held ahead, nothing of the partition is skipped any more (a record read again
        // after a rewind is new to the store).
        Assert.Equal(RecordOutcome.Row, rig.Feed(Topic, 1, 21, line));
        Assert.Equal(2, rig.Metrics.AlreadyStored);
        Assert.Equal((5, 7), (rig.Pipeline.Current.Count, rig.Pipeline.Current.Messages));
        Assert.Contains((partition, new RowRange(20, 21, 4)), rig.Pipeline.Current.RowRanges);
    }

    [Fact]
    public void Accept_PartitionForgotten_NoLongerSkipsWhatWasHeldAhead()
    {
        var rig = new Rig();
        var partition = new KafkaPartition(Topic, 1);
        rig.Pipeline.SkipStored([new PartitionResume(partition, 20, [21])]);
        rig.Pipeline.Forget(partition);
        Assert.Equal(RecordOutcome.Row, rig.Feed(Topic, 1, 21, Canonical("10.1.1.1", "10.2.2.2", Now())));
        Assert.Equal(0, rig.Metrics.AlreadyStored);
    }

    [Fact]
    public void Hand_FullBatch_GoesToTheWriterUntilTheChannelIsFullAndBatchesAreReused()
    {
        var rig = new Rig(new IngestOptions { BatchSize = 2, QueueDepth = 1, BatchLinger = TimeSpan.FromMinutes(1) });
        var line = Canonical("10.1.1.1", "10.2.2.2", Now());
        Assert.False(rig.Pipeline.BatchDue);
        rig.Feed(Topic, 0, 0, line);
        Assert.False(rig.Pipeline.BatchDue);
        rig.Feed(Topic, 0, 1, line);
        Assert.True(rig.Pipeline.BatchDue);

        var first = rig.Pipeline.Current;
        Assert.True(rig.Pipeline.TryHand());
        Assert.NotSame(first, rig.Pipeline.Current);
        Assert.Equal(0, rig.Pipeline.Current.Messages);

        // The channel holds one batch: the next waits in hand (the source then waits, and pauses if that lasts).
        rig.Feed(Topic, 0, 2, line);
        var second = rig.Pipeline.Current;
        Assert.False(rig.Pipeline.TryHand());
        Assert.Same(second, rig.Pipeline.Current);
        Assert.False(rig.Channel.WaitForRoom(TimeSpan.FromMilliseconds(20), CancellationToken.None));

        Assert.True(rig.Channel.Reader.TryRead(out var taken));
        Assert.Same(first, taken);
        Assert.Equal(2, taken.Count);
        Assert.Equal(3, rig.Metrics.Buffered);
        rig.Channel.Finished([taken]);
        Assert.Equal(1, rig.Metrics.Buffered);

        // The writer's finished batch comes back, emptied, as the next one to fill.
        Assert.True(rig.Pipeline.TryHand());
        Assert.Same(first, rig.Pipeline.Current);
        Assert.Equal((0, 0), (first.Count, first.Messages));
    }

    [Fact]
    public void BatchDue_AfterTheLinger_EvenWithOneRecord()
    {
        var rig = new Rig(new IngestOptions { BatchSize = 1_000, BatchLinger = TimeSpan.FromMilliseconds(10) });
        rig.Feed(Topic, 0, 0, Canonical("10.1.1.1", "10.2.2.2", Now()));
        Assert.True(SpinWait.SpinUntil(() => rig.Pipeline.BatchDue, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Abandon_BatchNeverHanded_ReleasesItsRecords()
    {
        var rig = new Rig();
        rig.Feed(Topic, 0, 0, Canonical("10.1.1.1", "10.2.2.2", Now()));
        rig.Feed(Topic, 0, 1, "{not json");
        Assert.Equal(2, rig.Pipeline.Abandon());
        Assert.Equal(0, rig.Metrics.Buffered);
    }

    [Fact]
    public async Task Batch_InsertedIntoTheStore_HoldsEnrichedClassifiedRowsAndWhereEachCameFrom()
    {
        var rig = new Rig();
        var at = Now();
        rig.Feed(Topic, 2, 40, Canonical("10.1.1.1", "10.2.2.2", at));
        rig.Feed(Topic, 2, 41, "{not json");

        // A record without a time of its own takes the time the source has for the message.
        rig.Feed(Topic, 2, 42, Canonical("10.9.9.9", "10.2.2.2", 0), timestampMs: at + 5);

        var rows = await StoredRowsAsync(rig.HandAndTake());
        Assert.Equal(
            $"40\tdev-app\tdev\tprod-db\tprod\t{(int)FindingKind.CrossEnv}\tflows\t2\t{at}\n" +
            $"42\t\t\tprod-db\tprod\t{(int)FindingKind.UnknownSource}\tflows\t2\t{at + 5}",
            rows);
    }

    [Fact]
    public async Task Accept_Relabel_TakesEffectFromTheNextBatch()
    {
        var rig = new Rig();
        var line = Canonical("10.1.1.1", "10.3.3.3", Now());
        rig.Feed(Topic, 0, 0, line);
        rig.Inventory.Upsert([Workload("dev-app", "10.1.1.1", "test")]);
        rig.Feed(Topic, 0, 1, line);
        var before = await StoredRowsAsync(rig.HandAndTake());
        rig.Feed(Topic, 0, 2, line);
        var after = await StoredRowsAsync(rig.HandAndTake());

        Assert.Equal(["dev", "dev"], before.Split('\n').Select(r => r.Split('\t')[2]));
        Assert.Equal("test", after.Split('\t')[2]);
    }

    [Theory]
    [InlineData(FlowEncoding.Native)]
    [InlineData(FlowEncoding.RowBinary)]
    public void Accept_SteadyState_AllocatesNothingPerRecord(FlowEncoding encoding)
    {
        var rig = new Rig(new IngestOptions { Encoding = encoding, QueueDepth = 4 });
        var now = Now();
        var lines = Enumerable.Range(0, 64)
            .Select(i => Encoding.UTF8.GetBytes(Canonical(i % 2 == 0 ? "10.1.1.1" : "10.9.9.9", "10.2.2.2", now + i, 40000 + i)))
            .ToArray();
        long offset = 0;
        void Fill(int n)
        {
            for (var i = 0; i < n; i++)
            {
                var record = new SourceRecord(Topic, (int)(offset % 4), offset++, now, lines[i % lines.Length]);
                rig.Pipeline.Accept(record, out _);
            }
        }

        // Two rounds fill two batches to size; the third reuses the first one's buffers.
        for (var round = 0; round < 2; round++)
        {
            Fill(10_000);
            rig.Channel.Finished([rig.HandAndTake()]);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        Fill(10_000);

        // Any allocation per record would be at least 24 bytes each (240,000 in all).
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 20_000);
        Assert.Equal(10_000, rig.Pipeline.Current.Count);
    }

    [Fact]
    public void Accept_TracerListening_TracesEachBatchAndStillAllocatesNothingPerRecord()
    {
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == IngestTelemetry.SourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var rig = new Rig(new IngestOptions { QueueDepth = 4 });
        var now = Now();
        var line = Encoding.UTF8.GetBytes(Canonical("10.1.1.1", "10.2.2.2", now));
        long offset = 0;
        void Fill(int n)
        {
            for (var i = 0; i < n; i++)
            {
                rig.Pipeline.Accept(new SourceRecord(Topic, 0, offset++, now, line), out _);
            }
        }

        // Two rounds fill two batches to size; the third reuses the first one's buffers.
        for (var round = 0; round < 2; round++)
        {
            Fill(10_000);
            var batch = rig.HandAndTake();
            Assert.Equal(IngestTelemetry.Batch, batch.Trace?.OperationName);
            Assert.Null(System.Diagnostics.Activity.Current);
            rig.Channel.Finished([batch]);
            Assert.Null(batch.Trace);
        }

        // A batch's spans are a few hundred bytes, once per batch; any allocation per record would be 240,000 bytes or more.
        var before = GC.GetAllocatedBytesForCurrentThread();
        Fill(10_000);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 20_000);
        Assert.NotNull(rig.Pipeline.Current.Trace);
    }

    [Theory]
    [InlineData(typeof(FlowPipeline))]
    [InlineData(typeof(BatchChannel))]
    [InlineData(typeof(FlowBatch))]
    [InlineData(typeof(BatchWriter))]
    public void Stage_KnowsNothingOfKafka(Type stage)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        static IEnumerable<Type> Expand(Type type) =>
            type.HasElementType ? Expand(type.GetElementType()!) : type.GetGenericArguments().SelectMany(Expand).Prepend(type);

        var used = stage.GetFields(all).Select(f => f.FieldType)
            .Concat(stage.GetProperties(all).Select(p => p.PropertyType))
            .Concat(stage.GetMethods(all).SelectMany(m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType)))
            .Concat(stage.GetConstructors(all).SelectMany(c => c.GetParameters().Select(p => p.ParameterType)))
            .SelectMany(Expand)
            .ToList();
        Assert.NotEmpty(used);
        Assert.DoesNotContain(used, t => t.Assembly == typeof(Confluent.Kafka.TopicPartition).Assembly);
    }

    private static long Now() => DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds();

    private static string Canonical(string src, string dst, long startMs, int srcPort = 40000) =>
        string.Create(CultureInfo.InvariantCulture,
            $$"""{"version":1,"start":{{startMs}},"proto":"tcp","src":{"ip":"{{src}}","port":{{srcPort}}},"dst":{"ip":"{{dst}}","port":5432},"packets_out":1}""");

    private static WorkloadSpec Workload(string name, string address, string env) =>
        new() { Name = name, Addresses = [address], Labels = new Dictionary<string, string> { ["env"] = env } };

    private static async Task<string> StoredRowsAsync(FlowBatch batch)
    {
        var store = await TestStore.CreateAsync();
        await store.InsertFlowsAsync([batch.Rows], batch.Encoding, InsertToken.Unique(), CancellationToken.None);
        return await store.QueryAsync(
            "SELECT kafka_offset, src_workload, src_env, dst_workload, dst_env, findings, kafka_topic, kafka_partition, toUnixTimestamp64Milli(ts) " +
            $"FROM {store.Database}.{FlowSchema.FlowsTable} ORDER BY kafka_offset",
            "TabSeparated", static span => Encoding.UTF8.GetString(span).Trim(), [], CancellationToken.None);
    }

    /// <summary>A pipeline over two topics (canonical JSON and Hubble JSON) and a small inventory: dev-app → prod-db.</summary>
    private sealed class Rig
    {
        public Rig(IngestOptions? options = null)
        {
            options ??= new IngestOptions();
            Inventory.Upsert([Workload("dev-app", "10.1.1.1", "dev"), Workload("prod-db", "10.2.2.2", "prod")]);
            Channel = new BatchChannel(options, Metrics);
            var decoders = new Dictionary<string, IFlowDecoder> { [Topic] = new CanonicalJsonDecoder(), [HubbleTopic] = new HubbleJsonDecoder() };
            Pipeline = new FlowPipeline(decoders, Inventory, FindingRules.Default, options, Channel, Metrics, NullLogger.Instance);
        }

        public WorkloadInventory Inventory { get; } = new(Options.Create(new InventoryOptions()));

        public PipelineMetrics Metrics { get; } = new();

        public BatchChannel Channel { get; }

        public FlowPipeline Pipeline { get; }

        public List<DeadLetter> DeadLetters { get; } = [];

        public RecordOutcome Feed(string topic, int partition, long offset, string payload, long? timestampMs = null)
        {
            var outcome = Pipeline.Accept(new SourceRecord(topic, partition, offset, timestampMs, Encoding.UTF8.GetBytes(payload)), out var deadLetter);
            if (outcome == RecordOutcome.DeadLettered)
            {
                DeadLetters.Add(deadLetter);
            }
            else
            {
                Assert.Equal(default, deadLetter);
            }

            return outcome;
        }

        public FlowBatch HandAndTake()
        {
            Assert.True(Pipeline.TryHand());
            Assert.True(Channel.Reader.TryRead(out var batch));
            return batch;
        }
    }
}
