using System.CommandLine;
using Visibility.Flows;
using Visibility.Flows.Store;
using Visibility.Ingest;
using Visibility.Ingest.Kafka;
using Visibility.Query;
using Visibility.Query.Export;
using Visibility.Query.Policy;
using Visibility.Web.Api;
using Visibility.Web.Auth;
using Visibility.Web.Commands;
using Visibility.Web.Http;

namespace Visibility.Web.Hosting;

/// <summary>
/// <c>serve</c>: API, UI and ingest in one process, and the management listener beside the API's
/// (<see cref="ManagementEndpoint"/>); <c>ingest</c>: the workers alone, listening only on the management listener
/// (health and metrics without a key). The program's composition root: services, then middleware and endpoints in
/// the order a request meets them.
/// </summary>
public static class ServeCommand
{
    public static Command CreateServe()
    {
        var demo = CliOptions.Flag("--demo", "also run the demo estate and traffic (with the embedded Kafka broker unless a cluster is configured)");
        var command = new Command("serve", "API, map UI and ingest workers in one process (the default command)").With(demo);
        command.SetAction((parse, _) => RunAsync(ingestOnly: false, parse.GetValue(demo)));
        return command;
    }

    public static Command CreateIngest()
    {
        var command = new Command("ingest",
            "ingest workers only, with health and metrics over HTTP (run several to scale out: they share one consumer group)");
        command.SetAction((_, _) => RunAsync(ingestOnly: true, demo: false));
        return command;
    }

    public static async Task<int> RunAsync(bool ingestOnly, bool demo)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        var configuration = builder.Configuration;
        ConfigurationCheck.ThrowOnUnknownKeys(configuration);
        var listen = ListenUrls.Resolve(configuration);
        var auth = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        var loopbackOnly = ListenGuard.IsLoopbackOnly(listen, out var urlError);
        if (!ingestOnly && (urlError ?? VisibilityAuth.Check(auth, loopbackOnly)) is { } refusal)
        {
            await Console.Error.WriteLineAsync($"visibility: {refusal}{(urlError is null ? $" (listen URLs {string.Join(';', listen.Urls)}, from {listen.Source})" : "")}");
            return ExitCodes.Error;
        }

        var embeddedBroker = EmbeddedBroker(configuration, ingestOnly ? "ingest" : "serve", demo);

        // ingest answers only probes and scrapes: it listens on the management listener alone.
        var managementUrls = ManagementEndpoint.Urls(configuration);
        if (ingestOnly)
        {
            builder.WebHost.UseUrls(managementUrls);
        }
        else
        {
            listen.Apply(builder.WebHost);
            builder.Services.PostConfigure<HttpOptions>(http => http.Urls = string.Join(';', listen.Urls));
        }

        builder.Logging.AddUtcConsoleTimestamps();
        builder.Services.AddVisibilityTracing(configuration);
        builder.Services.AddVisibilityServices(configuration, auth, ingestOnly, demo, embeddedBroker);
        if (ingestOnly)
        {
            var worker = builder.Build();
            TelemetryServices.StartInstruments(worker.Services);
            await worker.Services.OpenStoreAsync(CancellationToken.None);
            worker.MapManagementEndpoints();
            await worker.RunAsync();
            return ExitCodes.Ok;
        }

        var app = builder.Build();
        TelemetryServices.StartInstruments(app.Services);
        await app.Services.OpenStoreAsync(CancellationToken.None);
        await AuthBootstrap.RunAsync(app.Services, auth, demo, listen.First, Console.Out, CancellationToken.None);

        // Middleware. The client behind a trusted proxy first, so that rate limits, audit and logs see it; who is calling
        // comes before the rate limits: they are per principal (per address for anonymous calls).
        app.UseVisibilityForwardedHeaders();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSecurityHeaders();
        app.UseVisibilityCors();
        app.UseAuthentication();
        app.UseVisibilityLimits();
        app.UseDefaultFiles();

