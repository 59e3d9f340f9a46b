using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Visibility.Web.Http;

/// <summary>
/// HTTP hardening of <c>serve</c>: request size limits with a 413 naming the limit, a per-principal rate limit
/// (429 with Retry-After), CORS closed unless origins are configured, security headers on every response, and
/// HTTPS with a configured certificate. The pipeline, in order: exception handler → status code pages →
/// <see cref="UseSecurityHeaders"/> → <see cref="UseVisibilityCors"/> → authentication →
/// <see cref="UseVisibilityLimits"/> → authorization → endpoints. Status code pages stay outside the limits: a
/// typed body parameter answers a bare 413 that <see cref="UseVisibilityLimits"/> replaces with one naming the limit.
/// </summary>
public static class HttpLimits
{
    /// <summary>The one route whose body may exceed <see cref="LimitsOptions.MaxRequestBodyBytes"/>.</summary>
    public const string ImportPath = "/api/v1/workloads/kubernetes";

    /// <summary>
    /// The page's policy. Scripts, styles, the layout worker and API calls are same-origin (the Vite build);
    /// the favicon is a data: URI. The one inline style is the rule cytoscape injects into the page
    /// (<c>.__________cytoscape_container { position: relative; }</c>), allowed by its hash: without it the
    /// browser reports a violation on every load.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self' 'sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8='; " +
        "img-src 'self' data:; connect-src 'self'; worker-src 'self'; font-src 'self'; manifest-src 'self'; " +
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    /// <summary>No powerful browser feature is used by the page; deny the common ones outright.</summary>
    public const string PermissionsPolicy =
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

    private const string CorsPolicy = "visibility";

