using System.Reflection;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query;

namespace Visibility.Web.Hosting;

/// <summary>
/// Tracing with OpenTelemetry: the spans of the <c>Visibility.Ingest</c>, <c>Visibility.Store</c> and
/// <c>Visibility.Query</c> activity sources and ASP.NET Core's request spans, exported over OTLP when the standard
/// <c>OTEL_*</c> variables ask for it (see <see cref="OtlpExportEnabled"/>), and off by default. Off, no tracer
/// provider is registered at all: nothing listens to the sources, so the pipeline and the queries start no span and
/// allocate nothing for tracing. The exporter itself reads the other <c>OTEL_EXPORTER_OTLP_*</c> variables
/// (protocol, headers, timeout) and <c>OTEL_SERVICE_NAME</c>/<c>OTEL_RESOURCE_ATTRIBUTES</c>.
/// </summary>
public static class TracingServices
{
    /// <summary>The activity sources of Visibility's own stages, in the order a record meets them.</summary>
    public static IReadOnlyList<string> SourceNames { get; } = [IngestTelemetry.SourceName, StoreTelemetry.SourceName, QueryTelemetry.SourceName];

    /// <summary>
    /// Registers tracing when <see cref="OtlpExportEnabled"/> holds for <paramref name="configuration"/> (which holds
    /// the environment), or when <paramref name="configure"/> adds an exporter of its own (tests: the in-memory one).
    /// Composes with other <c>AddOpenTelemetry()</c> calls (metrics).
    /// </summary>
    public static IServiceCollection AddVisibilityTracing(this IServiceCollection services, IConfiguration configuration, Action<TracerProviderBuilder>? configure = null)
    {
        var otlp = OtlpExportEnabled(configuration);
        if (StartNotice(configuration, otlp) is { } notice)
        {
            services.AddHostedService(sp => new TracingNotice(sp.GetRequiredService<ILogger<TracingNotice>>(), notice));
        }

        if (!otlp && configure is null)
        {
            return services;
        }

        services.AddOpenTelemetry()
            .ConfigureResource(resource =>
            {
                // OTEL_SERVICE_NAME, when set, names the service (the default resource reads it).
                if (string.IsNullOrWhiteSpace(configuration["OTEL_SERVICE_NAME"]))
                {
                    resource.AddService("visibility", serviceVersion: Version);
                }
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource([.. SourceNames]);
                tracing.AddAspNetCoreInstrumentation(o => o.Filter = context => !IsProbe(context.Request.Path));
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }

                configure?.Invoke(tracing);
            });
        return services;
    }

    /// <summary>
    /// Whether traces go out over OTLP. <c>OTEL_SDK_DISABLED=true</c> turns everything off; otherwise
    /// <c>OTEL_TRACES_EXPORTER</c> decides when set (<c>otlp</c> on; <c>none</c>, or any exporter this build does not
    /// carry, off); unset, an OTLP endpoint (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or
    /// <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c>) turns it on. Nothing set: off.
    /// </summary>
    public static bool OtlpExportEnabled(IConfiguration configuration)
    {
        if (string.Equals(configuration["OTEL_SDK_DISABLED"]?.Trim(), "true", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (configuration["OTEL_TRACES_EXPORTER"] is { } exporters && !string.IsNullOrWhiteSpace(exporters))
        {
            return exporters.Split(',', StringSplitOptions.TrimEntries).Contains("otlp", StringComparer.OrdinalIgnoreCase);
        }

        return !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
            || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
    }

    /// <summary>
    /// What the start log says of tracing: where traces go when exported, or why an exporter asked for is not used;
    /// null when nothing asked for tracing. The endpoint is shown without any user information it carries.
    /// </summary>
    public static (LogLevel Level, string Text)? StartNotice(IConfiguration configuration, bool otlp)
    {
        var endpoint = configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] is { Length: > 0 } traces ? traces : configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        if (otlp)
        {
            var shown = Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) ? $"{uri.Scheme}://{uri.Authority}{uri.AbsolutePath}" : "the exporter's default endpoint";
            return (LogLevel.Information, $"Tracing: spans of {string.Join(", ", SourceNames)} and HTTP requests exported over OTLP to {shown}");
        }

        var unknown = (configuration["OTEL_TRACES_EXPORTER"] ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(e => !e.Equals("none", StringComparison.OrdinalIgnoreCase) && !e.Equals("otlp", StringComparison.OrdinalIgnoreCase)).ToList();
        return unknown.Count > 0 && !string.Equals(configuration["OTEL_SDK_DISABLED"]?.Trim(), "true", StringComparison.OrdinalIgnoreCase)
            ? (LogLevel.Warning, $"Tracing is off: OTEL_TRACES_EXPORTER names {string.Join(", ", unknown)}, and this build exports traces over OTLP only (OTEL_TRACES_EXPORTER=otlp)")
            : null;
    }

    /// <summary>Probes and scrapes are not traced: they come every few seconds and say nothing about a request's path.</summary>
    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/metrics");

    private static string? Version =>
        typeof(TracingServices).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
}

/// <summary>Says at start where traces go, or why they do not (see <see cref="TracingServices.StartNotice"/>).</summary>
internal sealed class TracingNotice(ILogger<TracingNotice> logger, (LogLevel Level, string Text) notice) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        logger.Log(notice.Level, "{Notice}", notice.Text);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
