using Confluent.Kafka;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;

namespace Visibility.Tests.Kafka;

/// <summary>The ingest watermark against the dev broker: a probe's time counts only once the store reached its end offsets.</summary>
public sealed class IngestWatermarkTests
{
    [Fact]
    public async Task Watermark_MovesOnlyWhenTheStoreReachedEveryPartitionsEnd()
    {
        await using var broker = DevBroker.Start(port: 0);
        broker.CreateTopic("wm", 2);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            for (var i = 0; i < 10; i++)
            {
                producer.Produce(new TopicPartition("wm", 0), new Message<Null, string> { Value = "m" + i });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(10)));
        }

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "wm" }).Build();
        var shared = new IngestWatermark();
        var member = new ConsumerWatermark(shared, TimeProvider.System);

        // Nothing assigned: no probe, no watermark.
        member.Probe(consumer, TimeSpan.FromSeconds(5));
        Assert.Null(shared.Until);

        var p0 = new TopicPartition("wm", 0);
        consumer.Assign([new TopicPartitionOffset(p0, Offset.Beginning), new TopicPartitionOffset("wm", 1, Offset.Beginning)]);
        var before = DateTimeOffset.UtcNow;
        member.Probe(consumer, TimeSpan.FromSeconds(5));
        Assert.Null(shared.Until);

        member.Stored(p0, 6);
        member.Probe(consumer, TimeSpan.FromSeconds(5));
        Assert.Null(shared.Until);

        // Partition 1 is empty (end 0): only partition 0 had to be reached.
        member.Stored(p0, 10);
        member.Probe(consumer, TimeSpan.FromSeconds(5));
        var until = Assert.NotNull(shared.Until);
        Assert.InRange(until, before, DateTimeOffset.UtcNow);

        // A second consumer that reached nothing holds the process's watermark back; leaving releases it.
        var other = new ConsumerWatermark(shared, TimeProvider.System);
        using (var lagging = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "wm2" }).Build())
        {
            lagging.Assign([new TopicPartitionOffset(p0, Offset.Beginning)]);
            other.Probe(lagging, TimeSpan.FromSeconds(5));
            Assert.Equal(until, shared.Until);
            other.Stored(p0, 10);
            other.Probe(lagging, TimeSpan.FromSeconds(5));
            member.Probe(consumer, TimeSpan.FromSeconds(5));
            Assert.True(shared.Until > until);
        }

        other.Leave();
        member.Leave();
        Assert.Null(shared.Until);
    }
}
