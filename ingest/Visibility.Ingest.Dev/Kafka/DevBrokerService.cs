using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Visibility.Ingest.Kafka;

/// <summary>
/// Starts the development broker in this process (registered when no cluster is configured), with the flows and
/// dead-letter topics, and publishes the bootstrap address.
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
