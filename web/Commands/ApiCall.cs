using System.Net;

namespace Visibility.Web.Commands;

/// <summary>
/// How the CLI verbs that work through a running <c>visibility serve</c> reach its API: the base URL (<c>--url</c>,
/// <c>VISIBILITY_URL</c>), and one call whose failures print one line — unreachable, or the API's problem detail.
/// </summary>
public static class ApiCall
{
    public static string DefaultUrl => Environment.GetEnvironmentVariable("VISIBILITY_URL") ?? "http://127.0.0.1:5080";

    /// <summary>The environment variable holding the API key (or OIDC token) the CLI sends; never a command-line option, so it stays out of process lists.</summary>
    public const string KeyVariable = "VISIBILITY_API_KEY";

    public static HttpClient Client(string url, TimeSpan timeout)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"--url '{url}' is not an http(s) URL");
        }

        var http = new HttpClient { BaseAddress = uri, Timeout = timeout };
        if (Environment.GetEnvironmentVariable(KeyVariable) is { Length: > 0 } key)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key.Trim());
        }

        return http;
    }

    /// <summary>The body of a 200 answer; null after printing why there is none (<paramref name="what"/> names the verb).</summary>
    public static async Task<string?> SendAsync(HttpClient http, string what, Func<Task<HttpResponseMessage>> send, Action? beforeError = null, HttpStatusCode expected = HttpStatusCode.OK)
    {
        HttpResponseMessage response;
        try
        {
            response = await send();
        }
        catch (HttpRequestException ex)
        {
            beforeError?.Invoke();
            await Console.Error.WriteLineAsync($"visibility: cannot reach {http.BaseAddress} ({ex.Message}); is `visibility serve` running there? (--url or VISIBILITY_URL)");
            return null;
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == expected)
            {
                return body;
            }

            beforeError?.Invoke();
            await Console.Error.WriteLineAsync($"visibility: {what}: {(int)response.StatusCode} {QueryCommand.ProblemText(body)}{Hint(response.StatusCode)}");
            return null;
        }
    }

    /// <summary>What to do about a 401 when no key was given.</summary>
    public static string Hint(HttpStatusCode status) =>
        status == HttpStatusCode.Unauthorized && Environment.GetEnvironmentVariable(KeyVariable) is not { Length: > 0 }
            ? $" (set {KeyVariable} to an API key)"
            : "";
}
