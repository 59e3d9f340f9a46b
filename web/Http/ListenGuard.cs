using System.Net;

namespace Visibility.Web.Http;

/// <summary>
/// Which addresses <c>serve</c> listens on. With authentication on, any; with <c>Auth:Disabled</c>, loopback only:
/// flow data maps an estate, and anyone who can reach an unauthenticated port could read it (docs/security.md).
/// </summary>
public static class ListenGuard
{
    /// <summary>Whether every URL of <paramref name="urls"/> is loopback; <paramref name="error"/> names an unparsable one.</summary>
    public static bool IsLoopbackOnly(string urls, out string? error) =>
        IsLoopbackOnly(new ListenUrls([.. urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)], $"{HttpOptions.Section}:Urls"), out error);

    /// <summary>Whether every URL the API listens on is loopback; <paramref name="error"/> names an unparsable one and its setting.</summary>
    public static bool IsLoopbackOnly(ListenUrls listen, out string? error)
    {
        ArgumentNullException.ThrowIfNull(listen);
        error = listen.Conflict;
        if (error is not null)
        {
            return false;
        }

        var loopbackOnly = true;
        foreach (var url in listen.Urls)
        {
            // "localhost" is loopback (Kestrel binds 127.0.0.1 and ::1 for it); any other name may resolve anywhere.
            if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
            {
                error = $"{listen.Source} has an invalid URL '{url}'";
                return false;
            }

            loopbackOnly &= uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
        }

        return loopbackOnly;
    }
}
