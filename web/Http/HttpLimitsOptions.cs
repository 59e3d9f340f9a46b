using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Visibility.Web.Http;

/// <summary>
/// Configuration section <c>Visibility:Limits</c>: how much one request, and one principal, may ask of the server.
/// Limits of the query language itself (filter length and depth, time range, result sizes) are constants beside
/// the code they protect; these are the HTTP-level ones an operator tunes.
/// </summary>
public sealed class LimitsOptions
{
    public const string Section = "Visibility:Limits";

    /// <summary>
    /// The largest request body, in bytes (16 MiB). The largest bodies the API takes besides the Kubernetes import
    /// fit: 10,000 workloads (<c>PUT /api/v1/workloads</c>) are about 2 MB, and a policy diff of two 10,000-rule
    /// rulesets, indented as drafts print them, about 12 MB.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long MaxRequestBodyBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>
    /// The largest body of <c>PUT /api/v1/workloads/kubernetes</c> (kubectl JSON output), in bytes (64 MiB): about
    /// 10,000 pods — the most one request may import — at the 5–7 KB kubectl prints for a typical pod.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long MaxImportBodyBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// The longest request line (method, URL, version), in bytes. Kestrel's default is 8 KiB; a filter at its
    /// 4,096-character limit takes up to 12 KiB once URL-encoded, so the default is 16 KiB and a filter over the
    /// limit still reaches the parser, which names the limit. Longer lines get Kestrel's bare 414.
    /// </summary>
    [Range(1024, 1024 * 1024)]
    public int MaxRequestLineBytes { get; set; } = 16 * 1024;

    /// <summary>All request headers together, in bytes (Kestrel's default, 32 KiB; room for large bearer tokens). Over it: a bare 431.</summary>
    [Range(1024, 1024 * 1024)]
    public int MaxRequestHeadersBytes { get; set; } = 32 * 1024;

    /// <summary>
    /// Requests per minute each principal (or, unauthenticated, each client address) may make on average; 0 turns
    /// rate limiting off. <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c> are never limited.
    /// </summary>
    [Range(0, 1_000_000)]
    public int RequestsPerMinute { get; set; } = 1200;

    /// <summary>
    /// Requests a principal may make at once after being idle (the token bucket's size): 20 seconds' worth at the
    /// default rate, so a script paging through results or a burst of map interactions is not cut short.
    /// </summary>
    [Range(1, 1_000_000)]
    public int Burst { get; set; } = 400;

    /// <summary>
    /// Saved views one principal may own (100): enough for a person's or a team key's working set, while one
    /// principal alone fills at most a tenth of the store's 1,000 (<c>SavedViewStore.MaxViews</c>).
    /// </summary>
    [Range(1, Visibility.Query.Views.SavedViewStore.MaxViews)]
    public int MaxViewsPerPrincipal { get; set; } = 100;
}

/// <summary>Configuration section <c>Visibility:Http</c>: where the API listens, TLS, CORS and HSTS.</summary>
public sealed class HttpOptions
{
    public const string Section = "Visibility:Http";

    /// <summary>Listen URLs separated by <c>;</c>; <c>https://</c> ones need <see cref="Certificate"/>.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:5080";

    /// <summary>
    /// Origins (<c>scheme://host[:port]</c>) whose pages may call the API from a browser. Empty (the default): none
    /// may — no response carries <c>Access-Control-Allow-Origin</c>. A list in appsettings.json, or one string
    /// separated by <c>;</c> (<c>Visibility__Http__CorsOrigins</c>).
    /// </summary>
    public List<string> CorsOrigins { get; } = [];

    /// <summary>The server certificate for <c>https://</c> URLs.</summary>
    public CertificateOptions Certificate { get; } = new();

    /// <summary>Proxies whose <c>X-Forwarded-For</c>/<c>-Proto</c> are believed (none by default).</summary>
    public ForwardedHeadersSettings ForwardedHeaders { get; } = new();

    /// <summary>Strict-Transport-Security max-age sent on HTTPS responses (365 days); zero sends none.</summary>
    public TimeSpan HstsMaxAge { get; set; } = TimeSpan.FromDays(365);

    /// <summary>The listen URLs, split.</summary>
    public IReadOnlyList<string> UrlList() => Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public bool HasHttpsUrl() => UrlList().Any(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// <c>Visibility:Http:Certificate</c>: a PEM certificate (<see cref="Path"/>) with its key in the same file or in
/// <see cref="KeyPath"/>, or a PKCS#12 (.pfx/.p12) file. <see cref="Password"/> decrypts an encrypted PEM key or the PKCS#12 file.
/// </summary>
public sealed class CertificateOptions
{
    public string Path { get; set; } = "";

    public string KeyPath { get; set; } = "";

    public string Password { get; set; } = "";
}

/// <summary>Start-up checks of <see cref="HttpOptions"/>: an https URL has a certificate that loads; CORS origins are origins.</summary>
public sealed class HttpOptionsValidator : IValidateOptions<HttpOptions>
{
    public ValidateOptionsResult Validate(string? name, HttpOptions options)
    {
        var problems = new List<string>();
        foreach (var origin in options.CorsOrigins)
        {
            if (!IsOrigin(origin))
            {
                problems.Add($"Visibility:Http:CorsOrigins: '{origin}' is not an origin such as https://console.example.com (scheme, host and port only; '*' is not accepted)");
            }
        }

        problems.AddRange(options.ForwardedHeaders.Problems());
        if (options.HstsMaxAge < TimeSpan.Zero)
        {
            problems.Add("Visibility:Http:HstsMaxAge must not be negative");
        }

        if (options.HasHttpsUrl())
        {
            var https = options.UrlList().First(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
            if (string.IsNullOrWhiteSpace(options.Certificate.Path))
            {
                problems.Add($"Visibility:Http:Urls has '{https}' but no certificate: set Visibility:Http:Certificate:Path " +
                    "(a PEM certificate, with Visibility:Http:Certificate:KeyPath for its key, or a .pfx file)");
            }
            else
            {
                try
                {
                    using var certificate = HttpsCertificate.Load(options.Certificate);
                }
                catch (InvalidDataException ex)
                {
                    problems.Add(ex.Message);
                }
            }
        }

        return problems.Count > 0 ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
    }

    public static bool IsOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
        && uri.AbsolutePath == "/" && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment) && string.IsNullOrEmpty(uri.UserInfo)
        && !origin.EndsWith('/');
}
