using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Visibility.Flows.Json;
using Visibility.Flows.Store;
using Visibility.Ingest.Enrichment;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Query.Policy.Rulesets;
using Visibility.Web.Auth;

namespace Visibility.Web.Api;

/// <summary>
/// Stored rulesets: save (a new version each time), list, read, diff and restore versions, provision one version
/// per ruleset in a mode, and read the provisioned set (JSON, or rendered as nftables or NetworkPolicy). Reads are
/// open to every role; saving and restoring to policy authors and admins; provisioning to admins
/// (<see cref="AccessPolicies.Provision"/>). A scoped caller reaches only rulesets whose scope lies inside its own
/// (<see cref="RulesetScope.IsWithin"/>): others are absent from its lists and reads, and refused to its changes.
/// Saves, restores and provisioning changes are audited (<c>policy.ruleset.*</c>), refused ones too.
/// </summary>
public static partial class RulesetsApi
{
    public const int MaxNameLength = 100;

    /// <summary>
    /// The ruleset store. An embedded store is open in one process only, whose saves already queue on the store's own
    /// lock: they need not settle. On a server store other processes may save at the same instant.
    /// </summary>
    public static IServiceCollection AddRulesets(this IServiceCollection services) =>
        services.AddSingleton(sp => new RulesetStore(
            sp.GetRequiredService<IFlowReader>(), sp.GetRequiredService<IFlowCatalog>(),
            settle: sp.GetRequiredService<IFlowStore>() is EmbeddedFlowStore ? TimeSpan.Zero : StoreLease.Settle));

    public static RouteGroupBuilder MapRulesetsApi(this RouteGroupBuilder api)
    {
        var policy = api.MapGroup("/policy");
        policy.MapPost("/rulesets", SaveAsync).RequireAuthorization(AccessPolicies.Policy).AddEndpointFilter(new AuditFilter("policy.ruleset.save"))
            .WithSummary("Save a ruleset: a new version (1 for a new name)")
            .WithDescription("Body: {\"name\": \"prod\", \"scope\": \"env=prod\", \"rules\": [...]} or {\"name\", \"scope\"?, \"ruleset\": {visibility.policy/v1}}. "
                + "Without a scope: the previous version's, or the draft's destination filter (dst.env = prod). 201 {\"name\", \"version\", \"scope\"}.");
        policy.MapGet("/rulesets", ListAsync).WithSummary("Stored rulesets: newest version and what is provisioned of each");
        policy.MapGet("/rulesets/{name}/versions", VersionsAsync).WithSummary("Every version of a ruleset, oldest first");
        policy.MapGet("/rulesets/{name}/versions/{version:int}", GetAsync).WithSummary("One version of a ruleset, with its rules");
        policy.MapGet("/rulesets/{name}/diff", DiffAsync).WithSummary("What changed from one version to another")
            .WithDescription("from, to: versions (default: to = the newest, from = the one before it).");
        policy.MapPost("/rulesets/{name}/restore", RestoreAsync).RequireAuthorization(AccessPolicies.Policy).AddEndpointFilter(new AuditFilter("policy.ruleset.restore"))
            .WithSummary("Save an old version again as the newest one").WithDescription("Body: {\"version\": N}. 201 {\"name\", \"version\", \"restoredFrom\"}.");
        policy.MapPost("/rulesets/{name}/provision", ProvisionAsync).AddEndpointFilter(new AuditFilter("policy.ruleset.provision"))
            .WithSummary("Make one version of a ruleset the active one, in a mode (admins)")
            .WithDescription("Body: {\"version\": N, \"mode\": \"visibility\" | \"enforced\"}.");
        policy.MapDelete("/rulesets/{name}/provision", WithdrawAsync).AddEndpointFilter(new AuditFilter("policy.ruleset.withdraw"))
            .WithSummary("Withdraw a ruleset from the provisioned set (admins)");
        policy.MapGet("/provisioned", ProvisionedAsync).WithSummary("The provisioned set: JSON, or rendered as nftables or NetworkPolicy")
            .WithDescription("format=json (default)|nftables|networkpolicy; at=<time> for the set provisioned then (default now). "
                + "nftables: each ruleset governs its scope's destinations and logs what it refuses (log group Visibility:Policy:NftablesLogGroup, prefix \"vis-drop <ruleset>\"); "
                + "host=NAME renders that host's input only, managementAllow=CIDR,… accepts those sources on input.");
        policy.MapGet("/provisioned/history", HistoryAsync).WithSummary("Provisioning changes, newest first: who, when, which version, which mode")
            .WithDescription("name=<ruleset> (default: all), limit (default 1000).");
        return api;
    }

