using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Visibility.Web.Http;

namespace Visibility.Tests.Web;

/// <summary>
/// The HTTP limits' pieces on a real Kestrel listener in this process, with a stand-in for authentication (a header
/// naming the principal) so per-principal budgets can be shown before authentication exists. The whole program
/// is tested over HTTP in the end-to-end project (HttpLimitsEndToEndTests).
/// </summary>
public sealed class HttpLimitsTests
{
    [Fact]
    public void Defaults_AreValid()
    {
        var limits = new LimitsOptions();
        Assert.True(Validator.TryValidateObject(limits, new ValidationContext(limits), null, validateAllProperties: true));
        Assert.True(new HttpOptionsValidator().Validate(null, new HttpOptions()).Succeeded);
        Assert.Empty(new HttpOptions().CorsOrigins);
        Assert.True(limits.MaxImportBodyBytes >= limits.MaxRequestBodyBytes);
    }

    [Fact]
    public void HttpOptions_HttpsUrlWithoutCertificate_OrAWildcardOrigin_FailNamingTheSetting()
    {
        var https = new HttpOptions { Urls = "http://127.0.0.1:5080;https://127.0.0.1:5443" };
        var failure = Assert.Single(new HttpOptionsValidator().Validate(null, https).Failures!);
        Assert.Contains("'https://127.0.0.1:5443' but no certificate: set Visibility:Http:Certificate:Path", failure, StringComparison.Ordinal);

        var cors = new HttpOptions();
        cors.CorsOrigins.AddRange(["https://console.example", "*", "https://console.example/", "ftp://x.example"]);
        var failures = new HttpOptionsValidator().Validate(null, cors).Failures!.ToList();
        Assert.Equal(3, failures.Count);
        Assert.All(failures, f => Assert.StartsWith("Visibility:Http:CorsOrigins: '", f, StringComparison.Ordinal));
    }

