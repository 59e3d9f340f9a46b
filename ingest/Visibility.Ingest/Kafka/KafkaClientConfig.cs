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

    /// <summary>
    /// The <c>group.instance.id</c> of consumer <paramref name="member"/> of <paramref name="members"/> in this process:
    /// null without <see cref="KafkaOptions.GroupInstanceId"/>; the id itself for a single consumer; <c>id-member</c> otherwise.
    /// </summary>
    public static string? GroupInstanceId(KafkaOptions options, int member, int members) =>
        string.IsNullOrWhiteSpace(options.GroupInstanceId) ? null
        : members == 1 ? options.GroupInstanceId
        : $"{options.GroupInstanceId}-{member}";
}
