using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Visibility.Flows.Json;
using Visibility.Query.Security;
using Visibility.Web.Auth;

namespace Visibility.Web.Api;

/// <summary>API keys (create, list, revoke) and the audit log: unscoped admins only.</summary>
public static class SecurityApi
{
    public static RouteGroupBuilder MapSecurityApi(this RouteGroupBuilder api)
    {
        var admin = api.MapGroup("").RequireAuthorization(AccessPolicies.Admin);
        admin.MapPost("/keys", CreateKeyAsync)
            .WithSummary("Create an API key (the response is the only time its secret is shown)")
            .WithDescription("Body: {\"name\": \"soc-export\", \"role\": \"exporter\", \"scope\": \"app=payments\"}; roles: viewer, policy-author, exporter, admin; scope: label selectors (key=value[,key=value]) joined by ';', empty for everything.")
            .AddEndpointFilter(new AuditFilter("keys.create"));
        admin.MapGet("/keys", async (ApiKeyStore keys, CancellationToken ct) => TypedResults.Ok(await keys.ListAsync(ct)))
            .WithSummary("List API keys (ids, names, roles, scopes; never secrets)");
        admin.MapDelete("/keys/{id}", RevokeKeyAsync).WithSummary("Revoke an API key").AddEndpointFilter(new AuditFilter("keys.revoke"));
        admin.MapGet("/audit", ListAuditAsync)
            .WithSummary("The audit log, newest first")
            .WithDescription("from/to or last (default 24h), action (e.g. keys.create, workloads.upsert, export.sinks.create, policy.draft), principal, limit (default 1000).");
        return api;
    }

    public sealed record KeyRequest(
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("role")] string? Role,
        [property: JsonPropertyName("scope")] string? Scope);

    internal static async Task<Results<Created<CreatedApiKey>, ProblemHttpResult>> CreateKeyAsync(
        HttpContext context, ApiKeyStore keys, CancellationToken cancellationToken)
    {
        KeyRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<KeyRequest>(context.Request.Body, Strict, cancellationToken);
        }
        catch (JsonException ex)
        {
            return Bad($"the body must be {{\"name\", \"role\", \"scope\"}}: {JsonProblem.Describe(ex, typeof(KeyRequest), Strict)}");
        }

        if (CheckKeyRequest(body?.Name, body?.Role, body?.Scope, out var scope) is { } problem)
        {
            return Bad(problem);
        }

        var created = await keys.CreateAsync(body!.Name!, body.Role!, scope!, context.User.PrincipalName(), cancellationToken);
        context.Items[AuditFilter.TargetItem] = $"key:{created.Info.Id} role={created.Info.Role} scope={created.Info.Scope}";
        return TypedResults.Created($"/api/v1/keys/{created.Info.Id}", created);
    }

    /// <summary>The problem with a key's name, role or scope (API and CLI alike), or null.</summary>
    public static string? CheckKeyRequest(string? name, string? role, string? scopeText, out AccessScope? scope)
    {
        scope = null;
        if (string.IsNullOrWhiteSpace(name) || name.Length > 128 || name.Any(char.IsControl))
        {
            return "name is required: 1–128 characters without control characters";
        }

        if (!Roles.IsRole(role))
        {
            return $"role '{role}' is not one of {string.Join(", ", Roles.All)}";
        }

        if (!AccessScope.TryParse(scopeText, out scope, out var scopeError))
        {
            return $"scope: {scopeError}";
        }

        return role == Roles.Admin && !scope.IsUnrestricted ? "an admin key cannot be scoped (admins manage keys and the inventory for everyone)" : null;
    }

    internal static async Task<Results<NoContent, NotFound<ViewsApi.ProblemDetailsBody>>> RevokeKeyAsync(
        string id, ApiKeyStore keys, CancellationToken cancellationToken) =>
        await keys.RevokeAsync(id, cancellationToken)
            ? TypedResults.NoContent()
            : TypedResults.NotFound(new ViewsApi.ProblemDetailsBody("Not Found", 404, $"no API key '{id}'"));

    internal static async Task<Results<Ok<IReadOnlyList<AuditEntry>>, ProblemHttpResult>> ListAuditAsync(
        AuditLog audit, string? from, string? to, string? last, string? action, string? principal, int? limit, CancellationToken cancellationToken)
    {
        if (!TimeRange.TryParse(from, to, string.IsNullOrEmpty(from) && string.IsNullOrEmpty(to) ? last ?? "24h" : last, DateTimeOffset.UtcNow, out var start, out var end, out var error))
        {
            return Bad(error!);
        }

        var max = limit ?? 1_000;
        if (max < 1 || max > AuditLog.MaxLimit)
        {
            return Bad($"limit must be from 1 to {AuditLog.MaxLimit}");
        }

        return TypedResults.Ok(await audit.ListAsync(start, end, action, principal, max, cancellationToken));
    }

    private static readonly JsonSerializerOptions Strict = new() { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    private static ProblemHttpResult Bad(string error) => TypedResults.Problem(error, statusCode: StatusCodes.Status400BadRequest);
}
