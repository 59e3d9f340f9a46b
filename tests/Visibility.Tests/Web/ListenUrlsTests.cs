using Microsoft.Extensions.Configuration;
using Visibility.Web.Http;

namespace Visibility.Tests.Web;

/// <summary>Which setting decides where the API listens, and the loopback guard on the URLs it chose.</summary>
public sealed class ListenUrlsTests
{
    [Fact]
    public void Resolve_VisibilityUrls_WinOverAspNetCoreUrls()
    {
        var listen = Resolve(new()
        {
            ["Visibility:Http:Urls"] = "http://127.0.0.1:7001; http://[::1]:7001",
            ["urls"] = "http://0.0.0.0:7003",
        });
        Assert.Equal(["http://127.0.0.1:7001", "http://[::1]:7001"], listen.Urls);
        Assert.Equal("Visibility:Http:Urls", listen.Source);
        Assert.True(listen.Overrides);
        Assert.True(ListenGuard.IsLoopbackOnly(listen, out _));
    }

    [Fact]
    public void Resolve_KestrelEndpoints_ThenAspNetCoreUrls_ThenTheDefault()
    {
        var kestrel = Resolve(new() { ["Kestrel:Endpoints:api:Url"] = "http://0.0.0.0:7002", ["urls"] = "http://127.0.0.1:7003" });
        Assert.Equal(("Kestrel:Endpoints", false), (kestrel.Source, kestrel.Overrides));
        Assert.False(ListenGuard.IsLoopbackOnly(kestrel, out _));

        var urls = Resolve(new() { ["Visibility:Http:Urls"] = "", ["urls"] = "http://localhost:7003" });
        Assert.Equal(["http://localhost:7003"], urls.Urls);
        Assert.Equal("ASPNETCORE_URLS", urls.Source);
        Assert.True(ListenGuard.IsLoopbackOnly(urls, out _));

        var fallback = Resolve(new() { ["http_ports"] = "8080" });
        Assert.Equal([ListenUrls.Default], fallback.Urls);
        Assert.Equal(("the default", true), (fallback.Source, fallback.Overrides));
        Assert.Equal("http://127.0.0.1:5080", fallback.First);
    }

    [Fact]
    public void Guard_VisibilityUrlsAndKestrelEndpointsBothSet_Refused()
    {
        Assert.False(ListenGuard.IsLoopbackOnly(Resolve(new() { ["Visibility:Http:Urls"] = "http://127.0.0.1:7001", ["Kestrel:Endpoints:api:Url"] = "http://127.0.0.1:7002" }), out var error));
        Assert.StartsWith("Visibility:Http:Urls and Kestrel:Endpoints are both set", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Guard_InvalidUrl_NamesTheSettingItCameFrom()
    {
        Assert.False(ListenGuard.IsLoopbackOnly(Resolve(new() { ["urls"] = "not a url" }), out var error));
        Assert.Equal("ASPNETCORE_URLS has an invalid URL 'not a url'", error);
    }

    [Fact]
    public void ForwardedHeaders_BadProxyOrNetwork_NamedWithItsKey()
    {
        var settings = new ForwardedHeadersSettings { ForwardLimit = 0 };
        settings.KnownProxies.Add("10.0.0.300");
        settings.KnownNetworks.Add("10.42.0.0/99");
        settings.KnownNetworks.Add("10.42.0.0/16");
        Assert.Equal(
        [
            "Visibility:Http:ForwardedHeaders:KnownProxies: '10.0.0.300' is not an IP address",
            "Visibility:Http:ForwardedHeaders:KnownNetworks: '10.42.0.0/99' is not a network in CIDR notation (e.g. 10.42.0.0/16)",
            "Visibility:Http:ForwardedHeaders:ForwardLimit must be between 1 and 10",
        ], settings.Problems());
        Assert.False(new ForwardedHeadersSettings().Enabled);
        Assert.Empty(new ForwardedHeadersSettings().Problems());
    }

    private static ListenUrls Resolve(Dictionary<string, string?> settings) =>
        ListenUrls.Resolve(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
}
