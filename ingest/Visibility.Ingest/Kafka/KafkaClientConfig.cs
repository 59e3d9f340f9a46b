using Confluent.Kafka;

namespace Visibility.Ingest.Kafka;

/// <summary>Builds client configurations with the configured pass-through properties (TLS, SASL).</summary>
public static class KafkaClientConfig
{
    public static T Apply<T>(T config, KafkaOptions options, string bootstrapServers)
        where T : ClientConfig
    {
        config.BootstrapServers = bootstrapServers;
        foreach (var (key, value) in options.Properties)
        {
            config.Set(key, value);
        }

        return config;
    }
}
