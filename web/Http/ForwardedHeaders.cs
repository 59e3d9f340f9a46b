using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Visibility.Web.Http;

/// <summary>
/// <c>Visibility:Http:ForwardedHeaders</c>: the proxies (an Ingress controller, a load balancer) whose
/// <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> are believed. Empty (the default): none, and the client is
/// the connection's peer. A header from any other peer is ignored, so a client cannot claim another address to dodge
/// the per-address rate limit or to sign the audit log with it.
/// </summary>
public sealed class ForwardedHeadersSettings
{
    /// <summary>Proxy addresses (<c>10.0.0.5</c>, <c>fd00::5</c>); a list, or one string separated by <c>;</c>.</summary>
    public List<string> KnownProxies { get; } = [];

    /// <summary>Proxy networks in CIDR notation (<c>10.42.0.0/16</c>); a list, or one string separated by <c>;</c>.</summary>
    public List<string> KnownNetworks { get; } = [];

    /// <summary>
    /// How many proxies in a row are believed, counted from the nearest (1: one Ingress in front). Each must be a
    /// known proxy; the address before the last one believed is the client.
    /// </summary>
    public int ForwardLimit { get; set; } = 1;

    /// <summary>Whether any proxy is trusted.</summary>
    public bool Enabled => KnownProxies.Count > 0 || KnownNetworks.Count > 0;

    /// <summary>Problems with the settings, each naming its key.</summary>
    public IEnumerable<string> Problems()
    {
        const string Prefix = HttpOptions.Section + ":ForwardedHeaders";
        foreach (var proxy in KnownProxies.Where(p => !IPAddress.TryParse(p, out _)))
        {
            yield return $"{Prefix}:KnownProxies: '{proxy}' is not an IP address";
        }

        foreach (var network in KnownNetworks.Where(n => !System.Net.IPNetwork.TryParse(n, out _)))
        {
            yield return $"{Prefix}:KnownNetworks: '{network}' is not a network in CIDR notation (e.g. 10.42.0.0/16)";
        }

        if (ForwardLimit is < 1 or > 10)
        {
            yield return $"{Prefix}:ForwardLimit must be between 1 and 10";
        }
    }

    /// <summary>A single value (an environment variable) binds to no list element: split it like the listen URLs.</summary>
    internal static void AddDelimited(List<string> list, string? value)
    {
        foreach (var item in (value ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!list.Contains(item, StringComparer.Ordinal))
            {
                list.Add(item);
            }
        }
    }
}

/// <summary>The forwarded-headers middleware for <see cref="ForwardedHeadersSettings"/>: first in the pipeline, so everything after it (rate limits, audit, logs) sees the client.</summary>
public static class ForwardedHeadersSetup
{
    public static IApplicationBuilder UseVisibilityForwardedHeaders(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var settings = app.ApplicationServices.GetRequiredService<IOptions<HttpOptions>>().Value.ForwardedHeaders;
        if (!settings.Enabled)
        {
            return app;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor | Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedProto,
            ForwardLimit = settings.ForwardLimit,
        };

        // The framework's defaults trust loopback; only what is configured is trusted here.
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var proxy in settings.KnownProxies)
        {
            options.KnownProxies.Add(IPAddress.Parse(proxy));
        }

        foreach (var network in settings.KnownNetworks)
        {
            options.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(network));
        }

        return app.UseForwardedHeaders(options);
    }
}
