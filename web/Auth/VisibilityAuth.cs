using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.Options;
using Visibility.Query.Security;

namespace Visibility.Web.Auth;

/// <summary><c>Visibility:Auth</c>: authentication of the API in <c>serve</c>.</summary>
public sealed class AuthOptions
{
    public const string Section = "Visibility:Auth";

    /// <summary>No authentication: every caller is an unscoped admin. Refused unless every listen address is loopback.</summary>
    public bool Disabled { get; set; }

    public OidcOptions Oidc { get; set; } = new();
}

/// <summary><c>Visibility:Auth:Oidc</c>: bearer tokens (JWT) from an OpenID Connect provider; off without an authority.</summary>
public sealed class OidcOptions
{
    /// <summary>The issuer; its <c>/.well-known/openid-configuration</c> names the signing keys.</summary>
    public string Authority { get; set; } = "";

    /// <summary>The audience tokens must be issued for.</summary>
    public string Audience { get; set; } = "visibility";

    /// <summary>The claim holding the role(s): viewer, policy-author, exporter or admin.</summary>
    public string RoleClaim { get; set; } = "roles";

    /// <summary>The claim holding scope selectors (<c>app=payments</c>; several values or <c>;</c>-joined); none: unscoped.</summary>
    public string ScopeClaim { get; set; } = "visibility_scope";

    /// <summary>The claim naming the principal in the audit log.</summary>
    public string NameClaim { get; set; } = "sub";

    /// <summary>Whether the authority must be HTTPS; false is accepted for a loopback authority only.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority);
}

/// <summary>Authentication and authorization for <c>serve</c>: API keys, OIDC bearer tokens, roles and scopes.</summary>
public static class VisibilityAuth
{
    public const string Scheme = "visibility";
    public const string ApiKeyScheme = "api-key";
    public const string OidcScheme = "oidc";
    public const string DisabledScheme = "disabled";
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>The <c>HttpContext.Items</c> key holding why a credential was refused (for the 401's detail).</summary>
    private const string FailureItem = "visibility.auth.failure";

    /// <summary>Why the auth configuration cannot start, or null.</summary>
    public static string? Check(AuthOptions options, bool loopbackOnly)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Disabled && !loopbackOnly)
        {
            return "Visibility:Auth:Disabled=true is refused: authentication may be off only when every listen address is loopback (127.0.0.1, [::1], localhost)";
        }

        if (options.Oidc.Enabled)
        {
            if (!Uri.TryCreate(options.Oidc.Authority, UriKind.Absolute, out var authority) || authority.Scheme is not ("https" or "http"))
            {
                return $"Visibility:Auth:Oidc:Authority '{options.Oidc.Authority}' is not an http(s) URL";
            }

            if (authority.Scheme == "http" && (options.Oidc.RequireHttpsMetadata || !authority.IsLoopback))
            {
                return $"Visibility:Auth:Oidc:Authority '{options.Oidc.Authority}' must be https (plain http only for a loopback authority with RequireHttpsMetadata=false)";
            }

            if (string.IsNullOrWhiteSpace(options.Oidc.Audience))
            {
                return "Visibility:Auth:Oidc:Audience is required with an authority";
            }
        }

