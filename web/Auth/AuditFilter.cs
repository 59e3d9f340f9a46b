namespace Visibility.Web.Auth;

/// <summary>
/// Records an endpoint's calls in the audit log once they have run: the action, its target (route values, or the
/// created resource's location), the outcome (the status code, or the exception's type), the caller and its address.
/// </summary>
public sealed class AuditFilter(string action) : IEndpointFilter
{
    /// <summary>An <c>HttpContext.Items</c> key a handler sets to name what it acted on (a created key's id, a sink's name).</summary>
    public const string TargetItem = "visibility.audit.target";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var http = context.HttpContext;
        object? result = null;
        var outcome = "error";
        try
        {
            result = await next(context);
            var inner = result is INestedHttpResult nested ? nested.Result : result;
            outcome = (inner as IStatusCodeHttpResult)?.StatusCode is { } code ? code.ToString(System.Globalization.CultureInfo.InvariantCulture)
                : result is null ? http.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)
                : "200";
            return result;
        }
        catch (Exception ex)
        {
            outcome = "error: " + ex.GetType().Name;
            throw;
        }
        finally
        {
            var routeTarget = string.Join(",", http.Request.RouteValues.Select(v => $"{v.Key}={v.Value}"));
            var named = http.Items.TryGetValue(TargetItem, out var item) ? item as string ?? "" : "";
            var audit = http.RequestServices.GetRequiredService<AuditLog>();
            await audit.RecordAsync(
                http.User.PrincipalName(), http.User.RoleName(), action,
                named.Length > 0 ? named : routeTarget.Length > 0 ? routeTarget : http.Request.Path.ToString(),
                outcome,
                http.Request.Method + " " + http.Request.Path + http.Request.QueryString,
                http.Connection.RemoteIpAddress?.ToString() ?? "",
                CancellationToken.None);
        }
    }
}
