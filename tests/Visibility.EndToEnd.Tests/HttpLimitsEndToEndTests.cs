using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The HTTP limits of the real program over real HTTP and HTTPS: body sizes (413 naming the limit), the limits of
/// queries and bodies already in the API (400 naming them), a long URL (414), the per-principal rate limit (429
/// with Retry-After; probes exempt), security headers, CORS for configured origins only, HTTPS with a certificate
/// generated here, and the start-up error for an https URL without one.
/// </summary>
public sealed class HttpLimitsEndToEndTests : IDisposable
{
    private const string ConsoleOrigin = "https://console.example";
    private const int Burst = 150;
    private readonly TempDirectory data = new("visibility-limits-e2e");

    public HttpLimitsEndToEndTests() => Directory.CreateDirectory(data.Path);

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task Serve_OverHttpAndHttps_RefusesWhatIsOverALimit_WithA4xxNamingIt()
    {
        using var certificate = SelfSigned();
        var certPath = Path.Combine(data.Path, "server.crt");
        var keyPath = Path.Combine(data.Path, "server.key");
        using (var key = certificate.GetRSAPrivateKey()!)
        {
            await File.WriteAllTextAsync(certPath, certificate.ExportCertificatePem());
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
        }

        var httpsPort = FreePorts.Tcp();
        await using var service = VisibilityProcess.Start(Path.Combine(data.Path, "store"), environment: new Dictionary<string, string>
        {
            ["Visibility__Http__Certificate__Path"] = certPath,
            ["Visibility__Http__Certificate__KeyPath"] = keyPath,
            ["Visibility__Http__CorsOrigins"] = ConsoleOrigin,
            // A bucket of Burst requests refilled at one a minute: everything below fits, then the budget runs out.
            ["Visibility__Limits__RequestsPerMinute"] = "1",
            ["Visibility__Limits__Burst"] = Burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, extraUrls: $"https://127.0.0.1:{httpsPort}");
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        var requests = 0;

        // HTTPS with the configured certificate (trusted here by its thumbprint alone), HSTS on HTTPS only.
        using var tls = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented?.Thumbprint == certificate.Thumbprint,
        };
        using var https = new HttpClient(tls) { BaseAddress = new Uri($"https://127.0.0.1:{httpsPort}"), Timeout = TimeSpan.FromSeconds(30) };
        using (var page = await https.GetAsync("/"))
        {
            requests++;
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            Assert.Equal("max-age=31536000", Assert.Single(page.Headers.GetValues("Strict-Transport-Security")));
            AssertSecurityHeaders(page);
            Assert.Null(page.Headers.CacheControl);
        }

        using (var script = await https.GetAsync("/assets/index.js"))
        {
            requests++;
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            AssertSecurityHeaders(script);
        }

        using (var page = await service.Http.GetAsync("/"))
        {
            requests++;
            Assert.False(page.Headers.Contains("Strict-Transport-Security"));
            AssertSecurityHeaders(page);
        }

        // The API: never cached; CORS headers for the configured origin only.
        foreach (var (origin, allowed) in new[] { (ConsoleOrigin, true), ("https://evil.example", false), ("http://console.example", false) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/workloads");
            request.Headers.Add("Origin", origin);
            using var response = await service.Http.SendAsync(request);
            requests++;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.CacheControl?.NoStore);
            AssertSecurityHeaders(response);
            Assert.Equal(allowed ? [origin] : [], response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? values.ToArray() : []);
        }

        // Request bodies: 16 MiB by default, declared or chunked, and 64 MiB for the Kubernetes import.
        const int Mib = 1024 * 1024;
        using (var response = await SendAsync(service.Http, HttpMethod.Put, "/api/v1/workloads", new byte[(16 * Mib) + 1], chunked: false))
        {
            requests++;
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "the request body is larger than 16777216 bytes (Visibility:Limits:MaxRequestBodyBytes)");
        }

