using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Query.Export.Runtime;
using Visibility.Query.Export.Streams;
using Visibility.Query.Findings;
using Visibility.Query.Graph;

namespace Visibility.Query.Export;

public static class ExportServices
{
    /// <summary>
    /// SIEM export (<c>Visibility:Export</c>): the record source, its state in the store and the sinks' streams. The
    /// program registers an <see cref="IIngestLink"/> for the ingest beside it.
    /// </summary>
    public static IServiceCollection AddExport(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ExportOptions>().BindConfiguration(ExportOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ExportOptions>, ExportOptionsValidator>();
        services.AddSingleton(sp => new ExportRecordSource(sp.GetRequiredService<FindingsQuery>(), sp.GetRequiredService<GraphQuery>()));
        services.AddSingleton(sp => new ExportStateStore(sp.GetRequiredService<IFlowReader>(), sp.GetRequiredService<IFlowCatalog>()));
        services.AddSingleton(sp => new ExportLease(new StoreLease(
            sp.GetRequiredService<IFlowReader>(), sp.GetRequiredService<IFlowCatalog>(), ExportLease.Name,
            Holder(sp.GetRequiredService<IOptions<StoreOptions>>().Value), sp.GetRequiredService<IOptions<ExportOptions>>().Value.LeaseDuration)));
        services.AddSingleton<ExportService>();
        services.AddHostedService(sp => sp.GetRequiredService<ExportService>());
        return services;
    }

    /// <summary>
    /// This process's name in the export lease. An embedded store is open in one process at a time (its file lock), so
    /// a process restarted after a crash may take its predecessor's lease at once: the name is the store's. On a
    /// server store every process has its own.
    /// </summary>
    private static string Holder(StoreOptions store) =>
        store.Mode == "embedded" ? $"export@{Environment.MachineName}:{Path.GetFullPath(store.Path)}" : StoreLease.ProcessHolder("export");

    private sealed class ExportOptionsValidator(IOptions<StoreOptions> store, IIngestLink ingest) : IValidateOptions<ExportOptions>
    {
        public ValidateOptionsResult Validate(string? name, ExportOptions options) =>
            options.Problems(store.Value.Path, ingest.Topics).ToList() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
    }
}
