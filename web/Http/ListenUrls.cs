namespace Visibility.Web.Http;

/// <summary>
/// Where the API listens, and which setting said so. One setting decides, the first of:
/// <list type="number">
/// <item><c>Visibility:Http:Urls</c> (<c>Visibility__Http__Urls</c>), URLs separated by <c>;</c>; set together with
/// <c>Kestrel:Endpoints</c> (which Kestrel would prefer, unseen by the guard) the start is refused;</item>
/// <item>ASP.NET Core's own endpoint configuration, <c>Kestrel:Endpoints:&lt;name&gt;:Url</c> (<c>Kestrel__Endpoints__…</c>);</item>
/// <item><c>ASPNETCORE_URLS</c> (or <c>DOTNET_URLS</c>);</item>
/// <item>the default, <c>http://127.0.0.1:5080</c>.</item>
/// </list>
/// <c>ASPNETCORE_HTTP_PORTS</c>/<c>HTTPS_PORTS</c> are not honoured: the .NET container images set
/// <c>ASPNETCORE_HTTP_PORTS=8080</c> on their own, which would move the API to every address without anyone asking.
/// The loopback guard of <see cref="ListenGuard"/> checks the URLs chosen here.
/// </summary>
public sealed record ListenUrls(IReadOnlyList<string> Urls, string Source)
{
    /// <summary>Why these settings cannot be used together; null when they can.</summary>
    public string? Conflict { get; init; }

    public const string Default = "http://127.0.0.1:5080";

    /// <summary>Whether the program passes <see cref="Urls"/> to the host itself (otherwise ASP.NET Core reads its own setting).</summary>
    public bool Overrides => Source is HttpOptions.Section + ":Urls" or "the default";

    public static ListenUrls Resolve(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var endpoints = configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>().Where(u => u.Length > 0).ToList();
        if (Split(configuration[$"{HttpOptions.Section}:Urls"]) is { Count: > 0 } visibility)
        {
            return new ListenUrls(visibility, $"{HttpOptions.Section}:Urls")
            {
                Conflict = endpoints.Count == 0 ? null :
                    $"{HttpOptions.Section}:Urls and Kestrel:Endpoints are both set; set one of them (Kestrel would listen on Kestrel:Endpoints only)",
            };
        }

        if (endpoints.Count > 0)
        {
            return new ListenUrls(endpoints, "Kestrel:Endpoints");
        }

        // WebApplication reads ASPNETCORE_- and DOTNET_-prefixed variables into configuration without the prefix.
        if (Split(configuration["urls"]) is { Count: > 0 } urls)
        {
            return new ListenUrls(urls, "ASPNETCORE_URLS");
        }

        return new ListenUrls([Default], "the default");
    }

    /// <summary>Makes the host listen on <see cref="Urls"/> when this program chose them; otherwise ASP.NET Core binds its own setting.</summary>
    public void Apply(IWebHostBuilder host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (Overrides)
        {
            host.UseUrls([.. Urls]);
        }
    }

    /// <summary>The first URL, with a wildcard host shown as 127.0.0.1 (for the printed link).</summary>
    public string First =>
        Urls[0].Replace("://*", "://127.0.0.1", StringComparison.Ordinal).Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal).TrimEnd('/');

    private static List<string> Split(string? urls) =>
        urls is null ? [] : [.. urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}
