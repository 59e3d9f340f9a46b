using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;

namespace Visibility.Web.Hosting;

/// <summary>
/// The management listener (<c>Visibility:Management:Urls</c>, default <c>http://127.0.0.1:5081</c>): <c>/healthz</c>
/// (liveness), <c>/readyz</c> (ASP.NET Core health checks: store, broker, ingest, export sinks; the detail as JSON)
/// and <c>/metrics</c> (Prometheus), all without a credential, so probes and scrapes never depend on an API key. It
/// serves nothing else. <c>serve</c> runs it as a second, small web application beside the API's (its own Kestrel
/// and pipeline, no authentication) reading the API application's services; <c>ingest</c> listens only here.
/// </summary>
public static class ManagementEndpoint
{
    private const string ReadyTag = "ready";

    /// <summary>The health checks behind <c>/readyz</c> and the management options.</summary>
    public static IServiceCollection AddManagement(this IServiceCollection services)
    {
        services.AddOptions<ManagementOptions>().BindConfiguration(ManagementOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddHealthChecks()
            .AddCheck<StoreHealthCheck>("store", tags: [ReadyTag])
            .AddCheck<BrokerHealthCheck>("broker", tags: [ReadyTag])
            .AddCheck<IngestHealthCheck>("ingest", tags: [ReadyTag])
            .AddCheck<ExportHealthCheck>("export", tags: [ReadyTag])
            .AddCheck<SourceHealthCheck>("source", tags: [ReadyTag]);
        services.AddVisibilityTelemetry();
        return services;
    }

    /// <summary>The listen URLs of the management listener.</summary>
    public static string[] Urls(IConfiguration configuration) =>
        (configuration[$"{ManagementOptions.Section}:Urls"] is { Length: > 0 } urls ? urls : ManagementOptions.DefaultUrls)
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary><c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c> without a credential (the management listener's endpoints).</summary>
    public static void MapManagementEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/healthz", Liveness);
        endpoints.MapHealthChecks("/readyz", Readiness);
        endpoints.MapPrometheusScrapingEndpoint("/metrics");
    }

    /// <summary>On the API listener: <c>/healthz</c> open, <c>/readyz</c> for any role (the fallback policy), <c>/metrics</c> as the caller says.</summary>
    public static (IEndpointConventionBuilder Ready, IEndpointConventionBuilder Metrics) MapApiHealth(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/healthz", Liveness).AllowAnonymous();
        return (endpoints.MapHealthChecks("/readyz", Readiness), endpoints.MapPrometheusScrapingEndpoint("/metrics"));
    }

    /// <summary>
    /// Starts <c>serve</c>'s management listener: a web application of its own on <paramref name="urls"/> whose
    /// health checks and metrics are <paramref name="main"/>'s. Null and <paramref name="error"/> when it cannot listen.
    /// </summary>
    public static async Task<(WebApplication? Listener, string? Error)> StartListenerAsync(IServiceProvider main, string[] urls)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });

        // Of the process's configuration only the logging settings: Kestrel endpoints configured for the API must not
        // be bound a second time here.
        var configuration = main.GetRequiredService<IConfiguration>();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(configuration.GetSection("Logging").AsEnumerable());
        builder.WebHost.UseUrls(urls);
        builder.Services.AddSingleton(main.GetRequiredService<HealthCheckService>());
        builder.Services.AddSingleton(main.GetRequiredService<MeterProvider>());

        // The API application owns the process's lifetime (signals, the console): this one is stopped by it.
        builder.Services.AddSingleton<IHostLifetime, OwnedLifetime>();
        var listener = builder.Build();
        listener.MapManagementEndpoints();
        try
        {
            await listener.StartAsync();
            return (listener, null);
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidOperationException)
        {
            await listener.DisposeAsync();
            return (null, $"the management listener ({ManagementOptions.Section}:Urls = {string.Join(';', urls)}) cannot start: {ex.Message}");
        }
    }

    private static HealthCheckOptions Liveness { get; } = new() { Predicate = _ => false };

    private static HealthCheckOptions Readiness { get; } = new()
    {
        Predicate = check => check.Tags.Contains(ReadyTag),
        ResponseWriter = HealthReportJson.WriteAsync,
    };

    /// <summary>A lifetime that neither waits for signals nor stops the process: the owner stops this host.</summary>
    private sealed class OwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
