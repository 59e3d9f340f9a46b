using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Ingest.Conntrack;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;

namespace Visibility.Ingest;

public static class IngestServices
{
    /// <summary>
    /// The inventory (<c>Visibility:Inventory</c>) and the Kafka ingest (<c>Visibility:Kafka</c>, <c>Visibility:Ingest</c>,
    /// <c>Visibility:Decoding</c>). Hosted services start in this order: the inventory's start (store, then stored
    /// workloads, then the file), the file watcher, the consumers.
    /// </summary>
    public static IServiceCollection AddIngest(this IServiceCollection services, IConfiguration configuration)
    {
        Visibility.Flows.Duration.UseInConfiguration();
        services.AddOptions<KafkaOptions>().BindConfiguration(KafkaOptions.Section).ValidateDataAnnotations().ValidateOnStart()
            .Validate(
                k => k.TopicFormats().Values.All(f => DecoderRegistry.Formats.Contains(f, StringComparer.OrdinalIgnoreCase)),
                $"{KafkaOptions.Section}:Format and {KafkaOptions.Section}:Topics take one of: {string.Join(", ", DecoderRegistry.Formats)}")
            .Validate(
                k => !k.Properties.ContainsKey("auto.offset.reset"),
                $"{KafkaOptions.Section}:Properties:auto.offset.reset is not passed to the client: set {KafkaOptions.Section}:AutoOffsetReset (earliest or latest), which also reports records lost to retention");
        services.AddOptions<IngestOptions>().BindConfiguration(IngestOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<InventoryOptions>().BindConfiguration(InventoryOptions.Section);
        services.AddOptions<ConntrackOptions>().BindConfiguration(ConntrackOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ConntrackOptions>, ConntrackOptionsValidator>();
        services.AddOptions<DecoderSettings>().BindConfiguration(DecoderSettings.Section)
            .Configure<IOptions<InventoryOptions>>((d, inventory) => d.Kubernetes = inventory.Value.Kubernetes)
            .Validate(d => d.AttemptWindow > TimeSpan.Zero, DecoderSettings.AttemptWindowProblem)
            .ValidateOnStart();

        services.AddSingleton<WorkloadInventory>();
        services.AddSingleton<ILabelLookup>(sp => sp.GetRequiredService<WorkloadInventory>());
        services.AddSingleton<IWorkloadCatalog>(sp => sp.GetRequiredService<WorkloadInventory>());
        services.AddSingleton<InventoryFileWatcher>();
        services.AddSingleton<Readiness>();
        services.AddSingleton<IngestMetrics>();
        services.AddSingleton<UnclosedConnections>();

        // The configured cluster is known now; without one, the development broker publishes its address when it starts.
        services.AddSingleton(sp =>
        {
            var endpoint = new KafkaEndpoint();
            var bootstrap = sp.GetRequiredService<IOptions<KafkaOptions>>().Value.BootstrapServers;
            if (!string.IsNullOrWhiteSpace(bootstrap))
            {
                endpoint.Set(bootstrap);
            }

            return endpoint;
        });

        services.AddHostedService<InventoryStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<InventoryFileWatcher>());
        services.AddHostedService<IngestService>();
        services.AddHostedService<UnclosedConnectionMonitor>();
        return services;
    }

    /// <summary>Whether <c>Visibility:Kafka:BootstrapServers</c> names a cluster (otherwise only the embedded development broker can serve).</summary>
    public static bool HasKafkaCluster(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration[$"{KafkaOptions.Section}:BootstrapServers"]);
}
