using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Visibility.Ingest.Kafka;
using Visibility.Query.Export.Sinks;

namespace Visibility.Tests.Export;

/// <summary>The Kafka sink against the development broker (librdkafka's mock cluster, over TCP).</summary>
public sealed class KafkaSinkTests
{
    private const int Partitions = 4;

    [Fact]
    public async Task TenThousandItems_EachArrivesOnce_InOrderPerPartition_WithKeyValueAndHeaders()
    {
        await using var broker = DevBroker.Start(port: 0);
        var topic = "export-" + Guid.NewGuid().ToString("N")[..8];
        broker.CreateTopic(topic, Partitions);
        var items = SinkItems.Findings(10_000);
        await using (var sink = new KafkaSink(new ProducerConfig { BootstrapServers = broker.BootstrapServers }, topic))
        {
            Assert.Equal($"kafka://{broker.BootstrapServers}/{topic}", sink.Destination);
            foreach (var batch in items.Chunk(1_000))
            {
                await sink.SendAsync(batch, CancellationToken.None);
            }

            Assert.True(await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(60), CancellationToken.None));
            Assert.Equal(0, sink.Pending);
            Assert.Equal(10_000, sink.Confirmed);
            Assert.Equal(0, sink.DeliveryErrors);
        }

        var messages = Consume(broker, topic, 10_000);
        Assert.Equal(10_000, messages.Count);
        Assert.Equal(Enumerable.Range(0, 10_000).Select(i => (long)i), messages.Select(m => m.Sequence).Order());
        foreach (var message in messages)
        {
            var item = items[(int)message.Sequence];
            Assert.Equal(item.EventId, message.Key);
            Assert.Equal(item.Body.ToArray(), message.Value);
            Assert.Equal("finding", message.Kind);
        }

        foreach (var partition in messages.GroupBy(m => m.Partition))
        {
            var sequences = partition.Select(m => m.Sequence).ToList();
            Assert.Equal(sequences.Order(), sequences);
        }

