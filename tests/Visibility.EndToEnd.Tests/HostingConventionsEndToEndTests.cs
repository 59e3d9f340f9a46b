using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Issue 18, item 4: ASP.NET Core's hosting conventions. <c>ASPNETCORE_URLS</c> is honoured when
/// <c>Visibility:Http:Urls</c> is not set, under the same loopback guard; <c>X-Forwarded-For</c> is believed from
/// configured proxies only.
/// </summary>
public sealed class HostingConventionsEndToEndTests
{
    [Fact]
    public async Task AspNetCoreUrls_WithoutVisibilityUrls_ServesThere()
    {
        using var data = new TempDirectory("visibility-urls");
        var port = FreePorts.Tcp();
        await using var serve = VisibilityProcess.Start(data.Path, environment: new Dictionary<string, string>
        {
            ["Visibility__Http__Urls"] = "",
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["Visibility__Kafka__Embedded"] = "true",
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await serve.WaitAsync(() => StatusAsync(http, "/readyz"), status => status == HttpStatusCode.OK, TimeSpan.FromSeconds(60), $"/readyz on the ASPNETCORE_URLS port {port}");
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "/api/v1/workloads"));
        Assert.Contains($"Now listening on: http://127.0.0.1:{port}", serve.Output, StringComparison.Ordinal);
        await serve.StopAsync();
    }

    [Fact]
    public async Task AspNetCoreUrls_OnEveryAddressWithAuthenticationOff_IsRefusedNamingTheSetting()
    {
        var (exit, _, stderr) = await VisibilityProcess.RunCommandAsync(["serve"], new Dictionary<string, string>
        {
            ["Visibility__Http__Urls"] = "",
            ["ASPNETCORE_URLS"] = $"http://0.0.0.0:{FreePorts.Tcp()}",
            ["Visibility__Auth__Disabled"] = "true",
            ["Visibility__Kafka__Embedded"] = "true",
        });
        Assert.Equal(1, exit);
        Assert.Contains("Visibility:Auth:Disabled=true is refused", stderr, StringComparison.Ordinal);
        Assert.Contains("from ASPNETCORE_URLS", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForwardedFor_BelievedFromConfiguredProxyOnly_AuditLogNamesTheRealClient()
    {
        // The trusted proxy is 127.0.0.2 (any 127.x address reaches loopback); a client connecting from 127.0.0.1 is
        // not a proxy, and its X-Forwarded-For is a claim nobody checks.
        using var data = new TempDirectory("visibility-forwarded");
        await using var serve = VisibilityProcess.Start(data.Path, environment: new Dictionary<string, string>
        {
            ["Visibility__Http__ForwardedHeaders__KnownNetworks"] = "127.0.0.2/32",
            ["Visibility__Kafka__Embedded"] = "true",
        });
        await serve.WaitReadyAsync(TimeSpan.FromSeconds(60));

        using var direct = Client(serve.BaseUrl, IPAddress.Parse("127.0.0.1"));
        using var proxy = Client(serve.BaseUrl, IPAddress.Parse("127.0.0.2"));
        Assert.Equal(HttpStatusCode.OK, await UpsertAsync(direct, "203.0.113.7"));
        Assert.Equal(HttpStatusCode.OK, await UpsertAsync(proxy, "198.51.100.9"));

        using var audit = JsonDocument.Parse(await serve.Http.GetStringAsync("/api/v1/audit?action=workloads.upsert"));
        var remotes = audit.RootElement.EnumerateArray().Select(e => e.GetProperty("remote").GetString()).ToList();
        Assert.Equal(["127.0.0.1", "198.51.100.9"], remotes.Order(StringComparer.Ordinal));
        await serve.StopAsync();
    }

    private static async Task<HttpStatusCode> UpsertAsync(HttpClient client, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, "/api/v1/workloads") 
        {
            Content = new StringContent("""[{"name": "forwarded", "addresses": ["10.1.2.3"], "labels": {"app": "api"}}]""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>An HTTP client whose connections come from <paramref name="local"/>.</summary>
    private static HttpClient Client(string baseUrl, IPAddress local) =>
        new(new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellation) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, cancellation);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        { BaseAddress = new Uri(baseUrl) };

    private static async Task<HttpStatusCode> StatusAsync(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }
}
