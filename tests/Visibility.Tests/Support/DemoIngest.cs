using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Demo;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;

namespace Visibility.Tests.Support;

/// <summary>
/// The ingest consumer in the test process against a dev broker and a store: the demo estate's conversations produced
/// as ulogd2 DESTROY records (record <c>i</c> is connection <c>i + 1</c>), read as ulogd2 JSON with the demo's
/// workloads as the inventory.
/// </summary>
public static class DemoIngest
{
    /// <summary>
    /// A new topic on <paramref name="broker"/> (<paramref name="name"/> and a random suffix), read by group
    /// <paramref name="name"/>; with <paramref name="quickRebalance"/>, a 6 s session, so a member joining or leaving is rebalanced within seconds.
    /// </summary>
    public static KafkaOptions CreateTopic(DevBroker broker, string name, int partitions, bool quickRebalance = false)
    {
        ArgumentNullException.ThrowIfNull(broker);
        var kafka = new KafkaOptions { Topic = name + "-" + Guid.NewGuid().ToString("N")[..8], GroupId = name };
        if (quickRebalance)
        {
            // The mock broker completes a rebalance only when a session times out (measured: 45 s with the default).
            kafka.Properties["session.timeout.ms"] = "6000";
            kafka.Properties["heartbeat.interval.ms"] = "500";
        }

        broker.CreateTopic(kafka.Topic, partitions);
        return kafka;
    }

    /// <summary>Produces records <paramref name="first"/>.. (to <paramref name="partition"/>, or as the producer partitions) and waits until all are delivered.</summary>
    public static void Produce(string bootstrap, string topic, int first, int count, int? partition = null)
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
    }

    /// <summary>A consumer of <paramref name="kafka"/>'s topic into <paramref name="store"/>; <see cref="IngestConsumer.RunAsync"/> starts it.</summary>
    public static IngestConsumer Consumer(
        IFlowWriter store, KafkaOptions kafka, IngestOptions options, IngestMetrics metrics, IProducer<byte[]?, byte[]?> deadLetters, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(kafka);
        var inventory = new WorkloadInventory(Options.Create(new InventoryOptions()));
        inventory.Upsert(DemoEstate.Workloads);
        return new IngestConsumer(store, new Dictionary<string, IFlowDecoder> { [kafka.Topic] = new Ulogd2JsonDecoder() }, inventory, metrics, options, kafka,
            deadLetters, logger);
    }

    /// <summary>Runs a consumer (<see cref="Consumer"/>) while <paramref name="whileRunning"/> runs, then stops it and waits until it has stopped.</summary>
    public static async Task RunAsync(
        string bootstrap, IFlowWriter store, KafkaOptions kafka, IngestOptions options, IngestMetrics metrics, ILogger logger, Func<Task> whileRunning)
    {
        ArgumentNullException.ThrowIfNull(whileRunning);
        using var stop = new CancellationTokenSource();
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        var run = Consumer(store, kafka, options, metrics, deadLetters, logger).RunAsync(bootstrap, stop.Token);
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

    /// <summary>Checks <paramref name="store"/> (<see cref="StoreCheck"/>): every record stored once, <paramref name="rows"/> in all.</summary>
    public static async Task AssertStoredOnceAsync(IFlowReader store, long rows)
    {
        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.ExactlyOnce, $"duplicates {check.Duplicates}, beyond progress {check.BeyondProgress}");
        Assert.Equal(rows, check.Rows);
    }
}
