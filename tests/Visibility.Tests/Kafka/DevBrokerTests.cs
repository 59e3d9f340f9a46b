using Confluent.Kafka;
using Visibility.Ingest.Kafka;

namespace Visibility.Tests.Kafka;

public sealed class DevBrokerTests
{
    [Fact]
    public async Task Kcat_ListsProducesAndConsumes_ThroughFixedBootstrapPort()
    {
        await using var broker = DevBroker.Start(port: 0);
        broker.CreateTopic("kcat-topic", 3);

        var (listCode, listing, listErr) = await ProcessRunner.RunAsync("kcat", ["-b", broker.BootstrapServers, "-L", "-t", "kcat-topic"]);
        Assert.True(listCode == 0, listErr);
        Assert.Contains("topic \"kcat-topic\" with 3 partitions", listing, StringComparison.Ordinal);

        var (produceCode, _, produceErr) = await ProcessRunner.RunAsync(
            "kcat", ["-b", broker.BootstrapServers, "-t", "kcat-topic", "-p", "0", "-P"], stdin: "one\ntwo\nthree\n");
        Assert.True(produceCode == 0, produceErr);

        var (consumeCode, consumed, consumeErr) = await ProcessRunner.RunAsync(
            "kcat", ["-b", broker.BootstrapServers, "-t", "kcat-topic", "-p", "0", "-C", "-o", "beginning", "-e", "-q"]);
        Assert.True(consumeCode == 0, consumeErr);
        Assert.Equal(["one", "two", "three"], consumed.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task ConfluentClients_RoundTripThroughBroker()
    {
        await using var broker = DevBroker.Start(port: 0);
        broker.CreateTopic("roundtrip", 4);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            for (var i = 0; i < 100; i++)
            {
                producer.Produce("roundtrip", new Message<Null, string> { Value = "m" + i });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(10)));
        }

        using var consumer = new ConsumerBuilder<Ignore, string>(new ConsumerConfig
        {
            BootstrapServers = broker.BootstrapServers,
            GroupId = "roundtrip-group",
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe("roundtrip");
        var seen = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (seen.Count < 100 && DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result?.Message is not null)
            {
                seen.Add(result.Message.Value);
            }
        }

        consumer.Close();
        Assert.Equal(100, seen.Count);
    }

    [Fact]
    public async Task Start_PortInUse_ExplainsWhichPort()
    {
        await using var first = DevBroker.Start(port: 0);
        var port = int.Parse(first.BootstrapServers.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        var error = Assert.Throws<IOException>(() => DevBroker.Start(port));
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
    }
}