    /// <summary>A save: <c>rules</c> with a scope, or a whole <c>ruleset</c> document.</summary>
    public sealed record SaveBody(
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("scope")] string? Scope,
        [property: JsonPropertyName("rules")] IReadOnlyList<PolicyRule>? Rules,
        [property: JsonPropertyName("groupBy")] IReadOnlyList<string>? GroupBy,
        [property: JsonPropertyName("ruleset")] PolicyRuleset? Ruleset);

    /// <summary>A saved version: 201's body.</summary>
    public sealed record Saved(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("scope")] string Scope,
        [property: JsonPropertyName("restoredFrom"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? RestoredFrom);

    /// <summary>A restore: the version to save again.</summary>
    public sealed record VersionBody([property: JsonPropertyName("version")] int? Version);

    /// <summary>A provisioning: the version to make active and its mode.</summary>
    public sealed record ProvisionBody(
        [property: JsonPropertyName("version")] int? Version,
        [property: JsonPropertyName("mode")] string? Mode);

    /// <summary>A version without its rules (the version list).</summary>
    public sealed record VersionInfo(
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("scope")] string Scope,
        [property: JsonPropertyName("rules")] int Rules,
        [property: JsonPropertyName("savedBy")] string SavedBy,
        [property: JsonPropertyName("savedAt")] DateTimeOffset SavedAt,
        [property: JsonPropertyName("restoredFrom"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? RestoredFrom);

    /// <summary>Two versions of a ruleset compared.</summary>
    public sealed record VersionDiff(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("from")] int From,
        [property: JsonPropertyName("to")] int To,
        [property: JsonPropertyName("difference")] PolicyDifference Difference);

    /// <summary>The provisioned set at a time.</summary>
    public sealed record Provisioned(
        [property: JsonPropertyName("at")] DateTimeOffset At,
        [property: JsonPropertyName("rulesets")] IReadOnlyList<ProvisionedRuleset> Rulesets);

    internal static async Task<Results<Created<Saved>, ProblemHttpResult>> SaveAsync(
        HttpContext context, RulesetStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await PolicyApi.ReadAsync<SaveBody>(context.Request, cancellationToken);
        if (error is not null)
        {
            return Problem(400, error);
        }

        if (NameProblem(body!.Name) is { } nameProblem)
        {
            return Problem(400, nameProblem);
        }

        var name = body.Name!;
        if ((body.Rules is null) == (body.Ruleset is null))
        {
            return Problem(400, "give either \"rules\" (with \"scope\") or \"ruleset\" (a visibility.policy/v1 document), not both or neither");
        }

        var ruleset = body.Ruleset ?? new PolicyRuleset(name, body.GroupBy ?? GroupKeys(body.Rules!), body.Rules!);
        if (PolicyValidation.Problems(ruleset) is { Count: > 0 } problems)
        {
            return Problem(400, "ruleset: " + string.Join("; ", problems));
        }

        var previous = await store.LatestAsync(name, cancellationToken);
        RulesetScope? scope;
        if (body.Scope is not null || (previous is null && RulesetScope.FromDraftFilter(ruleset.Source?.Scope) is null))
        {
            if (!RulesetScope.TryParse(body.Scope, out scope, out var scopeError))
            {
                return Problem(400, scopeError + (body.Scope is null && body.Ruleset?.Source?.Scope is { Length: > 0 } filter
                    ? $" (the draft's filter '{filter}' is not only dst.<key> = <value> terms)" : ""));
            }
        }
        else
        {
            scope = previous is not null ? RulesetScope.Parse(previous.Scope) : RulesetScope.FromDraftFilter(ruleset.Source?.Scope)!;
        }

        if (previous is not null && Refusal(context.User, name, RulesetScope.Parse(previous.Scope), "change") is { } refusedOld)
        {
            return refusedOld;
        }

        if (Refusal(context.User, name, scope, "save") is { } refused)
        {
            return refused;
        }

        var saved = await store.SaveAsync(name, scope, ruleset, context.User.PrincipalName(), null, cancellationToken);
        context.Items[AuditFilter.TargetItem] = $"ruleset={name} version={saved.Version} scope={saved.Scope}";
        return TypedResults.Created($"/api/v1/policy/rulesets/{name}/versions/{saved.Version}", new Saved(name, saved.Version, saved.Scope, null));
    }

    internal static async Task<Ok<IReadOnlyList<RulesetSummary>>> ListAsync(ClaimsPrincipal user, RulesetStore store, CancellationToken cancellationToken)
    {
        var access = user.AccessScope();
        var all = await store.ListAsync(cancellationToken);
        return TypedResults.Ok<IReadOnlyList<RulesetSummary>>([.. all.Where(r => RulesetScope.Parse(r.Scope).IsWithin(access))]);
    }

    internal static async Task<Results<Ok<IReadOnlyList<VersionInfo>>, ProblemHttpResult>> VersionsAsync(
        string name, ClaimsPrincipal user, RulesetStore store, CancellationToken cancellationToken)
    {
        var versions = await store.VersionsAsync(name, cancellationToken);
        if (versions.Count == 0 || !Reaches(user, versions[^1].Scope))
        {
            return NoRuleset(name);
        }

        return TypedResults.Ok<IReadOnlyList<VersionInfo>>([.. versions.Where(v => Reaches(user, v.Scope)).Select(Info)]);
    }

    internal static async Task<Results<Ok<RulesetVersion>, ProblemHttpResult>> GetAsync(
        string name, int version, ClaimsPrincipal user, RulesetStore store, CancellationToken cancellationToken)
    {
        var found = await store.GetAsync(name, version, cancellationToken);
        return found is not null && Reaches(user, found.Scope) ? TypedResults.Ok(found) : NoVersion(name, version);
    }

    internal static async Task<Results<Ok<VersionDiff>, ProblemHttpResult>> DiffAsync(
        string name, int? from, int? to, ClaimsPrincipal user, RulesetStore store, CancellationToken cancellationToken)
    {
        var latest = await store.LatestAsync(name, cancellationToken);
        if (latest is null || !Reaches(user, latest.Scope))
        {
            return NoRuleset(name);
        }

        var after = to ?? latest.Version;
        var before = from ?? after - 1;
        if (before < 1)
        {
            return Problem(400, $"ruleset '{name}' has only version {after}: give from and to (two versions) to compare");
        }

        var older = await store.GetAsync(name, before, cancellationToken);
        var newer = await store.GetAsync(name, after, cancellationToken);
        if (older is null || !Reaches(user, older.Scope))
        {
            return NoVersion(name, before);
        }

        if (newer is null || !Reaches(user, newer.Scope))
        {
            return NoVersion(name, after);
        }

        return TypedResults.Ok(new VersionDiff(name, before, after, PolicyDiff.Compare(older.Ruleset, newer.Ruleset)));
    }

    internal static async Task<Results<Created<Saved>, ProblemHttpResult>> RestoreAsync(
        string name, HttpContext context, RulesetStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await PolicyApi.ReadAsync<VersionBody>(context.Request, cancellationToken);
        if (error is not null || body!.Version is not { } version)
        {
            return Problem(400, error ?? "version is required: {\"version\": N}");
        }

        var latest = await store.LatestAsync(name, cancellationToken);
        var old = await store.GetAsync(name, version, cancellationToken);
        if (latest is null || !Reaches(context.User, latest.Scope))
        {
            return NoRuleset(name);
        }

        if (old is null || !Reaches(context.User, old.Scope))
        {
            return NoVersion(name, version);
        }

        var saved = await store.RestoreAsync(name, version, context.User.PrincipalName(), cancellationToken);
        context.Items[AuditFilter.TargetItem] = $"ruleset={name} version={saved!.Version} restoredFrom={version}";
        return TypedResults.Created($"/api/v1/policy/rulesets/{name}/versions/{saved.Version}", new Saved(name, saved.Version, saved.Scope, version));
    }

    internal static async Task<Results<Ok<ProvisionChange>, ProblemHttpResult>> ProvisionAsync(
        string name, HttpContext context, RulesetStore store, CancellationToken cancellationToken)
    {
        // The role is checked here rather than by the route's policy, so that a refused provisioning reaches the audit log.
        context.Items[AuditFilter.TargetItem] = $"ruleset={name}";
        if (RoleRefusal(context.User) is { } forbidden)
        {
            return forbidden;
        }

        var (body, error) = await PolicyApi.ReadAsync<ProvisionBody>(context.Request, cancellationToken);
        if (error is not null)
        {
            return Problem(400, error);
        }

        if (body!.Version is not { } version || version < 1)
        {
            return Problem(400, "version is required: {\"version\": N, \"mode\": \"visibility\" | \"enforced\"} with N a saved version (1 or more)");
        }

        if (!ProvisionModes.IsMode(body.Mode))
        {
            return Problem(400, $"mode '{body.Mode}' is not one of {string.Join(", ", ProvisionModes.All)}");
        }

        var found = await store.GetAsync(name, version, cancellationToken);
        if (found is null || !Reaches(context.User, found.Scope))
        {
            return NoVersion(name, version);
        }

        var change = await store.ProvisionAsync(name, version, body.Mode!, context.User.PrincipalName(), cancellationToken);
        context.Items[AuditFilter.TargetItem] = $"ruleset={name} version={version} mode={body.Mode}";
        return TypedResults.Ok(change);
    }

    internal static async Task<Results<Ok<ProvisionChange>, ProblemHttpResult>> WithdrawAsync(
        string name, HttpContext context, RulesetStore store, CancellationToken cancellationToken)
    {
        context.Items[AuditFilter.TargetItem] = $"ruleset={name}";
        if (RoleRefusal(context.User) is { } forbidden)
        {
            return forbidden;
        }

        var active = (await store.ProvisionedNowAsync(cancellationToken)).FirstOrDefault(r => r.Name == name);
        if (active is null || !Reaches(context.User, active.Scope))
        {
            return Problem(404, $"ruleset '{name}' is not provisioned");
        }

        var change = await store.WithdrawAsync(name, context.User.PrincipalName(), cancellationToken);
        context.Items[AuditFilter.TargetItem] = $"ruleset={name} version={active.Version} withdrawn";
        return TypedResults.Ok(change);
    }

    internal static async Task<Results<Ok<Provisioned>, ContentHttpResult, ProblemHttpResult>> ProvisionedAsync(
        string? format, string? at, string? host, string? managementAllow, ClaimsPrincipal user, RulesetStore store, WorkloadInventory inventory,
        IOptions<PolicyOptions> options, CancellationToken cancellationToken)
    {
        if (format is not (null or "json" or "nftables" or "networkpolicy"))
        {
            return Problem(400, $"format '{format}' is not one of json, nftables, networkpolicy");
        }

        if (format != "nftables" && (host is not null || managementAllow is not null))
        {
            return Problem(400, "host and managementAllow apply to format=nftables only");
        }

        var when = DateTimeOffset.UtcNow;
        if (at is not null && !TimeRange.TryParseInstant(at, out when))
        {
            return Problem(400, $"at '{at}' is not a time (RFC 3339, e.g. 2026-01-31T12:00:00Z, or Unix seconds)");
        }

        var access = user.AccessScope();
        var active = (await store.ProvisionedAtAsync(when, cancellationToken)).Where(r => RulesetScope.Parse(r.Scope).IsWithin(access)).ToList();
        if (format is null or "json")
        {
            return TypedResults.Ok(new Provisioned(when, active));
        }

        if (active.Count == 0)
        {
            // An empty ruleset renders as "drop everything": never hand that out for "nothing is provisioned".
            return Problem(404, "no ruleset is provisioned" + (at is null ? "" : $" at {when:O}") + (access.IsUnrestricted ? "" : " within your scope"));
        }

        if (format == "networkpolicy")
        {
            return TypedResults.Text(new NetworkPolicyRenderer().Render(ProvisionedSet.Merge(active)).Yaml, "application/yaml; charset=utf-8");
        }

        // Each ruleset governs its own scope: traffic to destinations none governs passes (see docs/policy.md).
        var book = InventoryAddressBook.FromIndex(inventory.Current, inventory.Settings, scope: access);
        var target = PolicyApi.Target(book, host, managementAllow, out var targetError);
        return targetError is not null
            ? Problem(400, targetError)
            : TypedResults.Text(new NftablesRenderer(book, options.Value.NftablesLogGroup).RenderProvisioned(active, target), "text/plain; charset=utf-8");
    }

    internal static async Task<Ok<IReadOnlyList<ProvisionChange>>> HistoryAsync(
        string? name, int? limit, ClaimsPrincipal user, RulesetStore store, CancellationToken cancellationToken)
    {
        var access = user.AccessScope();
        var scopes = (await store.ListAsync(cancellationToken)).ToDictionary(r => r.Name, r => RulesetScope.Parse(r.Scope), StringComparer.Ordinal);
        var history = await store.HistoryAsync(name, Math.Clamp(limit ?? 1000, 1, RulesetStore.MaxListed), cancellationToken);
        return TypedResults.Ok<IReadOnlyList<ProvisionChange>>([.. history.Where(c => scopes.TryGetValue(c.Name, out var s) && s.IsWithin(access))]);
    }

    /// <summary>Ruleset names go into URLs and rendered comments: letters, digits, '.', '_', '-'.</summary>
    public static string? NameProblem(string? name) =>
        string.IsNullOrEmpty(name) ? "name is required"
        : name.Length > MaxNameLength || !RulesetName().IsMatch(name)
            ? $"name '{name}' is not a ruleset name: a letter or digit, then letters, digits, '.', '_' or '-' (at most {MaxNameLength})"
            : null;

    private static bool Reaches(ClaimsPrincipal user, string scope) => RulesetScope.Parse(scope).IsWithin(user.AccessScope());

    private static ProblemHttpResult? Refusal(ClaimsPrincipal user, string name, RulesetScope scope, string verb)
    {
        var access = user.AccessScope();
        return scope.IsWithin(access) ? null
            : Problem(403, $"you may not {verb} ruleset '{name}': its scope {scope.Text} is not inside your scope {access.Text}");
    }

    private static ProblemHttpResult? RoleRefusal(ClaimsPrincipal user) =>
        AccessPolicies.RolesFor(AccessPolicies.Provision).Contains(user.RoleName(), StringComparer.Ordinal) ? null
            : Problem(403, $"role '{user.RoleName()}' may not provision rulesets; it needs one of the roles {string.Join(", ", AccessPolicies.RolesFor(AccessPolicies.Provision))}");

    private static VersionInfo Info(RulesetVersion v) => new(v.Version, v.Scope, v.Ruleset.Rules.Count, v.SavedBy, v.SavedAt, v.RestoredFrom);

    /// <summary>The label keys the rules' workload peers use (<c>app</c>, <c>env</c> when they use none).</summary>
    private static string[] GroupKeys(IReadOnlyList<PolicyRule> rules)
    {
        var keys = rules.Where(r => r is not null)
            .SelectMany(r => new[] { r.Source, r.Destination })
            .Where(p => p is { Kind: PolicyPeer.Workload, Labels: not null })
            .SelectMany(p => p.Labels.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return keys.Length > 0 ? keys : ["app", "env"];
    }

    private static ProblemHttpResult NoRuleset(string name) => Problem(404, $"no ruleset '{name}'");

    private static ProblemHttpResult NoVersion(string name, int version) =>
        Problem(404, $"ruleset '{name}' has no version {version.ToString(CultureInfo.InvariantCulture)}");

    private static ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(detail, statusCode: status);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex RulesetName();
}
