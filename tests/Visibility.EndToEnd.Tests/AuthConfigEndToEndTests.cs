using System.Net;
using System.Net.Http.Headers;

namespace Visibility.EndToEnd.Tests;

/// <summary>Where authentication may be off, which OIDC settings start, and the keys CLI on the store itself.</summary>
public sealed class AuthConfigEndToEndTests : IDisposable
{
    private readonly TempDirectory data = new("visibility-auth-config");

    public void Dispose() => data.Dispose();

    [Theory]
    [InlineData("http://0.0.0.0:{port}", "true", "", "authentication may be off only when every listen address is loopback")]
    [InlineData("http://127.0.0.1:{port};http://[::]:{port2}", "true", "", "authentication may be off only when every listen address is loopback")]
    [InlineData("http://127.0.0.1:{port}", "false", "http://idp.example/", "must be https")]
    [InlineData("http://127.0.0.1:{port}", "false", "not a url", "is not an http(s) URL")]
    public async Task Serve_RefusesUnsafeAuthSettings_WithTheReason(string urls, string disabled, string authority, string reason)
    {
        var result = await VisibilityProcess.RunCommandAsync(["serve"], new Dictionary<string, string>
        {
            ["Visibility__Store__Path"] = Path.Combine(data.Path, "store"),
            ["Visibility__Http__Urls"] = urls.Replace("{port}", FreePorts.Tcp().ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
                .Replace("{port2}", FreePorts.Tcp().ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal),
            ["Visibility__Auth__Disabled"] = disabled,
            ["Visibility__Auth__Oidc__Authority"] = authority,
        });
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(reason, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysCli_OnTheStore_ThenServeOnAllAddresses_AcceptsThatKeyAndPrintsNoNewOne()
    {
        var store = Path.Combine(data.Path, "store");
        var environment = new Dictionary<string, string> { ["Visibility__Store__Path"] = store };
        var created = await VisibilityProcess.RunCommandAsync(["keys", "create", "--role", "admin", "--name", "ops"], environment);
        Assert.True(created.ExitCode == 0, created.Stderr);
        var key = created.Stdout.Trim();
        Assert.Matches("^vis_[0-9a-f]{12}_[0-9a-f]{64}$", key);

        var listed = await VisibilityProcess.RunCommandAsync(["keys", "list"], environment);
        Assert.Contains("\"name\": \"ops\"", listed.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Split('_')[2], listed.Stdout, StringComparison.Ordinal);

        var bad = await VisibilityProcess.RunCommandAsync(["keys", "create", "--role", "owner", "--name", "x"], environment);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("role 'owner' is not one of", bad.Stderr, StringComparison.Ordinal);

        // With authentication on, serve may listen on every address; it finds the key and prints none of its own.
        var port = FreePorts.Tcp();
        await using var serve = VisibilityProcess.Start(store, environment: new Dictionary<string, string>
        {
            ["Visibility__Auth__Disabled"] = "false",
            ["Visibility__Http__Urls"] = $"http://0.0.0.0:{port}",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await serve.WaitAsync(
            async () =>
            {
                try
                {
                    using var response = await http.GetAsync("/healthz");
                    return response.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                    return false;
                }
            },
            static healthy => healthy, TimeSpan.FromSeconds(60), "/healthz 200", TimeSpan.FromMilliseconds(200));

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/readyz")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/keys")).StatusCode);
        Assert.DoesNotMatch(@"vis_[0-9a-f]{12}_[0-9a-f]{64}", serve.Output);

        // Revoked on the store by the CLI while serve runs? The embedded store is one process's: the CLI says so.
        var locked = await VisibilityProcess.RunCommandAsync(["keys", "revoke", key.Split('_')[1]], environment);
        Assert.Equal(1, locked.ExitCode);
        Assert.Contains("--url", locked.Stderr, StringComparison.Ordinal);
        var viaApi = await VisibilityProcess.RunCommandAsync(
            ["keys", "revoke", key.Split('_')[1], "--url", $"http://127.0.0.1:{port}"],
            new Dictionary<string, string> { ["VISIBILITY_API_KEY"] = key });
        Assert.True(viaApi.ExitCode == 0, viaApi.Stderr);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/v1/keys")).StatusCode);
    }
}
