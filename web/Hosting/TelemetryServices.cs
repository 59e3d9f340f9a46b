using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Visibility.Flows.Store;
using Visibility.Query.Policy;

namespace Visibility.Web.Hosting;

/// <summary>
/// Metrics the platform's way: each component's counters through <see cref="System.Diagnostics.Metrics"/> (a meter per
/// component: <c>Visibility.Ingest</c>, <c>Visibility.Store</c>, <c>Visibility.Export</c>, <c>Visibility.Policy</c>,
/// <c>Visibility.Http</c>), ASP.NET Core's HTTP server and Kestrel meters and the runtime's <c>System.Runtime</c>
/// meter, collected by the OpenTelemetry SDK and exposed in Prometheus' text format on <c>/metrics</c>
/// (<see cref="ManagementEndpoint"/>). Every series is documented in README.md ("Metrics").
/// </summary>
public static class TelemetryServices
{
    /// <summary>The meters collected, beside the program's own: HTTP server, Kestrel and the runtime (GC, thread pool, memory).</summary>
    private static readonly string[] PlatformMeters = ["Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime"];

    public static IServiceCollection AddVisibilityTelemetry(this IServiceCollection services)
    {
        services.AddSingleton<VisibilityInstruments>();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("visibility"))
            .WithMetrics(metrics => metrics
                .AddMeter(VisibilityInstruments.MeterNames)
                .AddMeter(StoreTelemetry.MeterName, PolicyTelemetry.MeterName)
                .AddMeter(PlatformMeters)

                // The runtime's gauges named *.count would end in _count, which Prometheus keeps for histograms and
                // summaries (promtool check metrics refuses them): these four are renamed (README.md, "Metrics").
                .AddView("dotnet.assembly.count", "dotnet.assemblies.loaded")
                .AddView("dotnet.process.cpu.count", "dotnet.process.cpus")
                .AddView("dotnet.thread_pool.thread.count", "dotnet.thread_pool.threads")
                .AddView("dotnet.timer.count", "dotnet.timers")
                .AddPrometheusExporter(options =>
                {
                    // Series carry only their own labels, as they did before the SDK rendered them; target_info keeps the service.
                    options.ScopeInfoEnabled = false;

                    // Each scrape sees the counters of that moment (tests and the readiness detail compare them).
                    options.ScrapeResponseCacheDurationMilliseconds = 0;
                }));
        return services;
    }

    /// <summary>Creates the program's instruments (observable ones read the stages' counters at collection time only).</summary>
    public static void StartInstruments(IServiceProvider services) =>
        services.GetRequiredService<VisibilityInstruments>();
}
