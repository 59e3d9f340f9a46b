using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Server;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Demo;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export.Streams;
using Visibility.Query.Findings;
using Visibility.Query.Flows;
using Visibility.Query.Graph;
using Visibility.Query.Policy;
using Visibility.Query.Views;

namespace Visibility.Web.Hosting;

public static class ServiceRegistration
{
    /// <summary>
    /// Store, inventory, Kafka and ingest. Hosted services start in this order (store, broker, ingest, demo) and
    /// stop in reverse.
    /// </summary>
    public static IServiceCollection AddVisibilityServices(this IServiceCollection services, IConfiguration configuration, bool demo)
    {
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<KafkaOptions>().BindConfiguration(KafkaOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<IngestOptions>().BindConfiguration(IngestOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<InventoryOptions>().BindConfiguration(InventoryOptions.Section);
        services.AddOptions<FindingsOptions>().BindConfiguration(FindingsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => new FindingRules(sp.GetRequiredService<IOptions<FindingsOptions>>().Value));

        services.AddSingleton<IValidateOptions<StoreOptions>, StoreOptionsValidator>();

        // An unknown mode registers the embedded store but never reaches it: StoreOptions validation stops the start.
        if (string.Equals(configuration["Visibility:Store:Mode"], "server", StringComparison.Ordinal))
        {
            services.AddSingleton<ServerFlowStore>();
            services.AddSingleton<IFlowStore>(sp => sp.GetRequiredService<ServerFlowStore>());
        }
        else
        {
            services.AddSingleton<IFlowStore, EmbeddedFlowStore>();
        }

        // Consumers take the part they use; each part is the one store.
        services.AddSingleton<IFlowWriter>(sp => sp.GetRequiredService<IFlowStore>());
        services.AddSingleton<IFlowReader>(sp => sp.GetRequiredService<IFlowStore>());
        services.AddSingleton<IFlowCatalog>(sp => sp.GetRequiredService<IFlowStore>());

        services.AddSingleton<WorkloadInventory>();
        services.AddSingleton<ILabelLookup>(sp => sp.GetRequiredService<WorkloadInventory>());
        services.AddOptions<DecoderSettings>().BindConfiguration("Visibility:Decoding")
            .Configure<Microsoft.Extensions.Options.IOptions<InventoryOptions>>((d, inventory) => d.Kubernetes = inventory.Value.Kubernetes);
        services.AddOptions<KafkaOptions>().Validate(
            k => k.TopicFormats().Values.All(f => DecoderRegistry.Formats.Contains(f, StringComparer.OrdinalIgnoreCase)),
            $"Visibility:Kafka:Format and Visibility:Kafka:Topics take one of: {string.Join(", ", DecoderRegistry.Formats)}");
        services.AddSingleton<IngestMetrics>();
        services.AddSingleton<KafkaEndpoint>();
        services.AddSingleton<Readiness>();
        services.AddSingleton(sp => new GraphQuery(
            sp.GetRequiredService<IFlowReader>(),
            sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions,
            sp.GetRequiredService<FindingRules>())
        {
            WorkloadCounter = sp.GetRequiredService<WorkloadInventory>().Count,
        });
        services.AddSingleton(sp => new FindingsQuery(
            sp.GetRequiredService<IFlowReader>(),
            sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions,
            sp.GetRequiredService<FindingRules>()));
        services.AddSingleton<FlowSearch>();
        services.AddSingleton(sp => new PolicyTraffic(sp.GetRequiredService<IFlowReader>(), sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions));
        services.AddSingleton(sp => new PolicyDrafter(sp.GetRequiredService<PolicyTraffic>(), sp.GetRequiredService<WorkloadInventory>().Settings.Networks));
        services.AddSingleton<PolicySimulator>();
        services.AddSingleton<SavedViewStore>();

        services.AddSingleton<InventoryFileWatcher>();
        services.AddHostedService<StoreStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<InventoryFileWatcher>());
        services.AddSingleton<DevBrokerService>();
        services.AddHostedService(sp => sp.GetRequiredService<DevBrokerService>());
        services.AddHostedService<IngestService>();
        if (demo)
        {
            services.AddHostedService<DemoTrafficService>();
        }

        return services;
    }

    /// <summary>SIEM export (serve only): the record source, its state in the store and the sinks' streams.</summary>
    public static IServiceCollection AddVisibilityExport(this IServiceCollection services)
    {
        services.AddOptions<ExportOptions>().BindConfiguration(ExportOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ExportOptions>>(sp =>
            new ExportOptionsValidator(sp.GetRequiredService<IOptions<StoreOptions>>(), sp.GetRequiredService<IOptions<KafkaOptions>>()));
        // Ingest in this process probes its partitions' ends only when something (the export) waits for its watermark.
        services.AddSingleton<IngestWatermark>();
        services.AddSingleton(sp => new ExportRecordSource(sp.GetRequiredService<FindingsQuery>(), sp.GetRequiredService<GraphQuery>()));
        services.AddSingleton(sp => new ExportStateStore(sp.GetRequiredService<IFlowReader>(), sp.GetRequiredService<IFlowCatalog>()));
        services.AddSingleton<ExportService>();
        services.AddHostedService(sp => sp.GetRequiredService<ExportService>());
        return services;
    }

    private sealed class ExportOptionsValidator(IOptions<StoreOptions> store, IOptions<KafkaOptions> kafka) : IValidateOptions<ExportOptions>
    {
        public ValidateOptionsResult Validate(string? name, ExportOptions options) =>
            options.Problems(store.Value.Path, kafka.Value).ToList() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
    }
}
