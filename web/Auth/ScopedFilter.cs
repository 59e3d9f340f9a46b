using System.Diagnostics.CodeAnalysis;
using System.Security.Claims;
using Visibility.Query.Planning;

namespace Visibility.Web.Auth;

/// <summary>A request's filter joined to its caller's scope: every read of flows goes through here.</summary>
public static class ScopedFilter
{
    /// <summary>Parses <paramref name="text"/> and restricts it to the flows touching <paramref name="user"/>'s scope.</summary>
    public static bool TryCreate(ClaimsPrincipal user, string? text, [NotNullWhen(true)] out FilterClause? clause, [NotNullWhen(false)] out string? error) =>
        TryCreate(user, text, allowDecisions: false, out clause, out error);

    /// <summary>As above; with <paramref name="allowDecisions"/> (the graph) the filter may hold <c>decision</c> terms.</summary>
    public static bool TryCreate(ClaimsPrincipal user, string? text, bool allowDecisions, [NotNullWhen(true)] out FilterClause? clause, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (!FilterClause.TryCreate(text, allowDecisions, out var parsed, out error))
        {
            clause = null;
            return false;
        }

        clause = user.AccessScope().Restrict(parsed);
        return true;
    }
}
