using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export.Runtime;

namespace Visibility.Web.Hosting;

/// <summary>The export's view of the ingest in this process: its topics, its watermark, its brokers.</summary>
public sealed class IngestExportLink(IOptions<KafkaOptions> kafka, IOptions<IngestOptions> ingest, KafkaEndpoint endpoint, IngestWatermark watermark) : IIngestLink
{
    public IReadOnlyCollection<string> Topics { get; } = [.. kafka.Value.TopicFormats().Keys, kafka.Value.DeadLetterTopic];

    public Func<DateTimeOffset?>? StoredUntil => ingest.Value.Enabled ? () => watermark.Until : null;

    public async Task<ProducerConfig> BrokersAsync(CancellationToken cancellationToken) =>
        KafkaClientConfig.Apply(new ProducerConfig(), kafka.Value, await endpoint.GetAsync(cancellationToken));

    /// <summary>
    /// Registers the link. Ingest in this process probes its partitions' ends (<see cref="IngestWatermark"/>) only
    /// when something, the export, waits for its watermark.
    /// </summary>
    public static IServiceCollection AddIngestExportLink(IServiceCollection services)
    {
        services.AddSingleton<IngestWatermark>();
        services.AddSingleton<IIngestLink, IngestExportLink>();
        return services;
    }
}