        // The page's code is public: it holds no data, and the API it calls wants a key like any other client.
        app.UseStaticFiles();
        app.UseAuthorization();

        // Endpoints. Readiness and OpenAPI for any role (the fallback policy); metrics name every sink of every scope, so admins only.
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapHealthAndMetrics();

        // Everything under /api/v1 needs at least a viewer; each group narrows its writes further.
        var api = app.MapGroup("/api/v1").RequireAuthorization(AccessPolicies.Read);
        api.MapWorkloadsApi();
        api.MapQueryApi();
        api.MapViewsApi();
        api.MapExportApi();
        api.MapPolicyApi();
        api.MapRulesetsApi();
        api.MapSecurityApi();

        // Probes and scrapes without a key, on their own listener (the API's keys, revoked or not, play no part),
        // once the API listens: ready then means the API answers. It stops after the API, so probes see the drain.
        await using (app)
        {
            await app.StartAsync();
            var (management, managementError) = await ManagementEndpoint.StartListenerAsync(app.Services, managementUrls);
            if (management is null)
            {
                await Console.Error.WriteLineAsync($"visibility: {managementError}");
                await app.StopAsync();
                return ExitCodes.Error;
            }

            await using (management)
            {
                await app.WaitForShutdownAsync();
                await management.StopAsync();
            }
        }

        return ExitCodes.Ok;
    }

    /// <summary>
    /// The program's services. Hosted ones start in the order added (store, broker, inventory, ingest, demo, export)
    /// and stop in reverse. <see cref="ConfigurationCheck"/> calls this on a scratch collection to learn every
    /// options type the program binds, so register each option section here.
    /// </summary>
    public static IServiceCollection AddVisibilityServices(this IServiceCollection services, IConfiguration configuration, AuthOptions auth, bool ingestOnly, bool demo, bool embeddedBroker)
    {
        services.AddFlowModel(configuration);
        services.AddFlowStore(configuration);
        if (embeddedBroker)
        {
            services.AddDevBroker();
        }

        services.AddIngest(configuration);
        services.AddManagement();
        if (ingestOnly)
        {
            return services;
        }

        if (demo)
        {
            services.AddDemoTraffic();
        }

        services.AddQuery(configuration);
        services.AddPolicy(configuration);
        services.AddRulesets();
        IngestExportLink.AddIngestExportLink(services);
        services.AddExport(configuration);
        services.AddVisibilityApi();
        // Read before the host is built (the refusal above); bound too, so the section is known like every other.
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section);
        services.AddVisibilityAuth(auth);
        services.AddVisibilityLimits(configuration);
        return services;
    }

    /// <summary>
    /// Whether to start the development broker in this process: only when asked (<c>Visibility:Kafka:Embedded=true</c>
    /// or <c>serve --demo</c>) and no cluster is configured. Neither: a <see cref="SettingsException"/> naming both settings.
    /// </summary>
    private static bool EmbeddedBroker(ConfigurationManager configuration, string verb, bool demo)
    {
        if (IngestServices.HasKafkaCluster(configuration))
        {
            return false;
        }

        var text = configuration[$"{KafkaOptions.Section}:Embedded"];
        if (!string.IsNullOrWhiteSpace(text) && !bool.TryParse(text, out _))
        {
            throw new SettingsException($"Visibility:Kafka:Embedded is '{text}': true or false");
        }

        if (demo || (bool.TryParse(text, out var embedded) && embedded))
        {
            return true;
        }

        throw new SettingsException(
            $"{verb} needs a Kafka cluster: set Visibility__Kafka__BootstrapServers=host:9092[,host:9092] (Visibility:Kafka:BootstrapServers), " +
            "or Visibility__Kafka__Embedded=true for the development broker inside this process " +
            "(it keeps 5 MiB per partition and drops older records: demos and tests only; `make demo` and `serve --demo` use it)");
    }
}
