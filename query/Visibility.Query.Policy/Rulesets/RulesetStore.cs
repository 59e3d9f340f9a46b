using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Query.Policy.Rulesets;

/// <summary>
/// Stored, versioned rulesets and their provisioning, in the store's append-only <c>policy_rulesets</c> and
/// <c>policy_provisioning</c> tables (migration 15), so every <c>serve</c> process on one store sees the same
/// policy. Saving writes version n+1; nothing is ever rewritten, so the set provisioned at any past time can be
/// answered (<see cref="ProvisionedAtAsync"/>). Version numbers are assigned under a lock of this process: two
/// processes saving the same ruleset at the same instant could both write the same number.
/// </summary>
public sealed class RulesetStore(IFlowReader reader, IFlowCatalog catalog, TimeProvider? clock = null) : IDisposable
{
    /// <summary>The most rulesets, and the most versions of one ruleset, a list returns.</summary>
    public const int MaxListed = 10_000;

    private static readonly JsonSerializerOptions DocumentJson = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly TimeProvider clock = clock ?? TimeProvider.System;
    private readonly SemaphoreSlim saving = new(1, 1);

    private string Db => FlowSchema.QuoteDatabase(reader.Database);

    /// <summary>Saves <paramref name="ruleset"/> as the next version of <paramref name="name"/> (1 for a new ruleset).</summary>
    public async Task<RulesetVersion> SaveAsync(string name, RulesetScope scope, PolicyRuleset ruleset, string principal, int? restoredFrom, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(ruleset);
        await saving.WaitAsync(cancellationToken);
        try
        {
            var latest = await LatestVersionAsync(name, cancellationToken);
            var saved = new RulesetVersion(name, latest + 1, scope.Text, principal, Now(), restoredFrom, ruleset with { Name = name });
            var row = new VersionRow(
                saved.Name, saved.Version, saved.Scope, JsonSerializer.Serialize(saved.Ruleset, DocumentJson),
                restoredFrom ?? 0, principal, Time(saved.SavedAt));
            await catalog.InsertRowsAsync(
                $"INSERT INTO {Db}.{FlowSchema.RulesetsTable} (name, version, scope, document, restored_from, saved_by, saved_at)",
                "JSONEachRow", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(row) + "\n"), cancellationToken);
            return saved;
        }
        finally
        {
            saving.Release();
        }
    }

    /// <summary>Saves a copy of version <paramref name="version"/> as the next version; null when that version does not exist.</summary>
    public async Task<RulesetVersion?> RestoreAsync(string name, int version, string principal, CancellationToken cancellationToken)
    {
        if (await GetAsync(name, version, cancellationToken) is not { } old)
        {
            return null;
        }

        return await SaveAsync(name, RulesetScope.Parse(old.Scope), old.Ruleset, principal, version, cancellationToken);
    }

    /// <summary>One version of a ruleset, or null.</summary>
    public async Task<RulesetVersion?> GetAsync(string name, int version, CancellationToken cancellationToken) =>
        await ReadVersionsAsync("name = {name:String} AND version = {version:UInt32}", [new("name", name), new("version", Int(version))], 1, cancellationToken)
            is [var found, ..] ? found : null;

    /// <summary>The newest version of a ruleset, or null when it was never saved.</summary>
    public async Task<RulesetVersion?> LatestAsync(string name, CancellationToken cancellationToken)
    {
        var latest = await LatestVersionAsync(name, cancellationToken);
        return latest == 0 ? null : await GetAsync(name, latest, cancellationToken);
    }

    /// <summary>Every version of a ruleset, oldest first (empty when it was never saved).</summary>
    public Task<IReadOnlyList<RulesetVersion>> VersionsAsync(string name, CancellationToken cancellationToken) =>
        ReadVersionsAsync("name = {name:String}", [new("name", name)], MaxListed, cancellationToken);

    /// <summary>Every ruleset: its newest version, and its provisioning now.</summary>
    public async Task<IReadOnlyList<RulesetSummary>> ListAsync(CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT name, max(version) AS latest, argMax(scope, version) AS latest_scope, argMax(saved_by, version) AS latest_by,
                   toUnixTimestamp64Micro(argMax(saved_at, version)) AS latest_micros
            FROM {Db}.{FlowSchema.RulesetsTable}
            GROUP BY name
            ORDER BY name
            LIMIT {MaxListed}
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span), [], cancellationToken);
        var current = (await CurrentChangesAsync(clock.GetUtcNow(), null, cancellationToken)).ToDictionary(c => c.Name, StringComparer.Ordinal);
        return [.. Lines(text).Select(l => JsonSerializer.Deserialize<SummaryRow>(l)!).Select(r => new RulesetSummary(
            r.Name, r.Scope, r.Version, r.SavedBy, Micros(r.SavedAt),
            current.TryGetValue(r.Name, out var change) && !change.IsWithdrawal ? change : null))];
    }

    /// <summary>Makes <paramref name="version"/> of <paramref name="name"/> the active one, in <paramref name="mode"/>.</summary>
    public Task<ProvisionChange> ProvisionAsync(string name, int version, string mode, string principal, CancellationToken cancellationToken)
    {
        if (!ProvisionModes.IsMode(mode))
        {
            throw new ArgumentException($"mode '{mode}' is not one of {string.Join(", ", ProvisionModes.All)}", nameof(mode));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        return RecordAsync(name, version, mode, principal, cancellationToken);
    }

    /// <summary>Withdraws <paramref name="name"/> from the provisioned set (no version of it is active afterwards).</summary>
    public Task<ProvisionChange> WithdrawAsync(string name, string principal, CancellationToken cancellationToken) =>
        RecordAsync(name, 0, ProvisionChange.Withdrawn, principal, cancellationToken);

    /// <summary>The provisioning changes, newest first: of one ruleset, or of all when <paramref name="name"/> is null.</summary>
    public async Task<IReadOnlyList<ProvisionChange>> HistoryAsync(string? name, int limit, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT toUnixTimestamp64Micro(time) AS micros, name, version, mode, principal
            FROM {Db}.{FlowSchema.ProvisioningTable}
            WHERE ({"{name:String}"} = '' OR name = {"{name:String}"})
            ORDER BY time DESC, name
            LIMIT {"{limit:UInt32}"}
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span),
            [new("name", name ?? ""), new("limit", Int(limit))], cancellationToken);
        return [.. Lines(text).Select(l => JsonSerializer.Deserialize<ChangeRow>(l)!.ToChange())];
    }

    /// <summary>
    /// The provisioned set at <paramref name="at"/>: for each ruleset whose latest provisioning change at or before
    /// that time made a version active, that version and its mode. Empty before the first provisioning.
    /// Decisions about traffic of a past time use the set of that time (the audit question).
    /// </summary>
    public async Task<IReadOnlyList<ProvisionedRuleset>> ProvisionedAtAsync(DateTimeOffset at, CancellationToken cancellationToken)
    {
        var active = new List<ProvisionedRuleset>();
        foreach (var change in await CurrentChangesAsync(at, null, cancellationToken))
        {
            if (change.IsWithdrawal)
            {
                continue;
            }

            var version = await GetAsync(change.Name, change.Version, cancellationToken)
                ?? throw new InvalidOperationException($"ruleset '{change.Name}' version {change.Version} is provisioned but not stored");
            active.Add(new ProvisionedRuleset(change.Name, change.Version, change.Mode, version.Scope, change.Time, change.Principal, version.Ruleset));
        }

        return active;
    }

    /// <summary>The provisioned set now.</summary>
    public Task<IReadOnlyList<ProvisionedRuleset>> ProvisionedNowAsync(CancellationToken cancellationToken) =>
        ProvisionedAtAsync(clock.GetUtcNow(), cancellationToken);

    public void Dispose() => saving.Dispose();

    /// <summary>Per ruleset (or only <paramref name="name"/>), its latest provisioning change at or before <paramref name="at"/>.</summary>
    private async Task<IReadOnlyList<ProvisionChange>> CurrentChangesAsync(DateTimeOffset at, string? name, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT toUnixTimestamp64Micro(max(time)) AS micros, name, argMax(version, time) AS latest_version, argMax(mode, time) AS latest_mode,
                   argMax(principal, time) AS latest_principal
            FROM {Db}.{FlowSchema.ProvisioningTable}
            WHERE time <= fromUnixTimestamp64Micro({"{at:Int64}"}, 'UTC')
              AND ({"{name:String}"} = '' OR name = {"{name:String}"})
            GROUP BY name
            ORDER BY name
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span),
            [new("at", MicrosOf(at).ToString(CultureInfo.InvariantCulture)), new("name", name ?? "")], cancellationToken);
        return [.. Lines(text).Select(l => JsonSerializer.Deserialize<LatestChangeRow>(l)!.ToChange())];
    }

    private async Task<ProvisionChange> RecordAsync(string name, int version, string mode, string principal, CancellationToken cancellationToken)
    {
        var change = new ProvisionChange(Now(), name, version, mode, principal);
        var row = new ChangeRowOut(Time(change.Time), name, version, mode, principal);
        await catalog.InsertRowsAsync(
            $"INSERT INTO {Db}.{FlowSchema.ProvisioningTable} (time, name, version, mode, principal)",
            "JSONEachRow", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(row) + "\n"), cancellationToken);
        return change;
    }

    private async Task<int> LatestVersionAsync(string name, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"SELECT max(version) FROM {Db}.{FlowSchema.RulesetsTable} WHERE name = {{name:String}}",
            "TSV", static span => Encoding.UTF8.GetString(span), [new("name", name)], cancellationToken);
        return int.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }

    private async Task<IReadOnlyList<RulesetVersion>> ReadVersionsAsync(string where, IReadOnlyList<QueryParameter> parameters, int limit, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT name, version, scope, document, restored_from, saved_by, toUnixTimestamp64Micro(saved_at) AS saved_micros
            FROM {Db}.{FlowSchema.RulesetsTable}
            WHERE {where}
            ORDER BY name, version
            LIMIT {limit}
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span), parameters, cancellationToken);
        return [.. Lines(text).Select(l => JsonSerializer.Deserialize<VersionRowIn>(l)!).Select(r => new RulesetVersion(
            r.Name, r.Version, r.Scope, r.SavedBy, Micros(r.SavedAt), r.RestoredFrom == 0 ? null : r.RestoredFrom,
            JsonSerializer.Deserialize<PolicyRuleset>(r.Document, DocumentJson)!))];
    }

    /// <summary>The clock's time at the store's precision (microseconds), so a returned record equals the one read back.</summary>
    private DateTimeOffset Now()
    {
        var now = clock.GetUtcNow();
        return now.AddTicks(-(now.Ticks % 10));
    }

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);

    private static long MicrosOf(DateTimeOffset time) => (time - DateTimeOffset.UnixEpoch).Ticks / 10;

    private static DateTimeOffset Micros(long micros) => DateTimeOffset.UnixEpoch.AddTicks(micros * 10);

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private sealed record VersionRow(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("scope")] string Scope,
        [property: JsonPropertyName("document")] string Document,
        [property: JsonPropertyName("restored_from")] int RestoredFrom,
        [property: JsonPropertyName("saved_by")] string SavedBy,
        [property: JsonPropertyName("saved_at")] string SavedAt);

    private sealed record VersionRowIn(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("scope")] string Scope,
        [property: JsonPropertyName("document")] string Document,
        [property: JsonPropertyName("restored_from")] int RestoredFrom,
        [property: JsonPropertyName("saved_by")] string SavedBy,
        [property: JsonPropertyName("saved_micros"), JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)] long SavedAt);

    private sealed record SummaryRow(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("latest")] int Version,
        [property: JsonPropertyName("latest_scope")] string Scope,
        [property: JsonPropertyName("latest_by")] string SavedBy,
        [property: JsonPropertyName("latest_micros"), JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)] long SavedAt);

    private sealed record ChangeRowOut(
        [property: JsonPropertyName("time")] string Time,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("mode")] string Mode,
        [property: JsonPropertyName("principal")] string Principal);

    private sealed record ChangeRow(
        [property: JsonPropertyName("micros"), JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)] long Time,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("version")] int Version,
        [property: JsonPropertyName("mode")] string Mode,
        [property: JsonPropertyName("principal")] string Principal)
    {
        public ProvisionChange ToChange() => new(Micros(Time), Name, Version, Mode, Principal);
    }

    private sealed record LatestChangeRow(
        [property: JsonPropertyName("micros"), JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)] long Time,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("latest_version")] int Version,
        [property: JsonPropertyName("latest_mode")] string Mode,
        [property: JsonPropertyName("latest_principal")] string Principal)
    {
        public ProvisionChange ToChange() => new(Micros(Time), Name, Version, Mode, Principal);
    }
}