    /// <summary>Kestrel limits and HTTPS certificate, request-size and rate-limit options, CORS. Call once per host.</summary>
    public static IServiceCollection AddVisibilityLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<HttpOptions>().BindConfiguration(HttpOptions.Section)
            .PostConfigure(o => AddDelimitedOrigins(o, configuration[$"{HttpOptions.Section}:CorsOrigins"]))
            .PostConfigure(o =>
            {
                ForwardedHeadersSettings.AddDelimited(o.ForwardedHeaders.KnownProxies, configuration[$"{HttpOptions.Section}:ForwardedHeaders:KnownProxies"]);
                ForwardedHeadersSettings.AddDelimited(o.ForwardedHeaders.KnownNetworks, configuration[$"{HttpOptions.Section}:ForwardedHeaders:KnownNetworks"]);
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<HttpOptions>, HttpOptionsValidator>();
        services.AddSingleton<HttpLimitMetrics>();

        services.AddOptions<KestrelServerOptions>().Configure<IOptions<LimitsOptions>, IOptions<HttpOptions>>((kestrel, limits, http) =>
        {
            kestrel.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestLineSize = limits.Value.MaxRequestLineBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = limits.Value.MaxRequestHeadersBytes;
            kestrel.AddServerHeader = false;
            if (http.Value.HasHttpsUrl())
            {
                // Loaded once for the process; start-up validation has already loaded it, so failures were reported there.
                var certificate = HttpsCertificate.Load(http.Value.Certificate);
                kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate);
            }
        });

        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<HttpOptions>>((cors, http) =>
            cors.AddPolicy(CorsPolicy, policy => policy
                .WithOrigins([.. http.Value.CorsOrigins])
                .WithMethods("GET", "PUT", "POST", "DELETE")
                .AllowAnyHeader()
                .WithExposedHeaders(Api.QueryApi.NextCursorHeader, Api.QueryApi.TruncatedHeader, Api.QueryApi.RowLimitHeader, "Retry-After", "Content-Disposition")
                .SetPreflightMaxAge(TimeSpan.FromMinutes(10))));

        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<LimitsOptions>, HttpLimitMetrics>((rate, limits, metrics) =>
        {
            var options = limits.Value;
            if (options.RequestsPerMinute <= 0)
            {
                return;
            }

            // One token per request, refilled continuously at RequestsPerMinute; nothing queues: over the budget is an immediate 429.
            var bucket = new TokenBucketRateLimiterOptions
            {
                TokenLimit = options.Burst,
                TokensPerPeriod = 1,
                ReplenishmentPeriod = TimeSpan.FromMinutes(1) / options.RequestsPerMinute,
                QueueLimit = 0,
                AutoReplenishment = false, // the partitioned limiter replenishes every partition on its own timer
            };
            rate.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context => IsExempt(context.Request.Path)
                ? RateLimitPartition.GetNoLimiter("")
                : RateLimitPartition.GetTokenBucketLimiter(PartitionKey(context), _ => bucket));
            rate.OnRejected = (rejected, _) =>
            {
                metrics.RateLimited();
                var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after)
                    ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds))
                    : Math.Max(1, (int)Math.Ceiling(60.0 / options.RequestsPerMinute));
                var context = rejected.HttpContext;
                context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                return new ValueTask(TypedResults.Problem(
                    $"rate limit exceeded: {options.RequestsPerMinute} requests per minute, bursts of {options.Burst} " +
                    $"(Visibility:Limits:RequestsPerMinute, Visibility:Limits:Burst), per principal or, unauthenticated, per client address; retry after {seconds} s",
                    statusCode: StatusCodes.Status429TooManyRequests,
                    title: "Too Many Requests",
                    extensions: new Dictionary<string, object?> { ["limit"] = "Visibility:Limits:RequestsPerMinute", ["retryAfterSeconds"] = seconds })
                    .ExecuteAsync(context));
            };
        });
        return services;
    }

    /// <summary>
    /// Security headers on every response (the page, its assets, the API, errors): CSP, nosniff, no framing, no
    /// referrer, same-origin opener and resource policies, no powerful features; <c>no-store</c> on the API; HSTS
    /// on HTTPS responses only.
    /// </summary>
    public static WebApplication UseSecurityHeaders(this WebApplication app)
    {
        var http = app.Services.GetRequiredService<IOptions<HttpOptions>>().Value;
        var hsts = http.HstsMaxAge > TimeSpan.Zero
            ? "max-age=" + ((long)http.HstsMaxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture)
            : null;
        app.Use((context, next) =>
        {
            // Set as the response starts, so responses written after an exception (the handler clears headers) carry them too.
            context.Response.OnStarting(() =>
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                headers["Cross-Origin-Opener-Policy"] = "same-origin";
                headers["Cross-Origin-Resource-Policy"] = "same-origin";
                headers["Permissions-Policy"] = PermissionsPolicy;
                if (context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
                {
                    headers.CacheControl = "no-store";
                }

                if (hsts is not null && context.Request.IsHttps)
                {
                    headers.StrictTransportSecurity = hsts;
                }

                return Task.CompletedTask;
            });
            return next(context);
        });
        return app;
    }

    /// <summary>CORS: closed (no CORS middleware, no CORS headers) unless <c>Visibility:Http:CorsOrigins</c> lists origins.</summary>
    public static WebApplication UseVisibilityCors(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<HttpOptions>>().Value.CorsOrigins.Count > 0)
        {
            app.UseCors(CorsPolicy);
        }

        return app;
    }

    /// <summary>
    /// The per-principal rate limit (after authentication, so it can tell principals apart), then the request body
    /// limit: a declared length over it is refused before the endpoint runs, and a body that grows past it while
    /// read (chunked) ends in the same 413, both naming the limit.
    /// </summary>
    public static WebApplication UseVisibilityLimits(this WebApplication app)
    {
        var limits = app.Services.GetRequiredService<IOptions<LimitsOptions>>().Value;
        var metrics = app.Services.GetRequiredService<HttpLimitMetrics>();
        if (limits.RequestsPerMinute > 0)
        {
            app.UseRateLimiter();
        }

        app.Use(async (context, next) =>
        {
            var (limit, key) = IsImport(context.Request)
                ? (limits.MaxImportBodyBytes, "Visibility:Limits:MaxImportBodyBytes")
                : (limits.MaxRequestBodyBytes, "Visibility:Limits:MaxRequestBodyBytes");
            var size = context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature ? feature : null;
            size?.MaxRequestBodySize = limit;
            if (context.Request.ContentLength is { } declared && declared > limit)
            {
                // Clients such as HttpClient send the whole body before they read the answer: were the connection
                // closed with the body unread, they would see a reset instead of this 413. Kestrel drains an unread
                // body after the response (for at most 5 seconds) when it may read that much; so it may, up to
                // four times the limit. Beyond that the connection closes.
                var drainable = declared / 4 <= limit;
                if (drainable)
                {
                    size?.MaxRequestBodySize = declared;
                }

                await TooLargeAsync(context, limit, key, metrics, closing: !drainable);
                return;
            }

            try
            {
                await next(context);
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge && !context.Response.HasStarted)
            {
                // A body without a declared length (chunked) grew past the limit while read; Kestrel closes the connection after this.
                await TooLargeAsync(context, limit, key, metrics, closing: true);
                return;
            }

            // Typed body parameters catch the exception themselves and leave a bare 413.
            if (context.Response.StatusCode == StatusCodes.Status413PayloadTooLarge && !context.Response.HasStarted)
            {
                await TooLargeAsync(context, limit, key, metrics, closing: true);
            }
        });
        return app;
    }

    /// <summary>
    /// Whom a request's rate budget belongs to: the authenticated principal's name (or subject), otherwise the
    /// client address. Behind a proxy every unauthenticated client shares the proxy's address.
    /// </summary>
    public static string PartitionKey(HttpContext context)
    {
        var user = context.User;
        if (user.Identity?.IsAuthenticated == true)
        {
            var name = user.Identity.Name ?? user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.FindFirst("sub")?.Value;
            return "principal:" + name;
        }

        return "address:" + context.Connection.RemoteIpAddress;
    }

    /// <summary>Probes and scrapes are never rate limited: an orchestrator must not see a busy server as a dead one.</summary>
    public static bool IsExempt(PathString path) =>
        path.StartsWithSegments("/healthz", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/readyz", StringComparison.OrdinalIgnoreCase)
        || path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase);

    private static bool IsImport(HttpRequest request) =>
        HttpMethods.IsPut(request.Method) && request.Path.Equals(ImportPath, StringComparison.OrdinalIgnoreCase);

    private static Task TooLargeAsync(HttpContext context, long limit, string key, HttpLimitMetrics metrics, bool closing)
    {
        metrics.BodyTooLarge();
        context.Response.Clear();

        // When Kestrel will close the connection after this response rather than drain the body, saying so keeps
        // HTTP/1.1 clients from sending their next request down the dying connection.
        if (closing && (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol)))
        {
            context.Response.Headers.Connection = "close";
        }

        return TypedResults.Problem(
            $"the request body is larger than {limit.ToString(CultureInfo.InvariantCulture)} bytes ({key})",
            statusCode: StatusCodes.Status413PayloadTooLarge,
            title: "Content Too Large",
            extensions: new Dictionary<string, object?> { ["limit"] = key, ["maxBytes"] = limit })
            .ExecuteAsync(context);
    }

    private static void AddDelimitedOrigins(HttpOptions options, string? value)
    {
        // A single value (an environment variable) binds to no list element: split it like Urls.
        foreach (var origin in (value ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!options.CorsOrigins.Contains(origin, StringComparer.Ordinal))
            {
                options.CorsOrigins.Add(origin);
            }
        }
    }
}

/// <summary>Requests refused by the HTTP limits, by reason.</summary>
public sealed class HttpLimitMetrics
{
    private long rateLimited;
    private long bodyTooLarge;

    public long RateLimitedCount => Interlocked.Read(ref rateLimited);

    public long BodyTooLargeCount => Interlocked.Read(ref bodyTooLarge);

    public void RateLimited() => Interlocked.Increment(ref rateLimited);

    public void BodyTooLarge() => Interlocked.Increment(ref bodyTooLarge);
}