        return null;
    }

    public static IServiceCollection AddVisibilityAuth(this IServiceCollection services, AuthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(options);
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<AuditLog>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, ProblemAuthorizationResultHandler>();

        var auth = services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "API key or bearer token", o => o.ForwardDefaultSelector = context => Select(context, options))
            .AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(ApiKeyScheme, null)
            .AddScheme<AuthenticationSchemeOptions, DisabledHandler>(DisabledScheme, null);
        if (options.Oidc.Enabled)
        {
            auth.AddJwtBearer(OidcScheme, jwt =>
            {
                jwt.Authority = options.Oidc.Authority;
                jwt.Audience = options.Oidc.Audience;
                jwt.RequireHttpsMetadata = options.Oidc.RequireHttpsMetadata;
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters.NameClaimType = options.Oidc.NameClaim;
                jwt.Events = new JwtBearerEvents
                {
                    OnTokenValidated = context => Normalize(context, options.Oidc),
                    OnAuthenticationFailed = context =>
                    {
                        context.HttpContext.Items[FailureItem] = "the bearer token was refused: " + context.Exception.GetType().Name switch
                        {
                            "SecurityTokenExpiredException" => "it has expired",
                            "SecurityTokenInvalidAudienceException" => "it is not issued for this service's audience",
                            "SecurityTokenSignatureKeyNotFoundException" or "SecurityTokenInvalidSignatureException" => "its signature does not verify with the issuer's keys",
                            "SecurityTokenInvalidIssuerException" => "it is not from the configured issuer",
                            _ => "it is not a valid token from the configured issuer",
                        };
                        return Task.CompletedTask;
                    },
                };
            });
        }

        services.AddAuthorizationBuilder()
            .AddPolicy(AccessPolicies.Read, p => p.RequireRole(AccessPolicies.RolesFor(AccessPolicies.Read)))
            .AddPolicy(AccessPolicies.Policy, p => p.RequireRole(AccessPolicies.RolesFor(AccessPolicies.Policy)))
            .AddPolicy(AccessPolicies.Export, p => p.RequireRole(AccessPolicies.RolesFor(AccessPolicies.Export)))
            .AddPolicy(AccessPolicies.Admin, p => p.RequireRole(Roles.Admin).RequireAssertion(c => c.User.AccessScope().IsUnrestricted))
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireRole(AccessPolicies.RolesFor(AccessPolicies.Read)).Build());
        return services;
    }

    private static string Select(HttpContext context, AuthOptions options)
    {
        if (options.Disabled)
        {
            return DisabledScheme;
        }

        var authorization = context.Request.Headers.Authorization.ToString();
        if (options.Oidc.Enabled && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && !ApiKeyStore.LooksLikeKey(authorization["Bearer ".Length..].Trim()))
        {
            return OidcScheme;
        }

        return ApiKeyScheme;
    }

    /// <summary>Replaces a validated token's claims by the principal Visibility uses: name, one role, scope.</summary>
    private static Task Normalize(TokenValidatedContext context, OidcOptions oidc)
    {
        var token = context.Principal!;
        var roleValues = token.FindAll(oidc.RoleClaim).SelectMany(c => c.Value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries));
        if (Roles.Strongest(roleValues) is not { } role)
        {
            return Refuse(context, $"the token's '{oidc.RoleClaim}' claim names no Visibility role ({string.Join(", ", Roles.All)})");
        }

        if (!Query.Security.AccessScope.TryParse(token.FindAll(oidc.ScopeClaim).Select(c => c.Value), out var scope, out var error))
        {
            return Refuse(context, $"the token's '{oidc.ScopeClaim}' claim is not a scope: {error}");
        }

        var name = token.FindFirst(oidc.NameClaim)?.Value ?? "unnamed";
        context.Principal = VisibilityClaims.Create("oidc:" + name, role, scope, "oidc");
        return Task.CompletedTask;
    }

    private static Task Refuse(TokenValidatedContext context, string reason)
    {
        context.HttpContext.Items[FailureItem] = reason;
        context.Fail(reason);
        return Task.CompletedTask;
    }

    /// <summary>API keys from <c>Authorization: Bearer vis_…</c> or <c>X-Api-Key</c>.</summary>
    private sealed class ApiKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyStore keys)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            string? presented = null;
            var authorization = Request.Headers.Authorization.ToString();
            if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                presented = authorization["Bearer ".Length..].Trim();
            }
            else if (Request.Headers.TryGetValue(ApiKeyHeader, out var header))
            {
                presented = header.ToString().Trim();
            }

            if (string.IsNullOrEmpty(presented))
            {
                return AuthenticateResult.NoResult();
            }

            var key = await keys.AuthenticateAsync(presented, Context.RequestAborted);
            if (key is null)
            {
                const string reason = "the API key is not valid (unknown, revoked or malformed)";
                Context.Items[FailureItem] = reason;
                return AuthenticateResult.Fail(reason);
            }

            var principal = VisibilityClaims.Create("key:" + key.Id, key.Role, AccessScope.Parse(key.Scope), "api-key");
            return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
        }
    }

    /// <summary><c>Auth:Disabled</c> on loopback: every caller is an unscoped admin named "local".</summary>
    private sealed class DisabledHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
            Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(
                VisibilityClaims.Create("local", Roles.Admin, AccessScope.Unrestricted, "disabled"), Scheme.Name)));
    }

    /// <summary>
    /// A 403's detail: the caller's role and the roles that may. An endpoint's policy is the combination of its
    /// group's and its own (the API's read policy and, say, the export policy), and a caller must pass every role
    /// requirement of it, so the roles that may are those every requirement allows, in <see cref="Roles.All"/> order.
    /// </summary>
    public static string ForbiddenDetail(AuthorizationPolicy policy, ClaimsPrincipal user)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(user);
        var allowed = Roles.All.ToList();
        foreach (var requirement in policy.Requirements.OfType<Microsoft.AspNetCore.Authorization.Infrastructure.RolesAuthorizationRequirement>())
        {
            allowed.RemoveAll(role => !requirement.AllowedRoles.Contains(role, StringComparer.Ordinal));
        }

        var scoped = !user.AccessScope().IsUnrestricted;
        return $"role '{user.RoleName()}'{(scoped ? " with a scope" : "")} may not do this; " + allowed switch
        {
            [] => "no role may",
            [Roles.Admin] => "it needs an unscoped admin",
            _ => "it needs one of the roles " + string.Join(", ", allowed),
        };
    }

    /// <summary>401 and 403 as problem+json naming what is missing, instead of empty bodies.</summary>
    private sealed class ProblemAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
    {
        private readonly AuthorizationMiddlewareResultHandler fallback = new();

        public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
        {
            if (authorizeResult.Challenged)
            {
                var failure = context.Items.TryGetValue(FailureItem, out var reason) ? reason as string : null;
                Log(context, 401, failure ?? "no credential");
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Results.Problem(
                    failure ?? "authentication required: send an API key as 'Authorization: Bearer <key>' (or X-Api-Key), or an OIDC bearer token",
                    statusCode: StatusCodes.Status401Unauthorized).ExecuteAsync(context);
                return;
            }

            if (authorizeResult.Forbidden)
            {
                var detail = ForbiddenDetail(policy, context.User);
                Log(context, 403, detail);
                await Results.Problem(detail, statusCode: StatusCodes.Status403Forbidden).ExecuteAsync(context);
                return;
            }

            await fallback.HandleAsync(next, context, policy, authorizeResult);
        }

        /// <summary>Refusals go to the process log (never the credential itself): the trail of probing and misuse.</summary>
        private static void Log(HttpContext context, int status, string why) =>
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Visibility.Web.Auth").LogWarning(
                "auth: {Status} for {Principal} {Method} {Path} from {Remote}: {Reason}",
                status, context.User.Identity?.IsAuthenticated == true ? context.User.PrincipalName() : "anonymous",
                context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress, why);
    }
}
