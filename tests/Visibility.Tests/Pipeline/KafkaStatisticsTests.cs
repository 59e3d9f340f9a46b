using Confluent.Kafka;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;

namespace Visibility.Tests.Pipeline;

/// <summary>librdkafka's own statistics of a real consumer (against the development broker), as the metrics read them.</summary>
public sealed class KafkaStatisticsTests
{
    [Fact]
    public async Task Current_ConsumerBehindTheEnd_ReportsLagPerPartitionAndTheBrokerUpWithRoundTrip()
    {
        await using var broker = DevBroker.Start(port: 0);
        const string topic = "stats";
        broker.CreateTopic(topic, 2);
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers }).Build())
        {
            for (var i = 0; i < 10; i++)
            {
                producer.Produce(new TopicPartition(topic, 0), new Message<Null, string> { Value = $"r{i}" });
            }

            for (var i = 0; i < 4; i++)
            {
                producer.Produce(new TopicPartition(topic, 1), new Message<Null, string> { Value = $"s{i}" });
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        var statistics = new KafkaStatistics();
        string? last = null;
        var config = new ConsumerConfig
        {
            BootstrapServers = broker.BootstrapServers,
            GroupId = "stats-" + Guid.NewGuid().ToString("N")[..8],
            EnableAutoCommit = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            StatisticsIntervalMs = 100,
        };
        using var consumer = new ConsumerBuilder<Ignore, string>(config)
            .SetStatisticsHandler((client, json) =>
            {
                last = json;
                statistics.Update(client.Name, json);
            })
            .Build();

        // librdkafka's consumer lag is from the committed offset (ingest commits once a batch is stored): partition 0
        // committed at 3 (7 behind), partition 1 at its end.
        consumer.Assign([new TopicPartitionOffset(topic, 0, 3), new TopicPartitionOffset(topic, 1, 4)]);
        consumer.Commit([new TopicPartitionOffset(topic, 0, 3), new TopicPartitionOffset(topic, 1, 4)]);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        KafkaClientStatistics? seen = null;
        while (DateTime.UtcNow < deadline)
        {
            // Polling serves the statistics callback; what it reads is not committed.
            consumer.Consume(TimeSpan.FromMilliseconds(50));
            seen = statistics.Current().SingleOrDefault();
            if (seen is { Partitions.Count: 2 } && seen.Brokers.Any(b => b is { Up: true, RoundTripSeconds: not null }))
            {
                break;
            }
        }

        Assert.NotNull(seen);
        Assert.Equal(consumer.Name, seen.Client);
        var lag = seen.Partitions.ToDictionary(p => p.Partition, p => p.Lag);
        Assert.Equal([0, 1], lag.Keys.Order());
        Assert.Equal(7, lag[0]);
        Assert.Equal(0, lag[1]);
        Assert.All(seen.Partitions, p => Assert.Equal(topic, p.Topic));
        var up = Assert.Single(seen.Brokers, b => b.Up && b.RoundTripSeconds is not null);
        Assert.Contains('/', up.Name);
        Assert.InRange(up.RoundTripSeconds!.Value, 0, 5);
        Assert.DoesNotContain(seen.Brokers, b => b.Name == "GroupCoordinator");
        Assert.True(statistics.Reported);

        // The fields the lag falls back on before a first commit are there, under these names.
        using var document = System.Text.Json.JsonDocument.Parse(last!);
        var fields = document.RootElement.GetProperty("topics").GetProperty(topic).GetProperty("partitions").GetProperty("0");
        foreach (var field in new[] { "consumer_lag", "desired", "hi_offset", "lo_offset", "app_offset" })
        {
            Assert.True(fields.TryGetProperty(field, out _), field);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("[1,2]")]
    [InlineData("{\"brokers\": 3, \"topics\": {\"t\": {\"partitions\": {\"0\": {\"consumer_lag\": \"x\"}}}}}")]
    public void Parse_NotStatistics_IsNullOrEmpty_NeverThrows(string json)
    {
        var parsed = KafkaStatistics.Parse(json);
        Assert.True(parsed is null || (parsed.Brokers.Count == 0 && parsed.Partitions.Count == 0), json);
    }

    [Fact]
    public void Parse_LagFromCommittedOffsetOrPosition_UnassignedAndUnknownLeftOut()
    {
        const string json = """
            {"name":"c#consumer-1","brokers":{"GroupCoordinator":{"state":"UP","rtt":{"avg":5,"cnt":1}},
              "127.0.0.1:9092/bootstrap":{"state":"DOWN","rtt":{"avg":0,"cnt":0}},
              "127.0.0.1:9093/1":{"state":"UP","rtt":{"avg":2500,"cnt":4}}},
             "topics":{"flows":{"partitions":{"-1":{"consumer_lag":-1,"hi_offset":9},
               "0":{"consumer_lag":-1,"desired":false,"hi_offset":50,"lo_offset":0,"app_offset":-1001},
               "1":{"consumer_lag":12,"hi_offset":50,"app_offset":45},
               "2":{"consumer_lag":-1,"desired":true,"hi_offset":50,"lo_offset":10,"app_offset":-1001},
               "3":{"consumer_lag":-1,"desired":true,"hi_offset":50,"lo_offset":10,"app_offset":30},
               "4":{"consumer_lag":-1,"desired":true,"hi_offset":-1001,"lo_offset":-1001,"app_offset":-1001}}}}}
            """;
        var parsed = KafkaStatistics.Parse(json)!;

        // 1: from the committed offset; 2 and 3, not committed yet: from the log start, then from the position.
        Assert.Equal(
            [new KafkaPartitionStatistics("flows", 1, 12), new KafkaPartitionStatistics("flows", 2, 40), new KafkaPartitionStatistics("flows", 3, 20)],
            parsed.Partitions);
        Assert.Equal(
            [new KafkaBrokerStatistics("127.0.0.1:9092/bootstrap", "DOWN", null), new KafkaBrokerStatistics("127.0.0.1:9093/1", "UP", 0.0025)],
            parsed.Brokers);
    }
}
