using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Visibility.Flows.Json;
using Visibility.Query.Export.Runtime;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Ingest.Enrichment;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Query.Security;
using Visibility.Web.Auth;

namespace Visibility.Web.Api;

/// <summary>
/// Policy authoring: draft allow rules from observed traffic, simulate a ruleset against history ("potentially
/// blocked"), and compare two rulesets. Rulesets are the neutral JSON of docs/policy.md.
/// </summary>
public static class PolicyApi
{
    public static RouteGroupBuilder MapPolicyApi(this RouteGroupBuilder api)
    {
        // Policy authors and admins; every action is audited.
        var policy = api.MapGroup("/policy").RequireAuthorization(AccessPolicies.Policy);
        policy.MapGet("/draft", DraftAsync).AddEndpointFilter(new AuditFilter("policy.draft"))
            .WithSummary("Draft allow rules from the traffic of a range and scope")
            .WithDescription("from/to or last, filter (the scope, e.g. dst.env = prod), groupBy (default app,env), includeFlagged (default false), name; "
                + "format=json (default: the ruleset with what was left out), networkpolicy (YAML) or nftables.");
        policy.MapPost("/simulate", SimulateAsync).AddEndpointFilter(new AuditFilter("policy.simulate"))
            .WithSummary("Evaluate a ruleset against historical flows: allowed, would-be-blocked, coverage")
            .WithDescription("Body: {\"ruleset\": {…}, \"last\": \"24h\", \"filter\": \"dst.env = prod\", \"allTraffic\": false}; without a range, the ruleset's own source range; "
                + "only the traffic the ruleset governs (its source.scope) is judged, unless allTraffic.");
        policy.MapPost("/diff", Diff).AddEndpointFilter(new AuditFilter("policy.diff")).WithSummary("What changes from one ruleset to another");
        policy.MapPost("/render", RenderAsync).AddEndpointFilter(new AuditFilter("policy.render"))
            .WithSummary("Render a ruleset as Kubernetes NetworkPolicy YAML or an nftables ruleset")
            .WithDescription("format=networkpolicy|nftables; body: the ruleset. nftables address sets are resolved from the inventory: for a scoped caller, from the workloads inside its scope only. "
                + "nftables: host=NAME (a workload in the inventory) renders for that host only, managementAllow=CIDR,… accepts those sources on its input whatever the rules.");
        return api;
    }

    /// <summary>A draft and what it left out.</summary>
    public sealed record DraftBody(
        [property: JsonPropertyName("ruleset")] PolicyRuleset Ruleset,
        [property: JsonPropertyName("flowsCovered")] long FlowsCovered,
        [property: JsonPropertyName("flaggedFlowsExcluded")] long FlaggedFlowsExcluded,
        [property: JsonPropertyName("truncated")] bool Truncated);

    public sealed record SimulateBody(
        [property: JsonPropertyName("ruleset")] PolicyRuleset? Ruleset,
        [property: JsonPropertyName("from")] string? From,
        [property: JsonPropertyName("to")] string? To,
        [property: JsonPropertyName("last")] string? Last,
        [property: JsonPropertyName("filter")] string? Filter,
        [property: JsonPropertyName("allTraffic")] bool? AllTraffic = null);

    public sealed record DiffBody(
        [property: JsonPropertyName("before")] PolicyRuleset? Before,
        [property: JsonPropertyName("after")] PolicyRuleset? After);

    internal static async Task<Results<Ok<DraftBody>, ContentHttpResult, ProblemHttpResult>> DraftAsync(
        HttpContext context, PolicyDrafter drafter, WorkloadInventory inventory, IOptions<PolicyOptions> options, string? from, string? to, string? last, string? filter, string? groupBy, bool? includeFlagged,
        string? name, string? format, CancellationToken cancellationToken)
    {
        if (format is not (null or "json" or "networkpolicy" or "nftables"))
        {
            return Bad($"format '{format}' is not one of json, networkpolicy, nftables");
        }

        if (!TimeRange.TryParse(from, to, last, DateTimeOffset.UtcNow, out var start, out var end, out var timeError))
        {
            return Bad(timeError!);
        }

        var user = context.User;
        if (!ScopedFilter.TryCreate(user, filter, out var scope, out var filterError))
        {
            return Bad(filterError);
        }

        if (!GroupKey.TryParseList(groupBy, out var keys, out var keyError))
        {
            return Bad(keyError!);
        }

        // The draft records its range: it ends where the store is complete, so drafting it again gives the same rules.
        end = await DraftRange.CompleteEndAsync(end, context.RequestServices.GetService<IIngestLink>()?.StoredUntil, TimeProvider.System, cancellationToken);
        if (start >= end)
        {
            return Bad($"the range starts at {start:O}, not before the latest stored time {end:O}: a draft is made from traffic already observed");
        }

        var draft = await drafter.DraftAsync(new DraftRequest(start, end, scope, keys, includeFlagged ?? false, string.IsNullOrWhiteSpace(name) ? "draft" : name.Trim()), cancellationToken);
        return format is null or "json"
            ? TypedResults.Ok(new DraftBody(draft.Ruleset, draft.FlowsCovered, draft.FlaggedFlowsExcluded, draft.Truncated))
            : Render(draft.Ruleset, format, inventory, options.Value, user.AccessScope(), null, null);
    }

