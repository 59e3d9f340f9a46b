using System.Net;

namespace Visibility.Web.Hosting;

/// <summary>
/// Until authentication exists, the API may only listen on loopback: flow data maps an estate, and anyone who
/// can reach an unauthenticated port could read it. (DESIGN.md: <c>Auth:Disabled</c> is refused off loopback.)
/// </summary>
public static class ListenGuard
{
    /// <summary>Returns why <paramref name="urls"/> are refused, or null when every address is loopback.</summary>
    public static string? Check(string urls)
    {
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
            {
                return $"Visibility:Http:Urls has an invalid URL '{url}'";
            }

            var loopback = uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
            if (!loopback)
            {
                return $"refusing to listen on '{url}': authentication is not available in this version, so the API " +
                    "listens on loopback addresses only (127.0.0.1, [::1], localhost). Put an authenticating proxy in front to expose it.";
            }
        }

        return null;
    }
}
