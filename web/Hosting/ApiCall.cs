using System.Net;

namespace Visibility.Web.Hosting;

/// <summary>
/// How the CLI verbs that work through a running <c>visibility serve</c> reach its API: the base URL (<c>--url</c>,
/// <c>VISIBILITY_URL</c>), and one call whose failures print one line — unreachable, or the API's problem detail.
/// </summary>
public static class ApiCall
{
    public static string DefaultUrl => Environment.GetEnvironmentVariable("VISIBILITY_URL") ?? "http://127.0.0.1:5080";

    public static HttpClient Client(string url, TimeSpan timeout) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? new HttpClient { BaseAddress = uri, Timeout = timeout }
            : throw new UsageException($"--url '{url}' is not an http(s) URL");

    /// <summary>The body of a 200 answer; null after printing why there is none (<paramref name="what"/> names the verb).</summary>
    public static async Task<string?> SendAsync(HttpClient http, string what, Func<Task<HttpResponseMessage>> send, Action? beforeError = null)
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
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return body;
            }

            beforeError?.Invoke();
            await Console.Error.WriteLineAsync($"visibility: {what}: {(int)response.StatusCode} {QueryCommand.ProblemText(body)}");
            return null;
        }
    }
}
