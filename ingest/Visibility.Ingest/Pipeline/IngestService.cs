using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Runs this process's ingest consumers. If one fails for a reason it cannot recover from, the process stops
/// rather than limp on with fewer consumers than configured.
/// </summary>
public sealed class IngestService(
    IFlowWriter store,
    IOptions<DecoderSettings> decoding,
    ILabelLookup labels,
    IngestMetrics metrics,
    KafkaEndpoint endpoint,
    IOptions<IngestOptions> options,
    IOptions<KafkaOptions> kafka,
    FindingRules findings,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggers,
    IngestWatermark? watermark = null) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        var logger = loggers.CreateLogger<IngestService>();
        try
        {
            var bootstrap = await endpoint.GetAsync(stoppingToken);
            using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(
                    KafkaClientConfig.Apply(new ProducerConfig { EnableIdempotence = true, LingerMs = 20 }, kafka.Value, bootstrap))
                .SetLogHandler(KafkaLog.Handler(loggers.CreateLogger($"{KafkaLog.Category}.dead-letters")))
                .Build();
            // The development broker in this process started empty before this service: progress older than now is of an earlier log.
            DateTime? logsCreatedAt = null;
            if (string.IsNullOrWhiteSpace(kafka.Value.BootstrapServers))
            {
                logsCreatedAt = DateTime.UtcNow;
                // The in-process development broker (librdkafka's mock) completes a rebalance only when a member's
                // session times out: 45 s by default. Short sessions let a second consumer in within seconds.
                kafka.Value.Properties.TryAdd("session.timeout.ms", "6000");
                kafka.Value.Properties.TryAdd("heartbeat.interval.ms", "500");
            }

            var decoders = kafka.Value.TopicFormats().ToDictionary(t => t.Key, t => DecoderRegistry.Create(t.Value, decoding.Value), StringComparer.Ordinal);
            var consumers = Enumerable.Range(0, options.Value.Consumers)
                .Select(i => new IngestConsumer(store, decoders, labels, metrics, options.Value, kafka.Value, deadLetters,
                    loggers.CreateLogger($"{typeof(IngestConsumer).FullName}[{i}]"), findings, watermark, logsCreatedAt,
                    loggers.CreateLogger($"{KafkaLog.Category}.ingest[{i}]"),
                    KafkaClientConfig.GroupInstanceId(kafka.Value, i, options.Value.Consumers)))
                .Select(c => c.RunAsync(bootstrap, stoppingToken))
                .ToList();
            logger.LogInformation("Ingesting {Topics} with {Consumers} consumer(s) in group {Group}",
                string.Join(", ", decoders.Select(d => $"{d.Key} ({d.Value.Format})")), consumers.Count, kafka.Value.GroupId);
            await Task.WhenAll(consumers);
            deadLetters.Flush(TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            logger.LogCritical(ex, "Ingest failed; stopping the process");
            lifetime.StopApplication();
        }
    }
}
