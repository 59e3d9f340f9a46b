using Visibility.Web.Api;
using Visibility.Web.Auth;

namespace Visibility.Web.Hosting;

/// <summary>
/// <c>serve</c>: API, UI and ingest in one process; <c>ingest</c>: the workers alone, with only health and metrics
/// over HTTP (no flow data, so those may listen on any address for Prometheus to scrape).
/// </summary>
public static class ServeCommand
{
    public static async Task<int> RunAsync(string[] args, bool ingestOnly)
    {
        var demo = false;
        foreach (var arg in args)
        {
            if (arg == "--demo" && !ingestOnly)
            {
                demo = true;
            }
            else
            {
                throw new UsageException($"{(ingestOnly ? "ingest" : "serve")} does not know '{arg}'");
            }
        }

        var settings = new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] };
        var builder = WebApplication.CreateBuilder(settings);
        var urls = builder.Configuration["Visibility:Http:Urls"] ?? "http://127.0.0.1:5080";
        if (ingestOnly)
        {
            builder.WebHost.UseUrls(urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            builder.Services.AddVisibilityServices(builder.Configuration, demo: false);
            var worker = builder.Build();
            await StoreStartup.PrepareAsync(worker.Services, CancellationToken.None);
            worker.MapHealthAndMetrics();
            await worker.RunAsync();
            return 0;
        }

        var loopbackOnly = ListenGuard.IsLoopbackOnly(urls, out var urlError);
        var auth = builder.Configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        if ((urlError ?? VisibilityAuth.Check(auth, loopbackOnly)) is { } refusal)
        {
            await Console.Error.WriteLineAsync($"visibility: {refusal}");
            return 1;
        }

        builder.WebHost.UseUrls(urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.Services.AddVisibilityServices(builder.Configuration, demo);
        builder.Services.AddVisibilityExport();
        builder.Services.AddVisibilityApi();
        builder.Services.AddVisibilityAuth(auth);
        builder.Services.AddVisibilityLimits(builder.Configuration);

        var app = builder.Build();
        await StoreStartup.PrepareAsync(app.Services, CancellationToken.None);
        await AuthBootstrap.RunAsync(app.Services, auth, demo, FirstUrl(urls), Console.Out, CancellationToken.None);
        app.MapVisibilityApi();
        await app.RunAsync();
        return 0;
    }

    /// <summary>The first listen URL, with a wildcard host shown as 127.0.0.1 (for the printed link).</summary>
    private static string FirstUrl(string urls) =>
        urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0]
            .Replace("://*", "://127.0.0.1", StringComparison.Ordinal).Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal).TrimEnd('/');
}
