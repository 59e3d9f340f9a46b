using Visibility.Flows;
using Visibility.Flows.Store;
using Visibility.Ingest;
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
    public static async Task<int> RunAsync(string[] args, bool ingestOnly)
    {
        var demo = ParseArguments(args, ingestOnly);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        var configuration = builder.Configuration;
        var urls = configuration["Visibility:Http:Urls"] ?? "http://127.0.0.1:5080";
        var auth = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        var loopbackOnly = ListenGuard.IsLoopbackOnly(urls, out var urlError);
        if (!ingestOnly && (urlError ?? VisibilityAuth.Check(auth, loopbackOnly)) is { } refusal)
        {
            await Console.Error.WriteLineAsync($"visibility: {refusal}");
            return 1;
        }

        // ingest answers only probes and scrapes: it listens on the management listener alone.
        var managementUrls = ManagementEndpoint.Urls(configuration);
        builder.WebHost.UseUrls(ingestOnly ? managementUrls : urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        // Services. Hosted ones start in the order added (store, broker, inventory, ingest, demo, export) and stop in reverse.
        var services = builder.Services;
        services.AddFlowModel(configuration);
        services.AddFlowStore(configuration);
        if (!IngestServices.HasKafkaCluster(configuration))
        {
            services.AddDevBroker();
        }

        services.AddIngest(configuration);
        services.AddManagement();
        if (ingestOnly)
        {
            var worker = builder.Build();
            TelemetryServices.StartInstruments(worker.Services);
            await worker.Services.OpenStoreAsync(CancellationToken.None);
            worker.MapManagementEndpoints();
            await worker.RunAsync();
            return 0;
        }

        if (demo)
        {
            services.AddDemoTraffic();
        }

        services.AddQuery(configuration);
        services.AddPolicy(configuration);
        IngestExportLink.AddIngestExportLink(services);
        services.AddExport(configuration);
        services.AddVisibilityApi();
        services.AddVisibilityAuth(auth);
        services.AddVisibilityLimits(configuration);

        var app = builder.Build();
        TelemetryServices.StartInstruments(app.Services);
        await app.Services.OpenStoreAsync(CancellationToken.None);
        await AuthBootstrap.RunAsync(app.Services, auth, demo, FirstUrl(urls), Console.Out, CancellationToken.None);

        // Middleware. Who is calling comes before the rate limits: they are per principal (per address for anonymous calls).
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
                return 1;
            }

            await using (management)
            {
                await app.WaitForShutdownAsync();
                await management.StopAsync();
            }
        }

        return 0;
    }

    /// <summary>Whether <c>--demo</c> was given (serve only); anything else is a usage error.</summary>
    private static bool ParseArguments(string[] args, bool ingestOnly)
    {
        foreach (var arg in args)
        {
            if (arg != "--demo" || ingestOnly)
            {
                throw new UsageException($"{(ingestOnly ? "ingest" : "serve")} does not know '{arg}'");
            }
        }

        return args.Length > 0;
    }

    /// <summary>The first listen URL, with a wildcard host shown as 127.0.0.1 (for the printed link).</summary>
    private static string FirstUrl(string urls) =>
        urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0]
            .Replace("://*", "://127.0.0.1", StringComparison.Ordinal).Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal).TrimEnd('/');
}
