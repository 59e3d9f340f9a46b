using System.Security.Claims;
using Visibility.Query.Security;

namespace Visibility.Web.Auth;

/// <summary>
/// The roles and what each may do. viewer: read the map, flows, findings, analytics, workloads and views.
/// policy-author: a viewer who may also draft, simulate, render and diff policy, and save and restore stored rulesets. exporter: a viewer who may also
/// manage export sinks and export records. admin: everything, including keys, the inventory, the audit log and
/// provisioning rulesets.
/// </summary>
public static class Roles
{
    public const string Viewer = "viewer";
    public const string PolicyAuthor = "policy-author";
    public const string Exporter = "exporter";
    public const string Admin = "admin";

    public static IReadOnlyList<string> All { get; } = [Viewer, PolicyAuthor, Exporter, Admin];

    public static bool IsRole(string? role) => role is not null && All.Contains(role, StringComparer.Ordinal);

    /// <summary>The strongest of several role names (an OIDC token may carry several); null when none is a role.</summary>
    public static string? Strongest(IEnumerable<string> names)
    {
        var known = names.Where(IsRole).ToList();
        return known.Contains(Admin) ? Admin
            : known.Contains(PolicyAuthor) && known.Contains(Exporter) ? Admin
            : known.Contains(PolicyAuthor) ? PolicyAuthor
            : known.Contains(Exporter) ? Exporter
            : known.Contains(Viewer) ? Viewer
            : null;
    }
}

/// <summary>Authorization policies by name, each a set of roles; the admin policy also wants an unscoped principal.</summary>
public static class AccessPolicies
{
    public const string Read = "visibility:read";
    public const string Policy = "visibility:policy";
    public const string Export = "visibility:export";
    public const string Admin = "visibility:admin";

    /// <summary>
    /// Making a ruleset version the active policy or withdrawing it. Checked by the handler (so refusals are
    /// audited), not by a route policy; unlike <see cref="Admin"/> it does not want an unscoped caller: a scoped
    /// token with the admin role provisions rulesets inside its scope.
    /// </summary>
    public const string Provision = "visibility:provision";

    public static string[] RolesFor(string policy) => policy switch
    {
        Read => [Roles.Viewer, Roles.PolicyAuthor, Roles.Exporter, Roles.Admin],
        Policy => [Roles.PolicyAuthor, Roles.Admin],
        Provision => [Roles.Admin],
        Export => [Roles.Exporter, Roles.Admin],
        _ => [Roles.Admin],
    };
}

/// <summary>The claims a Visibility principal carries, whichever way it authenticated.</summary>
public static class VisibilityClaims
{
    public const string Scope = "visibility:scope";
    public const string Method = "visibility:auth";
    public const string AuthenticationType = "Visibility";

    public static ClaimsPrincipal Create(string name, string role, AccessScope scope, string method)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var claims = new List<Claim>
        {
            new(ClaimTypes.Name, name),
            new(ClaimTypes.Role, role),
            new(Method, method),
        };
        if (!scope.IsUnrestricted)
        {
            claims.Add(new Claim(Scope, scope.Text));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, AuthenticationType, ClaimTypes.Name, ClaimTypes.Role));
    }

    /// <summary>The principal's scope: unrestricted without a scope claim (and for anonymous callers of public routes).</summary>
    public static AccessScope AccessScope(this ClaimsPrincipal user)
    {
        ArgumentNullException.ThrowIfNull(user);
        return user.FindFirst(Scope)?.Value is { } text ? Query.Security.AccessScope.Parse(text) : Query.Security.AccessScope.Unrestricted;
    }

    public static string PrincipalName(this ClaimsPrincipal user) => user.Identity?.Name ?? "anonymous";

    public static string RoleName(this ClaimsPrincipal user) => user.FindFirst(ClaimTypes.Role)?.Value ?? "";

    /// <summary>An admin in the sense of <see cref="AccessPolicies.Admin"/>: the admin role and no scope.</summary>
    public static bool IsUnscopedAdmin(this ClaimsPrincipal user) => user.RoleName() == Roles.Admin && user.AccessScope().IsUnrestricted;
}