        using (var response = await SendAsync(https, HttpMethod.Post, "/api/v1/views", Encoding.UTF8.GetBytes($"{{\"name\": \"{new string('v', 17 * Mib)}\"}}"), chunked: true))
        {
            requests++;
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "(Visibility:Limits:MaxRequestBodyBytes)");
        }

        using (var response = await SendAsync(service.Http, HttpMethod.Put, "/api/v1/workloads/kubernetes", PodList(20 * Mib), chunked: false))
        {
            requests++;
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            Assert.Equal(1, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("upserted").GetInt32());
        }

        using (var response = await SendAsync(service.Http, HttpMethod.Put, "/api/v1/workloads/kubernetes", PodList((64 * Mib) + 1), chunked: false))
        {
            requests++;
            await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "the request body is larger than 67108864 bytes (Visibility:Limits:MaxImportBodyBytes)");
        }

        // The API's own limits: a 400 whose detail names the limit.
        var filter = Uri.EscapeDataString(new string('a', 4097));
        var nested = Uri.EscapeDataString(new string('(', 33) + "port = 1" + new string(')', 33));
        var from = DateTimeOffset.UtcNow.AddDays(-401).ToUnixTimeSeconds();
        foreach (var (url, expected) in new[]
        {
            ($"/api/v1/graph?filter={filter}", "filter is longer than 4096 characters"),
            ($"/api/v1/flows?filter={nested}", "filter nests deeper than 32 levels"),
            ($"/api/v1/graph?from={from}", "the time range is longer than 400 days"),
            ("/api/v1/graph?limit=100001", "limit must be from 1 to 100000"),
            ("/api/v1/flows?limit=10001", "limit must be from 1 to 10000"),
            ("/api/v1/findings?limit=10001", "limit must be from 1 to 10000"),
            ("/api/v1/export/records?content=summaries&last=7d&interval=1s", "the range holds more than 10000 intervals of 1s"),
        })
        {
            using var response = await service.Http.GetAsync(url);
            requests++;
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, expected);
        }

        var workloads = Enumerable.Range(0, 10_001).Select(i => new { name = $"w{i}", addresses = new[] { $"10.{i / 65536}.{i / 256 % 256}.{i % 256}" } });
        using (var response = await service.Http.PutAsJsonAsync("/api/v1/workloads", workloads))
        {
            requests++;
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "at most 10000 workloads per request");
        }

        var rule = new
        {
            name = "r",
            source = new { kind = "workload", labels = new Dictionary<string, string> { ["app"] = "a" } },
            destination = new { kind = "workload", labels = new Dictionary<string, string> { ["app"] = "b" } },
            ports = new[] { new { protocol = "tcp", from = 443, to = 443 } },
        };
        var ruleset = new { schema = "visibility.policy/v1", name = "big", groupBy = new[] { "app" }, rules = Enumerable.Repeat(rule, 10_001) };
        using (var response = await service.Http.PostAsJsonAsync("/api/v1/policy/simulate", new { ruleset, last = "1h" }))
        {
            requests++;
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "10001 rules; at most 10000");
        }

        // A URL longer than the request line limit (16 KiB) is refused by the server itself, before any handler.
        using (var response = await service.Http.GetAsync("/api/v1/graph?filter=" + new string('a', 17 * 1024)))
        {
            requests++;
            Assert.Equal(HttpStatusCode.RequestUriTooLong, response.StatusCode);
        }

        // The rate limit: the rest of the budget, then 429 (for HTTP and HTTPS alike: one client address). The 414
        // never reached the application, so it took no token.
        requests--;
        Assert.True(requests < Burst);
        HttpResponseMessage? limited = null;
        var accepted = 0;
        for (var i = 0; i < Burst + 10 && limited is null; i++)
        {
            var response = await (i % 2 == 0 ? service.Http : https).GetAsync("/api/v1/workloads");
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                accepted++;
                response.Dispose();
            }
        }

        Assert.NotNull(limited);
        Assert.InRange(requests + accepted, Burst, Burst + 1); // + 1: a token may have been refilled meanwhile
        using (limited)
        {
            Assert.InRange(limited!.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
            AssertSecurityHeaders(limited);
            var problem = await AssertProblemAsync(limited, HttpStatusCode.TooManyRequests, "rate limit exceeded: 1 requests per minute, bursts of 150");
            Assert.Equal("Visibility:Limits:RequestsPerMinute", problem.GetProperty("limit").GetString());
        }

        using (var page = await https.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, page.StatusCode);
        }

        // Probes and scrapes are never limited, and the metrics count what was refused.
        Assert.Equal(HttpStatusCode.OK, (await service.Http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await service.Http.GetAsync("/readyz")).StatusCode);
        var metrics = await service.Http.GetStringAsync("/metrics");
        Assert.Contains("visibility_http_rejected_total{reason=\"body_too_large\"} 3", metrics, StringComparison.Ordinal);
        Assert.Contains("visibility_http_rejected_total{reason=\"rate_limit\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_HttpsUrlWithoutAUsableCertificate_RefusesToStart_NamingTheSetting()
    {
        var environment = new Dictionary<string, string>
        {
            ["Visibility__Store__Path"] = Path.Combine(data.Path, "store"),
            ["Visibility__Kafka__BootstrapServers"] = "",
            ["Visibility__Kafka__Embedded"] = "true",
            ["Visibility__Kafka__DevBrokerPort"] = FreePorts.Tcp().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Visibility__Http__Urls"] = $"https://127.0.0.1:{FreePorts.Tcp()}",
        };
        var (code, _, stderr) = await VisibilityProcess.RunCommandAsync(["serve"], environment);
        Assert.Equal(1, code);
        Assert.Contains("but no certificate: set Visibility:Http:Certificate:Path", stderr, StringComparison.Ordinal);

        var garbage = Path.Combine(data.Path, "garbage.pem");
        await File.WriteAllTextAsync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
        environment["Visibility__Http__Certificate__Path"] = garbage;
        environment["Visibility__Http__Certificate__KeyPath"] = garbage;
        (code, _, stderr) = await VisibilityProcess.RunCommandAsync(["serve"], environment);
        Assert.Equal(1, code);
        Assert.Contains($"Visibility:Http:Certificate: cannot load '{garbage}'", stderr, StringComparison.Ordinal);
    }

    private static void AssertSecurityHeaders(HttpResponseMessage response)
    {
        var csp = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.StartsWith("default-src 'none'; script-src 'self'; style-src 'self' 'sha256-", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
        Assert.Equal("same-origin", Assert.Single(response.Headers.GetValues("Cross-Origin-Opener-Policy")));
        Assert.StartsWith("accelerometer=()", Assert.Single(response.Headers.GetValues("Permissions-Policy")), StringComparison.Ordinal);
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detail)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        return problem;
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, byte[] body, bool chunked)
    {
        HttpContent content = chunked ? new UnknownLengthContent(body) : new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        return http.SendAsync(new HttpRequestMessage(method, path) { Content = content });
    }

    /// <summary>kubectl output with one pod, padded to <paramref name="size"/> bytes by an environment variable, as large manifests are.</summary>
    private static byte[] PodList(int size)
    {
        const string Head = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Pod\", " +
            "\"metadata\": {\"name\": \"big-0\", \"namespace\": \"limits\", \"labels\": {\"app\": \"big\"}}, " +
            "\"spec\": {\"containers\": [{\"name\": \"main\", \"env\": [{\"name\": \"PAD\", \"value\": \"";
        const string Tail = "\"}]}]}, \"status\": {\"phase\": \"Running\", \"podIP\": \"10.250.0.1\", \"podIPs\": [{\"ip\": \"10.250.0.1\"}]}}]}";
        var body = new byte[size];
        var head = Encoding.UTF8.GetBytes(Head);
        var tail = Encoding.UTF8.GetBytes(Tail);
        head.CopyTo(body, 0);
        body.AsSpan(head.Length, size - head.Length - tail.Length).Fill((byte)'x');
        tail.CopyTo(body, size - tail.Length);
        return body;
    }

    private static X509Certificate2 SelfSigned()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>A body whose length is not declared up front, so it is sent chunked.</summary>
    private sealed class UnknownLengthContent(byte[] body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
