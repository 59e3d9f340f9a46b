using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Visibility.Ingest.Kafka;

namespace Visibility.Tests.Kafka;

/// <summary>TLS and SASL settings reach librdkafka from configuration, unchanged.</summary>
public sealed class KafkaClientConfigTests
{
    [Fact]
    public void Properties_FromEnvironmentStyleConfiguration_ReachEveryClientConfig()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Visibility:Kafka:Properties:security.protocol"] = "SASL_SSL",
            ["Visibility:Kafka:Properties:sasl.mechanism"] = "SCRAM-SHA-512",
            ["Visibility:Kafka:Properties:sasl.username"] = "ingest",
            ["Visibility:Kafka:Properties:ssl.ca.location"] = "/etc/kafka/ca.pem",
        }).Build();
        var options = new KafkaOptions();
        configuration.GetSection(KafkaOptions.Section).Bind(options);

        var consumer = KafkaClientConfig.Apply(new ConsumerConfig(), options, "broker-1:9093");
        var producer = KafkaClientConfig.Apply(new ProducerConfig(), options, "broker-1:9093");

        foreach (ClientConfig config in new ClientConfig[] { consumer, producer })
        {
            // As librdkafka will read them: the raw key/value pairs.
            Assert.Equal("SASL_SSL", config.Get("security.protocol"));
            Assert.Equal("SCRAM-SHA-512", config.Get("sasl.mechanism"));
            Assert.Equal("ingest", config.Get("sasl.username"));
            Assert.Equal("/etc/kafka/ca.pem", config.Get("ssl.ca.location"));
            Assert.Equal("broker-1:9093", config.BootstrapServers);
        }
    }

    [Fact]
    public void Properties_AreHandedToLibrdkafka_WhichRejectsAnInvalidOneByName()
    {
        var options = new KafkaOptions();
        options.Properties["security.protocol"] = "carrier-pigeon";

        var error = Assert.ThrowsAny<Exception>(() =>
        {
            using var consumer = new ConsumerBuilder<byte[], byte[]>(KafkaClientConfig.Apply(new ConsumerConfig { GroupId = "g" }, options, "127.0.0.1:1")).Build();
        });

        Assert.Contains("security.protocol", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GroupInstanceId_FromConfiguration_NamesEachConsumerAndNoProducer()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Visibility:Kafka:GroupInstanceId"] = "visibility-ingest-2",
        }).Build();
        var options = new KafkaOptions();
        configuration.GetSection(KafkaOptions.Section).Bind(options);

        // One consumer per process (the StatefulSet's pods): the pod name itself; several: one id each, since two
        // live members with one id fence each other.
        Assert.Equal("visibility-ingest-2", KafkaClientConfig.GroupInstanceId(options, 0, 1));
        Assert.Equal("visibility-ingest-2-0", KafkaClientConfig.GroupInstanceId(options, 0, 2));
        Assert.Equal("visibility-ingest-2-1", KafkaClientConfig.GroupInstanceId(options, 1, 2));
        Assert.Null(KafkaClientConfig.GroupInstanceId(new KafkaOptions(), 0, 1));

        // The pass-through alone never sets it, so producers built from the same options do not carry it.
        Assert.Null(KafkaClientConfig.Apply(new ProducerConfig(), options, "broker-1:9092").Get("group.instance.id"));
        var consumer = KafkaClientConfig.Apply(new ConsumerConfig { GroupId = "g" }, options, "broker-1:9092");
        consumer.GroupInstanceId = KafkaClientConfig.GroupInstanceId(options, 0, 1);
        Assert.Equal("visibility-ingest-2", consumer.Get("group.instance.id"));
        using var built = new ConsumerBuilder<byte[], byte[]>(consumer).Build();
    }
}