        Assert.Equal(Partitions, messages.Select(m => m.Partition).Distinct().Count());
    }

    [Fact]
    public async Task UnreachableBroker_WaitConfirmedIsFalseWithinTheTimeout_ItemsStayPending()
    {
        var config = new ProducerConfig { BootstrapServers = $"127.0.0.1:{FreePorts.Tcp()}", ReconnectBackoffMaxMs = 100 };
        await using var sink = new KafkaSink(config, "export-unreachable", disposeTimeout: TimeSpan.FromMilliseconds(200));
        await sink.SendAsync(SinkItems.Findings(50), CancellationToken.None);
        Assert.False(await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(1), CancellationToken.None));
        Assert.Equal(50, sink.Pending);
        Assert.Equal(0, sink.Confirmed);
    }

    /// <summary>The broker goes down with records in flight and comes back: librdkafka's idempotent retries deliver each once.</summary>
    [Fact]
    public async Task BrokerDownAndBack_EveryItemArrivesExactlyOnce()
    {
        await using var broker = DevBroker.Start(port: 0);
        var topic = "export-" + Guid.NewGuid().ToString("N")[..8];
        broker.CreateTopic(topic, Partitions);
        var items = SinkItems.Findings(5_000);
        await using (var sink = new KafkaSink(new ProducerConfig { BootstrapServers = broker.BootstrapServers, ReconnectBackoffMaxMs = 200 }, topic))
        {
            await sink.SendAsync(items[..2_000], CancellationToken.None);
            Assert.True(await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(30), CancellationToken.None));

            await sink.SendAsync(items[2_000..3_000], CancellationToken.None);
            broker.SetAvailable(false);
            await sink.SendAsync(items[3_000..], CancellationToken.None);
            Assert.False(await sink.WaitConfirmedAsync(TimeSpan.FromMilliseconds(500), CancellationToken.None));
            Assert.True(sink.Pending > 0);

            broker.SetAvailable(true);
            Assert.True(await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(60), CancellationToken.None));
            Assert.Equal(0, sink.Pending);
            Assert.Equal(0, sink.DeliveryErrors);
        }

        var messages = Consume(broker, topic, 5_000);
        Assert.Equal(Enumerable.Range(0, 5_000).Select(i => (long)i), messages.Select(m => m.Sequence).Order());
    }

    /// <summary>
    /// Records time out while the broker is down (their delivery fails for good): they stay pending, the next send
    /// produces them again, and each arrives once.
    /// </summary>
    [Fact]
    public async Task DeliveryTimedOut_NextSendProducesThemAgain_EachArrivesOnce()
    {
        await using var broker = DevBroker.Start(port: 0);
        var topic = "export-" + Guid.NewGuid().ToString("N")[..8];
        broker.CreateTopic(topic, Partitions);
        var items = SinkItems.Findings(3_000);
        long possiblyDuplicated;
        var config = new ProducerConfig { BootstrapServers = broker.BootstrapServers, MessageTimeoutMs = 5_000, ReconnectBackoffMaxMs = 200 };
        await using (var sink = new KafkaSink(config, topic))
        {
            await sink.SendAsync(items[..1_000], CancellationToken.None);
            Assert.True(await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(30), CancellationToken.None), $"{sink.LastError?.Code} {sink.LastError?.Reason} {sink.DeliveryErrors} {sink.Pending}");

            broker.SetAvailable(false);
            await sink.SendAsync(items[1_000..2_000], CancellationToken.None);
            await Eventually.WaitAsync(() => Task.FromResult(sink.DeliveryErrors), n => n == 1_000, TimeSpan.FromSeconds(30), "every delivery timing out");
            Assert.False(await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(1), CancellationToken.None));
            Assert.Equal(1_000, sink.Pending);
            // The last error is the deliveries' time-out or, when the client's own report comes after them, the outage.
            Assert.Contains(sink.LastError?.Code, new ErrorCode?[] { ErrorCode.Local_MsgTimedOut, ErrorCode.Local_AllBrokersDown });

            broker.SetAvailable(true);
            await sink.SendAsync(items[2_000..], CancellationToken.None);
            Assert.True(await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(60), CancellationToken.None));
            possiblyDuplicated = sink.PossiblyDuplicated;
        }

        // Timed-out messages the broker may have taken before it went down (librdkafka: possibly persisted) can
        // arrive twice; every other one arrives once, and every one at least once.
        var messages = Consume(broker, topic, 3_000);
        Assert.Equal(Enumerable.Range(0, 3_000).Select(i => (long)i), messages.Select(m => m.Sequence).Distinct().Order());
        Assert.InRange(messages.Count - 3_000, 0, possiblyDuplicated);
    }

    [Fact]
    public void Destination_LeavesOutCredentials()
    {
        Assert.Equal("b1:9093,b2:9093", KafkaSinkDestination("alice:secret@b1:9093, b2:9093"));
    }

    private static string KafkaSinkDestination(string bootstrap)
    {
        var sink = new KafkaSink(new ProducerConfig { BootstrapServers = bootstrap, SaslPassword = "secret" }, "t");
        try
        {
            Assert.DoesNotContain("secret", sink.Destination, StringComparison.Ordinal);
            return sink.Destination["kafka://".Length..^"/t".Length];
        }
        finally
        {
            sink.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private sealed record Consumed(int Partition, long Sequence, string Key, byte[] Value, string Kind);

    /// <summary>Reads every partition from the start until <paramref name="count"/> messages came, and a little longer to catch extras.</summary>
    private static List<Consumed> Consume(DevBroker broker, string topic, int count)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = broker.BootstrapServers,
            GroupId = topic + "-check",
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).Build();
        consumer.Assign(Enumerable.Range(0, Partitions).Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var messages = new List<Consumed>();
        var atEnd = new HashSet<int>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((messages.Count < count || atEnd.Count < Partitions) && DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result is null)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                atEnd.Add(result.Partition.Value);
                continue;
            }

            atEnd.Remove(result.Partition.Value);
            var headers = result.Message.Headers;
            messages.Add(new Consumed(
                result.Partition.Value,
                long.Parse(Encoding.ASCII.GetString(headers.GetLastBytes(KafkaSink.SequenceHeader)), CultureInfo.InvariantCulture),
                Encoding.UTF8.GetString(result.Message.Key),
                result.Message.Value,
                Encoding.UTF8.GetString(headers.GetLastBytes(KafkaSink.KindHeader))));
        }

        consumer.Close();
        return messages;
    }
}