    [Fact]
    public void HttpsCertificate_LoadsPemWithSeparateKey_PemWithKeyInside_AndPfx_WithTheirKeys()
    {
        using var dir = new TempDirectory("visibility-http", create: true);
        using var generated = SelfSigned();
        var certPem = Path.Combine(dir.Path, "cert.pem");
        var keyPem = Path.Combine(dir.Path, "key.pem");
        var bothPem = Path.Combine(dir.Path, "both.pem");
        var pfx = Path.Combine(dir.Path, "server.pfx");
        using var key = generated.GetRSAPrivateKey()!;
        File.WriteAllText(certPem, generated.ExportCertificatePem());
        File.WriteAllText(keyPem, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(bothPem, generated.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(pfx, generated.Export(X509ContentType.Pkcs12, "secret"));

        foreach (var options in new[]
        {
            new CertificateOptions { Path = certPem, KeyPath = keyPem },
            new CertificateOptions { Path = bothPem },
            new CertificateOptions { Path = pfx, Password = "secret" },
        })
        {
            using var loaded = HttpsCertificate.Load(options);
            Assert.True(loaded.HasPrivateKey);
            Assert.Equal(generated.Thumbprint, loaded.Thumbprint);
        }

        Assert.Contains("has no private key", Assert.Throws<InvalidDataException>(() => HttpsCertificate.Load(new CertificateOptions { Path = certPem })).Message, StringComparison.Ordinal);
        Assert.StartsWith("Visibility:Http:Certificate: cannot load", Assert.Throws<InvalidDataException>(() => HttpsCertificate.Load(new CertificateOptions { Path = pfx, Password = "wrong" })).Message, StringComparison.Ordinal);
        Assert.StartsWith("Visibility:Http:Certificate: cannot load", Assert.Throws<InvalidDataException>(() => HttpsCertificate.Load(new CertificateOptions { Path = Path.Combine(dir.Path, "missing.pem") })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RateLimit_EachPrincipalAndEachAnonymousAddress_HasItsOwnBudget_ProbesAreExempt()
    {
        // Three requests at once, then one a minute: the fourth within the test is over the budget.
        await using var server = await TestServer.StartAsync(new() { ["Visibility:Limits:RequestsPerMinute"] = "1", ["Visibility:Limits:Burst"] = "3" });

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.GetAsync("/api/v1/ping", principal: "alice")).StatusCode);
        }

        using var limited = await server.GetAsync("/api/v1/ping", principal: "alice");
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
        var retryAfter = limited.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        var problem = JsonDocument.Parse(await limited.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Equal("Visibility:Limits:RequestsPerMinute", problem.GetProperty("limit").GetString());
        Assert.Contains("1 requests per minute, bursts of 3", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Another principal from the same address is not affected; neither is the anonymous address partition.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.GetAsync("/api/v1/ping", principal: "bob")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await server.GetAsync("/api/v1/ping", principal: "bob")).StatusCode);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.GetAsync("/api/v1/ping")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await server.GetAsync("/api/v1/ping")).StatusCode);

        // Probes and scrapes answer however busy their caller has been.
        foreach (var path in new[] { "/healthz", "/readyz", "/metrics" })
        {
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await server.GetAsync(path)).StatusCode);
            }
        }

        Assert.Equal(3, server.Services.GetRequiredService<HttpLimitMetrics>().RateLimitedCount);
    }

    [Fact]
    public async Task RateLimit_Zero_TurnsItOff()
    {
        await using var server = await TestServer.StartAsync(new() { ["Visibility:Limits:RequestsPerMinute"] = "0", ["Visibility:Limits:Burst"] = "1" });
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await server.GetAsync("/api/v1/ping")).StatusCode);
        }
    }

    [Fact]
    public async Task Cors_ClosedByDefault_OpenToExactlyTheConfiguredOrigins()
    {
        await using (var closed = await TestServer.StartAsync([]))
        {
            using var simple = await closed.GetAsync("/api/v1/ping", origin: "https://console.example");
            Assert.Equal(HttpStatusCode.OK, simple.StatusCode);
            Assert.False(simple.Headers.Contains("Access-Control-Allow-Origin"));
            using var preflight = await closed.PreflightAsync("/api/v1/ping", "https://console.example");
            Assert.False(preflight.Headers.Contains("Access-Control-Allow-Origin"));
        }

        // As one ;-separated value, the way an environment variable sets it.
        await using var open = await TestServer.StartAsync(new() { ["Visibility:Http:CorsOrigins"] = "https://console.example; http://localhost:3000" });
        using (var allowed = await open.GetAsync("/api/v1/ping", origin: "https://console.example"))
        {
            Assert.Equal("https://console.example", Assert.Single(allowed.Headers.GetValues("Access-Control-Allow-Origin")));
        }

        using (var preflight = await open.PreflightAsync("/api/v1/ping", "http://localhost:3000"))
        {
            Assert.Equal("http://localhost:3000", Assert.Single(preflight.Headers.GetValues("Access-Control-Allow-Origin")));
            Assert.Contains("authorization", string.Join(",", preflight.Headers.GetValues("Access-Control-Allow-Headers")), StringComparison.OrdinalIgnoreCase);
        }

        foreach (var other in new[] { "https://evil.example", "https://console.example.evil.example", "http://console.example" })
        {
            using var refused = await open.GetAsync("/api/v1/ping", origin: other);
            Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"), other);
        }
    }

    [Fact]
    public async Task SecurityHeaders_OnEveryResponse_NoStoreOnTheApiOnly_NoHstsOverHttp()
    {
        await using var server = await TestServer.StartAsync([]);
        using var api = await server.GetAsync("/api/v1/ping");
        using var page = await server.GetAsync("/page");
        using var missing = await server.GetAsync("/api/v1/nothing-here");
        using var failed = await server.GetAsync("/api/v1/fail");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        foreach (var response in new[] { api, page, missing, failed })
        {
            Assert.Equal(HttpLimits.ContentSecurityPolicy, Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
            Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
            Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
            Assert.Equal("same-origin", Assert.Single(response.Headers.GetValues("Cross-Origin-Opener-Policy")));
            Assert.Equal(HttpLimits.PermissionsPolicy, Assert.Single(response.Headers.GetValues("Permissions-Policy")));
            Assert.False(response.Headers.Contains("Strict-Transport-Security"));
            Assert.False(response.Headers.Contains("Server"));
        }

        Assert.Contains("frame-ancestors 'none'", HttpLimits.ContentSecurityPolicy, StringComparison.Ordinal);
        Assert.True(api.Headers.CacheControl?.NoStore);
        Assert.Null(page.Headers.CacheControl);
    }

    [Fact]
    public async Task RequestBody_OverTheLimit_Is413NamingIt_DeclaredOrChunked_TheImportRouteHasItsOwn()
    {
        await using var server = await TestServer.StartAsync(new()
        {
            ["Visibility:Limits:MaxRequestBodyBytes"] = "1000",
            ["Visibility:Limits:MaxImportBodyBytes"] = "5000",
        });

        using (var fits = await server.PutAsync("/api/v1/echo", new string('x', 1000), chunked: false))
        {
            Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
            Assert.Equal("1000", await fits.Content.ReadAsStringAsync());
        }

        foreach (var chunked in new[] { false, true })
        {
            using var tooLarge = await server.PutAsync("/api/v1/echo", new string('x', 1001), chunked);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
            var problem = JsonDocument.Parse(await tooLarge.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("the request body is larger than 1000 bytes (Visibility:Limits:MaxRequestBodyBytes)", problem.GetProperty("detail").GetString());
        }

        // A typed body parameter reads the body inside the framework, which answers a bare 413 itself.
        using (var typed = await server.PutAsync("/api/v1/typed", $"{{\"text\": \"{new string('x', 2000)}\"}}", chunked: true))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, typed.StatusCode);
            Assert.Contains("(Visibility:Limits:MaxRequestBodyBytes)", await typed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var import = await server.PutAsync(HttpLimits.ImportPath, new string('x', 4000), chunked: false))
        {
            Assert.Equal(HttpStatusCode.OK, import.StatusCode);
        }

        using (var import = await server.PutAsync(HttpLimits.ImportPath, new string('x', 5001), chunked: true))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, import.StatusCode);
            Assert.Contains("larger than 5000 bytes (Visibility:Limits:MaxImportBodyBytes)", await import.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(4, server.Services.GetRequiredService<HttpLimitMetrics>().BodyTooLargeCount);
        using var metrics = await server.GetAsync("/metrics");
        Assert.Equal("body_too_large 4", await metrics.Content.ReadAsStringAsync());
    }

    internal static X509Certificate2 SelfSigned()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>
    /// A host with the limits in the order <c>serve</c> uses, a stand-in authentication (header
    /// <c>X-Test-Principal</c>) where real authentication will go, and a few routes.
    /// </summary>
    private sealed class TestServer : IAsyncDisposable
    {
        private readonly WebApplication app;
        private readonly TempDirectory root;
        private readonly HttpClient http;

        private TestServer(WebApplication app, TempDirectory root, string url)
        {
            this.app = app;
            this.root = root;
            http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        }

        public IServiceProvider Services => app.Services;

        public static async Task<TestServer> StartAsync(Dictionary<string, string?> settings)
        {
            var root = new TempDirectory("visibility-http", create: true);
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = root.Path, EnvironmentName = "Production" });
            builder.Configuration.AddInMemoryCollection(settings);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            builder.Services.AddProblemDetails();
            builder.Services.AddVisibilityLimits(builder.Configuration);
            var app = builder.Build();
            app.UseExceptionHandler();
            app.UseStatusCodePages();
            app.UseSecurityHeaders();
            app.UseVisibilityCors();
            app.Use((context, next) =>
            {
                if (context.Request.Headers.TryGetValue("X-Test-Principal", out var name))
                {
                    context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, name.ToString())], "test"));
                }

                return next(context);
            });
            app.UseVisibilityLimits();
            app.MapGet("/api/v1/ping", () => "pong");
            app.MapGet("/api/v1/fail", IResult () => throw new InvalidOperationException("handler failure"));
            app.MapGet("/page", () => Results.Content("<!doctype html><p>page</p>", "text/html"));
            app.MapGet("/healthz", () => "ok");
            app.MapGet("/readyz", () => "ready");
            // Stands in for the scrape: the refusals counted (the Prometheus series are VisibilityInstruments').
            app.MapGet("/metrics", (HttpLimitMetrics metrics) => $"body_too_large {metrics.BodyTooLargeCount}");
            app.MapPut("/api/v1/echo", async (HttpRequest request) => (await new StreamReader(request.Body).ReadToEndAsync()).Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
            app.MapPut(HttpLimits.ImportPath, async (HttpRequest request) => (await new StreamReader(request.Body).ReadToEndAsync()).Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
            app.MapPut("/api/v1/typed", (TypedBody body) => body.Text.Length);
            await app.StartAsync();
            return new TestServer(app, root, app.Urls.Single());
        }

        public Task<HttpResponseMessage> GetAsync(string path, string? principal = null, string? origin = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (principal is not null)
            {
                request.Headers.Add("X-Test-Principal", principal);
            }

            if (origin is not null)
            {
                request.Headers.Add("Origin", origin);
            }

            return http.SendAsync(request);
        }

        public Task<HttpResponseMessage> PreflightAsync(string path, string origin)
        {
            var request = new HttpRequestMessage(HttpMethod.Options, path);
            request.Headers.Add("Origin", origin);
            request.Headers.Add("Access-Control-Request-Method", "PUT");
            request.Headers.Add("Access-Control-Request-Headers", "authorization, content-type");
            return http.SendAsync(request);
        }

        public Task<HttpResponseMessage> PutAsync(string path, string body, bool chunked)
        {
            HttpContent content = chunked ? new UnknownLengthContent(body) : new StringContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            return http.SendAsync(new HttpRequestMessage(HttpMethod.Put, path) { Content = content });
        }

        public async ValueTask DisposeAsync()
        {
            http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
            root.Dispose();
        }
    }

    private sealed record TypedBody(string Text);

    /// <summary>A body whose length is not declared up front, so it is sent chunked.</summary>
    private sealed class UnknownLengthContent(string text) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text)).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