    internal static async Task<Results<ContentHttpResult, ProblemHttpResult>> RenderAsync(
        HttpRequest request, ClaimsPrincipal user, WorkloadInventory inventory, IOptions<PolicyOptions> options, string? format, string? host, string? managementAllow,
        CancellationToken cancellationToken)
    {
        if (format is not ("networkpolicy" or "nftables"))
        {
            return Bad($"format '{format}' is not one of networkpolicy, nftables");
        }

        if (format != "nftables" && (host is not null || managementAllow is not null))
        {
            return Bad("host and managementAllow apply to format=nftables only");
        }

        var (ruleset, error) = await ReadAsync<PolicyRuleset>(request, cancellationToken);
        if (error is not null)
        {
            return Bad(error);
        }

        if (PolicyValidation.Problems(ruleset) is { Count: > 0 } problems)
        {
            return Bad("ruleset: " + string.Join("; ", problems));
        }

        var book = InventoryAddressBook.FromIndex(inventory.Current, inventory.Settings, scope: user.AccessScope());
        var target = Target(book, host, managementAllow, out var targetError);
        return targetError is not null ? Bad(targetError) : Render(ruleset!, format, inventory, options.Value, user.AccessScope(), book, target);
    }

    /// <summary>The nftables target of <c>host</c> and <c>managementAllow</c> (comma-separated); the error names what is wrong.</summary>
    internal static NftablesTarget? Target(InventoryAddressBook book, string? host, string? managementAllow, out string? error)
    {
        var management = managementAllow?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        return NftablesTarget.ForHost(book, string.IsNullOrWhiteSpace(host) ? null : host.Trim(), management, out error);
    }

    /// <summary>
    /// Both renderers read the inventory from the caller's scope only: nftables its addresses, NetworkPolicy the
    /// kinds of the workloads a group stands for (pods or not). NetworkPolicy selects by labels otherwise (its
    /// ipBlocks are the ruleset's own CIDRs and the fixed internet ranges).
    /// </summary>
    private static ContentHttpResult Render(
        PolicyRuleset ruleset, string format, WorkloadInventory inventory, PolicyOptions options, AccessScope scope, InventoryAddressBook? book, NftablesTarget? target)
    {
        book ??= InventoryAddressBook.FromIndex(inventory.Current, inventory.Settings, scope: scope);
        return format == "networkpolicy"
            ? TypedResults.Text(new NetworkPolicyRenderer(new NetworkPolicyOptions { WorkloadKinds = book.Kinds }).Render(ruleset).Yaml, "application/yaml; charset=utf-8")
            : TypedResults.Text(new NftablesRenderer(book, options.NftablesLogGroup).Render(ruleset, target), "text/plain; charset=utf-8");
    }

    internal static async Task<Results<Ok<SimulationResult>, ProblemHttpResult>> SimulateAsync(
        HttpRequest request, ClaimsPrincipal user, PolicySimulator simulator, CancellationToken cancellationToken)
    {
        var (body, error) = await ReadAsync<SimulateBody>(request, cancellationToken);
        if (error is not null)
        {
            return Bad(error);
        }

        if (PolicyValidation.Problems(body!.Ruleset) is { Count: > 0 } problems)
        {
            return Bad("ruleset: " + string.Join("; ", problems));
        }

        DateTimeOffset start, end;
        if (body.From is null && body.To is null && body.Last is null && body.Ruleset!.Source is { } source)
        {
            (start, end) = (source.From, source.To);
        }
        else if (!TimeRange.TryParse(body.From, body.To, body.Last, DateTimeOffset.UtcNow, out start, out end, out var timeError))
        {
            return Bad(timeError!);
        }

        // Only the traffic the ruleset governs is judged (its scope), unless all of it is asked for.
        var scope = body.AllTraffic == true ? "" : PolicyScope.Of(body.Ruleset!);
        if (!FilterClause.TryCreate(scope, out _, out var scopeError))
        {
            return Bad($"ruleset: source.scope '{scope}' is not a filter: {scopeError}");
        }

        if (!ScopedFilter.TryCreate(user, body.AllTraffic == true ? body.Filter : PolicyScope.Filter(body.Ruleset!, body.Filter), out var filter, out var filterError))
        {
            return Bad(filterError);
        }

        var result = await simulator.SimulateAsync(body.Ruleset!, start, end, filter, cancellationToken);
        return TypedResults.Ok(result with { Scope = scope });
    }

    internal static async Task<Results<Ok<PolicyDifference>, ProblemHttpResult>> Diff(HttpRequest request, CancellationToken cancellationToken)
    {
        var (body, error) = await ReadAsync<DiffBody>(request, cancellationToken);
        if (error is not null)
        {
            return Bad(error);
        }

        var problems = PolicyValidation.Problems(body!.Before).Select(p => "before: " + p)
            .Concat(PolicyValidation.Problems(body.After).Select(p => "after: " + p)).ToList();
        return problems.Count > 0 ? Bad(string.Join("; ", problems)) : TypedResults.Ok(PolicyDiff.Compare(body.Before!, body.After!));
    }

    /// <summary>A request body of <typeparamref name="T"/>, or what is wrong with it (unknown members too), for a 400.</summary>
    internal static async Task<(T? Body, string? Error)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            var body = await JsonSerializer.DeserializeAsync<T>(request.Body, Json, cancellationToken);
            return body is null ? (null, "the body is empty") : (body, null);
        }
        catch (JsonException ex)
        {
            return (null, $"the body is not valid: {JsonProblem.Describe(ex, typeof(T), Json)}");
        }
    }

    private static readonly JsonSerializerOptions Json = new() { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    private static ProblemHttpResult Bad(string error) => TypedResults.Problem(error, statusCode: StatusCodes.Status400BadRequest);
}
