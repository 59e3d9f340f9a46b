using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Demo;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;
using Visibility.Tests.Support;

namespace Visibility.Tests.Pipeline;

public sealed class IngestConsumerTests
{
    [Fact]
    public async Task Ingest_MalformedRecordsAmongGoodOnes_StoresEveryGoodOneAndDeadLettersEachBadOneWithReason()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "flows-" + Guid.NewGuid().ToString("N")[..8], DeadLetterTopic = "dlq-" + Guid.NewGuid().ToString("N")[..8], GroupId = "g1" };
        broker.CreateTopic(kafka.Topic, 4);
        broker.CreateTopic(kafka.DeadLetterTopic, 1);
        var store = await TestStore.CreateAsync();
        var inventory = new WorkloadInventory(Options.Create(new InventoryOptions()));
        inventory.Upsert(DemoEstate.Workloads);
        var metrics = new IngestMetrics();
        var options = new IngestOptions { BatchSize = 500, BatchLinger = TimeSpan.FromMilliseconds(50) };

        const int connections = 2_000;
        var bad = new[] { "{not json", "{\"src_ip\": \"10.0.0.1\"}", "", "{\"src_ip\": \"1.2.3.4.5\", \"dest_ip\": \"10.0.0.2\", \"flow.start.sec\": 1}" };
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            for (var i = 0; i < connections; i++)
            {
                var conversation = DemoEstate.Conversations[i % DemoEstate.Conversations.Count];
                var c = new Ulogd2Writer.Connection((uint)i + 1, conversation.Src, conversation.Dst, conversation.Proto, (ushort)(10000 + i), conversation.Port, start, start.AddSeconds(1), 100, 1, 1000, 2);
                producer.Produce(kafka.Topic, new Message<Null, string> { Value = Ulogd2Writer.New(c) });
                if (i % 50 == 0)
                {
                    producer.Produce(kafka.Topic, new Message<Null, string> { Value = bad[i / 50 % bad.Length] });
                }

                producer.Produce(kafka.Topic, new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var badCount = (connections + 49) / 50;
        using var stop = new CancellationTokenSource();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var consumer = new IngestConsumer(store, Decoders(kafka.Topic), inventory, metrics, options, kafka, deadLetters, NullLogger.Instance);
        var run = consumer.RunAsync(broker.BootstrapServers, stop.Token);

        await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= connections * 2, TimeSpan.FromSeconds(60), "storing every good record");
        await stop.CancelAsync();
        await run;

        Assert.Equal(connections * 2, metrics.Writer.Stored);
        Assert.Equal(badCount, metrics.Pipeline.InvalidTotal);
        var stored = await CountAsync(store, $"SELECT count(), uniqExact(conn_id), countIf(src_workload = '' AND src_kind = 'unknown') FROM {store.Database}.{FlowSchema.FlowsTable}");
        var unknownConversations = Enumerable.Range(0, connections).Count(i => DemoEstate.Conversations[i % DemoEstate.Conversations.Count].Src == DemoEstate.UnknownSource);
        Assert.Equal($"{connections * 2}\t{connections}\t{unknownConversations * 2}", stored);

        var dead = ReadAll(broker.BootstrapServers, kafka.DeadLetterTopic, badCount);
        Assert.Equal(badCount, dead.Count);
        Assert.All(dead, m =>
        {
            Assert.False(string.IsNullOrEmpty(Header(m, "visibility-reason")));
            Assert.StartsWith(kafka.Topic + "/", Header(m, "visibility-source"), StringComparison.Ordinal);
        });
        Assert.Contains(dead, m => Header(m, "visibility-reason") == "malformed JSON" && Encoding.UTF8.GetString(m.Value ?? []) == "{not json");

        // Offsets were committed once the rows were stored: the group's committed positions cover every message.
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = kafka.GroupId }).Build();
        var committed = probe.Committed(Enumerable.Range(0, 4).Select(p => new TopicPartition(kafka.Topic, p)), TimeSpan.FromSeconds(10));
        // Partitions that received nothing have no committed offset (Offset.Unset).
        Assert.True((connections * 2) + badCount == committed.Where(c => c.Offset.Value >= 0).Sum(c => c.Offset.Value),
            $"committed {string.Join(", ", committed.Select(c => $"{c.Partition.Value}:{c.Offset.Value}"))}; commit errors {metrics.Source.CommitErrors}");
    }

    [Fact]
    public async Task Ingest_CommitOfTheLastBatchFails_IsRetriedWithoutWaitingForAnotherBatch()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "flows-" + Guid.NewGuid().ToString("N")[..8], DeadLetterTopic = "dlq-" + Guid.NewGuid().ToString("N")[..8], GroupId = "g-commit" };
        broker.CreateTopic(kafka.Topic, 1);
        broker.CreateTopic(kafka.DeadLetterTopic, 1);
        const int records = 200;
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            for (var i = 0; i < records; i++)
            {
                var c = new Ulogd2Writer.Connection((uint)i + 1, "10.0.0.1", "10.0.0.2", 6, (ushort)(10000 + i), 443, start, start.AddSeconds(1), 100, 1, 1000, 2);
                producer.Produce(kafka.Topic, new Message<Null, string> { Value = Ulogd2Writer.Destroy(c) });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        // The first three offset commits (API key 8) are refused (30: GROUP_AUTHORIZATION_FAILED), and nothing more is
        // produced: the stream's last batch has no later batch to carry its commit.
        broker.FailNextRequests(apiKey: 8, count: 3, error: 30);
        var metrics = new IngestMetrics();
        var options = new IngestOptions { BatchSize = 1_000, BatchLinger = TimeSpan.FromMilliseconds(50) };
        using var stop = new CancellationTokenSource();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var consumer = new IngestConsumer(await TestStore.CreateAsync(), Decoders(kafka.Topic), new WorkloadInventory(Options.Create(new InventoryOptions())),
            metrics, options, kafka, deadLetters, NullLogger.Instance);
        var run = consumer.RunAsync(broker.BootstrapServers, stop.Token);
        try
        {
            using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = kafka.GroupId }).Build();
            var committed = await Eventually.LastAsync(
                () => Task.FromResult(probe.Committed([new TopicPartition(kafka.Topic, 0)], TimeSpan.FromSeconds(10))[0].Offset.Value),
                offset => offset == records, TimeSpan.FromSeconds(30), interval: TimeSpan.FromMilliseconds(200));
            Assert.True(committed == records, $"committed {committed} of {records} while running; stored {metrics.Writer.Stored}, commit errors {metrics.Source.CommitErrors}");
            Assert.InRange(metrics.Source.CommitErrors, 1, 3);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task Ingest_Relabel_AppliesToLaterRecordsWithoutRestart()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "relabel-" + Guid.NewGuid().ToString("N")[..8], GroupId = "g2" };
        broker.CreateTopic(kafka.Topic, 1);
        var store = await TestStore.CreateAsync();
        var inventory = new WorkloadInventory(Options.Create(new InventoryOptions()));
        inventory.Upsert([new WorkloadSpec { Name = "w", Addresses = ["10.1.1.1"], Labels = new Dictionary<string, string> { ["env"] = "dev" } }]);
        var metrics = new IngestMetrics();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var consumer = new IngestConsumer(store, Decoders(kafka.Topic), inventory, metrics,
            new IngestOptions { BatchSize = 10, BatchLinger = TimeSpan.FromMilliseconds(20) }, kafka, deadLetters, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync(broker.BootstrapServers, stop.Token);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();

        async Task SendAsync(uint id)
        {
            var now = DateTimeOffset.UtcNow;
            await producer.ProduceAsync(kafka.Topic, new Message<Null, string> { Value = Ulogd2Writer.Destroy(new(id, "10.1.1.1", "10.2.2.2", 6, 1000, 80, now, now, 1, 1, 1, 1)) });
        }

        await SendAsync(1);
        await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= 1, TimeSpan.FromSeconds(30), "first record stored");
        inventory.Upsert([new WorkloadSpec { Name = "w", Addresses = ["10.1.1.1"], Labels = new Dictionary<string, string> { ["env"] = "prod" } }]);
        await SendAsync(2);
        await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= 2, TimeSpan.FromSeconds(30), "second record stored");
        await stop.CancelAsync();
        await run;

        var envs = await CountAsync(store, $"SELECT groupArray(src_env) FROM (SELECT src_env FROM {store.Database}.{FlowSchema.FlowsTable} ORDER BY kafka_offset)");
        Assert.Equal("['dev','prod']", envs);
    }

    [Fact]
    public async Task Ingest_MixedFormatsOnAutoTopic_StoresEveryFlowRecordOfEveryFormat()
    {
        await using var broker = DevBroker.Start(port: 0);
        var kafka = new KafkaOptions { Topic = "mixed-" + Guid.NewGuid().ToString("N")[..8], DeadLetterTopic = "dlq-" + Guid.NewGuid().ToString("N")[..8], GroupId = "g3" };
        broker.CreateTopic(kafka.Topic, 2);
        broker.CreateTopic(kafka.DeadLetterTopic, 1);
        var store = await TestStore.CreateAsync();
        var inventory = new WorkloadInventory(Options.Create(new InventoryOptions()));
        var metrics = new IngestMetrics();
        var samples = new[]
        {
            "ulogd2/nat-ipv6-icmp-udp.json", "conntrack-text/events.txt", "conntrack-xml/events.xml",
            "canonical-json/flows.jsonl", "aws-vpc/default-v2.log", "hubble-json/observe.jsonl",
        };
        var lines = samples.SelectMany(f => File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Samples", f))).Where(l => l.Length > 0).ToList();
        var auto = DecoderRegistry.Create("auto", new DecoderSettings());
        var expected = lines.Count(l =>
        {
            var r = default(Visibility.Flows.Model.FlowRecord);
            return auto.Decode(Encoding.UTF8.GetBytes(l), ref r, out _) == DecodeStatus.Ok;
        });
        Assert.True(expected > 100, $"only {expected} flow records in the samples");

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            foreach (var line in lines)
            {
                producer.Produce(kafka.Topic, new Message<Null, string> { Value = line });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        using var stop = new CancellationTokenSource();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build();
        var consumer = new IngestConsumer(store, new Dictionary<string, IFlowDecoder> { [kafka.Topic] = auto }, inventory, metrics,
            new IngestOptions { BatchSize = 100, BatchLinger = TimeSpan.FromMilliseconds(50) }, kafka, deadLetters, NullLogger.Instance);
        var run = consumer.RunAsync(broker.BootstrapServers, stop.Token);
        await Eventually.WaitAsync(() => Task.FromResult(metrics.Pipeline.RecordsIn), n => n >= lines.Count, TimeSpan.FromSeconds(60), "consuming every line");
        await Eventually.WaitAsync(() => Task.FromResult(metrics.Writer.Stored), n => n >= expected, TimeSpan.FromSeconds(60), "storing every flow record");
        await stop.CancelAsync();
        await run;

        Assert.Equal(expected, metrics.Writer.Stored);
        Assert.Equal(lines.Count, metrics.Writer.Stored + metrics.Pipeline.Skipped + metrics.Pipeline.InvalidTotal);
        var count = await CountAsync(store, $"SELECT count() FROM {store.Database}.{FlowSchema.FlowsTable}");
        Assert.Equal(expected.ToString(System.Globalization.CultureInfo.InvariantCulture), count);
    }

    private static Dictionary<string, IFlowDecoder> Decoders(string topic) => new() { [topic] = new Ulogd2JsonDecoder() };

    private static Task<string> CountAsync(IFlowStore store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static span => Encoding.UTF8.GetString(span).Trim(), [], CancellationToken.None);

    private static string Header(Message<byte[]?, byte[]?> message, string key) =>
        message.Headers.TryGetLastBytes(key, out var value) ? Encoding.UTF8.GetString(value) : "";

    private static List<Message<byte[]?, byte[]?>> ReadAll(string bootstrap, string topic, int expected)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "dlq-reader-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(topic);
        var messages = new List<Message<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (messages.Count < expected && DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result?.Message is not null)
            {
                messages.Add(result.Message);
            }
        }

        // Anything beyond the expected count would be a duplicate; give it a moment to show up.
        var extra = consumer.Consume(TimeSpan.FromMilliseconds(500));
        if (extra?.Message is not null)
        {
            messages.Add(extra.Message);
        }

        consumer.Close();
        return messages;
    }
}
