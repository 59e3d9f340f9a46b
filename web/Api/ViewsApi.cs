using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;
using Visibility.Ingest.Enrichment;
using Visibility.Query.Filtering;
using Visibility.Query.Flows;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Views;
using Visibility.Web.Auth;
using Visibility.Web.Http;

namespace Visibility.Web.Api;

/// <summary>
/// What the map UI needs besides the query API: saved views and the vocabulary for filter completion. Views are
/// shared for reading (a name and a query, no data: opening one queries within the caller's scope); only a view's
/// owner or an unscoped admin replaces or deletes it, and each principal may own
/// <see cref="LimitsOptions.MaxViewsPerPrincipal"/> of them. Changes are audited (<c>views.*</c>).
/// </summary>
public static class ViewsApi
{
    public const int MaxNameLength = 200;
    public const int MaxQueryLength = 8_192;
    public const int MaxValuesPerKey = 1_000;

    /// <summary>The query-string keys a view may hold: the map's state, nothing else.</summary>
    public static IReadOnlyList<string> ViewKeys { get; } = ["last", "from", "to", "groupBy", "filter", "limit", "width", "colour", "decisionsAt"];

    public static RouteGroupBuilder MapViewsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/views", ListAsync).WithSummary("Saved map views");
        api.MapPost("/views", CreateAsync)
            .WithSummary("Save a map view (the caller owns it)")
            .WithDescription("Body: {\"name\": \"dev to prod\", \"query\": \"last=24h&groupBy=app,env&filter=src.env%20%3D%20dev\"}; open it at /?view=<id>.")
            .AddEndpointFilter(new AuditFilter("views.create"));
        api.MapGet("/views/{id}", GetAsync).WithSummary("One saved view");
        api.MapPut("/views/{id}", ReplaceAsync).WithSummary("Rename or change a saved view (its owner or an admin)")
            .AddEndpointFilter(new AuditFilter("views.replace"));
        api.MapDelete("/views/{id}", DeleteAsync).WithSummary("Delete a saved view (its owner or an admin)")
            .AddEndpointFilter(new AuditFilter("views.delete"));
        api.MapGet("/labels", Labels)
            .WithSummary("Label keys and values of the inventory, kinds, findings, protocols, verdicts, decisions and the policy names flows of the last 7 days name (filter completion)");
        return api;
    }

    public sealed record ViewBody(string? Name, string? Query);

    public sealed record Vocabulary(
        IReadOnlyDictionary<string, IReadOnlyList<string>> Labels,
        IReadOnlyList<string> Workloads,
        IReadOnlyList<string> Kinds,
        IReadOnlyList<string> Findings,
        IReadOnlyList<string> Protocols,
        IReadOnlyList<string> Severities,
        IReadOnlyList<string> Verdicts,
        IReadOnlyList<string> Decisions,
        IReadOnlyList<string> Policies);

    internal static async Task<Ok<IReadOnlyList<SavedView>>> ListAsync(SavedViewStore views, CancellationToken cancellationToken) =>
        TypedResults.Ok(await views.ListAsync(cancellationToken));

    internal static async Task<Results<Ok<SavedView>, NotFound<ProblemDetailsBody>, ProblemHttpResult>> GetAsync(
        string id, SavedViewStore views, CancellationToken cancellationToken)
    {
        if (!SavedViewStore.IsId(id))
        {
            return Bad($"'{id}' is not a view id");
        }

        return await views.GetAsync(id, cancellationToken) is { } view ? TypedResults.Ok(view) : NotFound(id);
    }

    internal static async Task<Results<Created<SavedView>, ProblemHttpResult>> CreateAsync(
        ViewBody? body, HttpContext context, SavedViewStore views, IOptions<LimitsOptions> limits, CancellationToken cancellationToken)
    {
        if (Validate(body) is { } error)
        {
            return Bad(error);
        }

        var perPrincipal = limits.Value.MaxViewsPerPrincipal;
        var owner = context.User.PrincipalName();
        var created = await views.CreateAsync(body!.Name!.Trim(), Normalize(body.Query!), owner, perPrincipal, cancellationToken);
        switch (created.RefusedBy)
        {
            case ViewCap.Store:
                return OverLimit($"there are already {SavedViewStore.MaxViews} saved views; delete some first", "SavedViewStore.MaxViews", SavedViewStore.MaxViews);
            case ViewCap.Owner:
                return OverLimit(
                    $"{owner} already has {perPrincipal} saved views, the most one principal may have ({LimitsOptions.Section}:MaxViewsPerPrincipal); delete some first",
                    $"{LimitsOptions.Section}:MaxViewsPerPrincipal", perPrincipal);
        }

        var view = created.View!;
        context.Items[AuditFilter.TargetItem] = $"id={view.Id}";
        return TypedResults.Created($"/api/v1/views/{view.Id}", view);
    }

    internal static async Task<Results<Ok<SavedView>, NotFound<ProblemDetailsBody>, ProblemHttpResult>> ReplaceAsync(
        string id, ViewBody? body, ClaimsPrincipal user, SavedViewStore views, CancellationToken cancellationToken)
    {
        if (!SavedViewStore.IsId(id))
        {
            return Bad($"'{id}' is not a view id");
        }

        if (Validate(body) is { } error)
        {
            return Bad(error);
        }

        if (await views.GetAsync(id, cancellationToken) is not { } view)
        {
            return NotFound(id);
        }

        if (Refusal(view, user, "change") is { } refused)
        {
            return refused;
        }

        return TypedResults.Ok(await views.ReplaceAsync(view, body!.Name!.Trim(), Normalize(body.Query!), cancellationToken));
    }

    internal static async Task<Results<NoContent, NotFound<ProblemDetailsBody>, ProblemHttpResult>> DeleteAsync(
        string id, ClaimsPrincipal user, SavedViewStore views, CancellationToken cancellationToken)
    {
        if (!SavedViewStore.IsId(id))
        {
            return Bad($"'{id}' is not a view id");
        }

        if (await views.GetAsync(id, cancellationToken) is not { } view)
        {
            return NotFound(id);
        }

        if (Refusal(view, user, "delete") is { } refused)
        {
            return refused;
        }

        await views.DeleteAsync(view, cancellationToken);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// A 403 when <paramref name="user"/> may not change <paramref name="view"/>. Not a 404: every reader lists every
    /// view with its owner, so hiding the view's existence from a non-owner would hide nothing, and a 403 tells the
    /// caller what to do (ask the owner or an admin).
    /// </summary>
    private static ProblemHttpResult? Refusal(SavedView view, ClaimsPrincipal user, string verb)
    {
        if (view.MayBeChangedBy(user.PrincipalName(), user.IsUnscopedAdmin()))
        {
            return null;
        }

        var detail = view.Owner is null
            ? $"saved view '{view.Id}' has no owner (it was saved before views had owners): only an unscoped admin may {verb} it"
            : $"saved view '{view.Id}' belongs to {view.Owner}: only its owner or an unscoped admin may {verb} it";
        return TypedResults.Problem(detail, statusCode: StatusCodes.Status403Forbidden);
    }

    internal static async Task<Ok<Vocabulary>> Labels(ClaimsPrincipal user, WorkloadInventory inventory, [FromServices] ObservedPolicies policyNames, CancellationToken cancellationToken)
    {
        var scope = Visibility.Web.Auth.VisibilityClaims.AccessScope(user);
        var labels = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var workload in inventory.List().Where(w => scope.Matches(w.Name, w.Labels)))
        {
            if (names.Count < MaxValuesPerKey)
            {
                names.Add(workload.Name);
            }

            foreach (var (key, value) in workload.Labels)
            {
                if (!labels.TryGetValue(key, out var values))
                {
                    labels[key] = values = new SortedSet<string>(StringComparer.Ordinal);
                }

                if (values.Count < MaxValuesPerKey)
                {
                    values.Add(value);
                }
            }
        }

        return TypedResults.Ok(new Vocabulary(
            labels.ToDictionary(l => l.Key, l => (IReadOnlyList<string>)[.. l.Value], StringComparer.Ordinal),
            [.. names],
            FilterFields.Kinds,
            FindingKinds.AllNames,
            [.. FilterFields.Protocols.Select(p => p.Name)],
            FindingRules.Levels,
            FilterFields.Verdicts,
            PolicyDecisions.All,
            await policyNames.ListAsync(scope.Restrict(FilterClause.All), MaxValuesPerKey, cancellationToken)));
    }

    /// <summary>A view must load: its name is present and short, its query holds only map keys with valid values.</summary>
    public static string? Validate(ViewBody? body)
    {
        if (body is null)
        {
            return "the body must be a JSON object {\"name\": \"...\", \"query\": \"...\"}";
        }

        if (string.IsNullOrWhiteSpace(body.Name) || body.Name.Length > MaxNameLength)
        {
            return $"name must be 1 to {MaxNameLength} characters";
        }

        // A name is a one-line label (the map's menu, the page's title), shown as text, markup included; control
        // characters (line breaks, escapes) have no place in one, as in a key's name.
        if (body.Name.Any(char.IsControl))
        {
            return "name must not contain control characters";
        }

        if (body.Query is null || body.Query.Length > MaxQueryLength)
        {
            return $"query must be a query string of at most {MaxQueryLength} characters";
        }

        var values = QueryHelpers.ParseQuery(body.Query.TrimStart('?'));
        foreach (var (key, value) in values)
        {
            if (!ViewKeys.Contains(key, StringComparer.Ordinal))
            {
                return $"query: '{key}' is not a view parameter (expected one of {string.Join(", ", ViewKeys)})";
            }

            if (value.Count > 1)
            {
                return $"query: '{key}' is given more than once";
            }
        }

        string? Value(string key) => values.TryGetValue(key, out var v) && v.ToString().Length > 0 ? v.ToString() : null;
        if (!TimeRange.TryParse(Value("from"), Value("to"), Value("last"), DateTimeOffset.UtcNow, out _, out _, out var timeError))
        {
            return $"query: {timeError}";
        }

        if (!GroupKey.TryParseList(Value("groupBy"), out _, out var keyError))
        {
            return $"query: {keyError}";
        }

        if (!FilterClause.TryCreate(Value("filter"), out _, out var filterError))
        {
            return $"query: {filterError}";
        }

        if (Value("limit") is { } limit && (!int.TryParse(limit, out var n) || n < 1 || n > GraphQuery.MaxLimit))
        {
            return $"query: limit must be from 1 to {GraphQuery.MaxLimit}";
        }

        if (Value("width") is { } width && width is not ("bytes" or "flows"))
        {
            return "query: width must be bytes or flows";
        }

        if (Value("colour") is { } colour && colour is not ("findings" or "policy"))
        {
            return "query: colour must be findings or policy";
        }

        if (Value("decisionsAt") is { } decisionsAt && decisionsAt is not ("now" or "traffic"))
        {
            return "query: decisionsAt must be now or traffic";
        }

        return null;
    }

    /// <summary>The query string without a leading '?' and without empty parameters.</summary>
    private static string Normalize(string query) =>
        string.Join('&', QueryHelpers.ParseQuery(query.TrimStart('?'))
            .Where(p => !string.IsNullOrEmpty(p.Value.ToString()))
            .OrderBy(p => ViewKeys.ToList().IndexOf(p.Key))
            .Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value.ToString())}"));

    public sealed record ProblemDetailsBody(string Title, int Status, string Detail);

    private static NotFound<ProblemDetailsBody> NotFound(string id) =>
        TypedResults.NotFound(new ProblemDetailsBody("Not Found", 404, $"no saved view '{id}'"));

    private static ProblemHttpResult Bad(string error) => TypedResults.Problem(error, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>A 400 naming the limit, as the other limits of the API answer (docs/security.md, "Limits").</summary>
    private static ProblemHttpResult OverLimit(string detail, string limit, int maxViews) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest,
            extensions: new Dictionary<string, object?> { ["limit"] = limit, ["maxViews"] = maxViews });
}
