using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Visibility.Ingest.Kafka;

/// <summary>
/// Starts the development broker in this process (registered with <c>Visibility:Kafka:Embedded=true</c> or
/// <c>serve --demo</c> when no cluster is configured), with the flows and dead-letter topics, and publishes the
/// bootstrap address. The start log says what it keeps and drops.
/// </summary>
public sealed class DevBrokerService(IOptions<KafkaOptions> options, KafkaEndpoint endpoint, ILogger<DevBrokerService> logger) : IHostedService, IAsyncDisposable
{
    private DevBroker? broker;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var kafka = options.Value;
        broker = DevBroker.Start(kafka.DevBrokerPort, logger);
        foreach (var topic in kafka.TopicFormats().Keys)
        {
            broker.CreateTopic(topic, kafka.DevBrokerPartitions);
        }

        broker.CreateTopic(kafka.DeadLetterTopic, 1);
        endpoint.Set(broker.BootstrapServers);
        logger.LogWarning(
            "Embedded development Kafka broker (Visibility:Kafka:Embedded) on {Bootstrap}, {Partitions} partition(s) per topic. {Retention}",
            broker.BootstrapServers, kafka.DevBrokerPartitions, DevBroker.RetentionNote);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync();

    public async ValueTask DisposeAsync()
    {
        if (broker is not null)
        {
            await broker.DisposeAsync();
            broker = null;
        }
    }
}
