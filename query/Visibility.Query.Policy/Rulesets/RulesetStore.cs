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
/// <c>policy_provisioning</c> tables (migrations 15 and 17), so every <c>serve</c> process on one store sees the same
/// policy. Saving writes version n+1; nothing is ever rewritten, so the set provisioned at any past time can be
/// answered (<see cref="ProvisionedAtAsync"/>).
/// <para>
/// Version numbers are unique across processes sharing a store. ClickHouse has no compare-and-set, so a save is a
/// contest, like a <see cref="StoreLease"/> claim: it writes version n+1 with a save id that sorts by the store's
/// clock (read with the latest version) and then a random suffix, reads the rows of that version back
/// <see cref="StoreLease.Settle"/> later, and keeps the number only when its row has the least id. Otherwise another
/// process saved that number first, and the save is written again as the next one. Every read of a version picks the
/// same row, the one with the least id (<see cref="Winners"/>), so a lost row is never seen and every reader agrees
/// what version n is. This holds while a row becomes visible within <see cref="StoreLease.Settle"/> of its id's time
/// (the store lease's assumption too). Within one process saves queue on a lock, and an embedded store is open in one
/// process only, so it needs no settling (<paramref name="settle"/> zero).
/// </para>
/// </summary>
/// <param name="reader">The store's reader.</param>
/// <param name="catalog">The store's control-table writer.</param>
/// <param name="clock">The clock of <c>saved_at</c> and provisioning times.</param>
/// <param name="settle">How long a save waits before reading its version back (default <see cref="StoreLease.Settle"/>).</param>
public sealed class RulesetStore(IFlowReader reader, IFlowCatalog catalog, TimeProvider? clock = null, TimeSpan? settle = null) : IDisposable
{
    /// <summary>The most rulesets, and the most versions of one ruleset, a list returns.</summary>
    public const int MaxListed = 10_000;

    /// <summary>How many times one save may lose its number to another process's save before it gives up.</summary>
    public const int MaxAttempts = 100;

    private static readonly JsonSerializerOptions DocumentJson = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly TimeProvider clock = clock ?? TimeProvider.System;
    private readonly TimeSpan settle = settle ?? StoreLease.Settle;
    private readonly SemaphoreSlim saving = new(1, 1);

    private string Db => FlowSchema.QuoteDatabase(reader.Database);

    /// <summary>
    /// Saves <paramref name="ruleset"/> as the next version of <paramref name="name"/> (1 for a new ruleset): a number
    /// no other save, in this process or another sharing the store, gets.
    /// </summary>
    public async Task<RulesetVersion> SaveAsync(string name, RulesetScope scope, PolicyRuleset ruleset, string principal, int? restoredFrom, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(ruleset);
        await saving.WaitAsync(cancellationToken);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var (latest, storeMicros) = await LatestVersionAsync(name, cancellationToken);
                var saveId = string.Create(CultureInfo.InvariantCulture, $"{storeMicros:D19}-{Guid.NewGuid():N}");
                var saved = new RulesetVersion(name, latest + 1, scope.Text, principal, Now(), restoredFrom, ruleset with { Name = name });
                var row = new VersionRow(
                    saved.Name, saved.Version, saved.Scope, JsonSerializer.Serialize(saved.Ruleset, DocumentJson),
                    restoredFrom ?? 0, principal, Time(saved.SavedAt), saveId);
                await catalog.InsertRowsAsync(
                    $"INSERT INTO {Db}.{FlowSchema.RulesetsTable} (name, version, scope, document, restored_from, saved_by, saved_at, save_id)",
                    "JSONEachRow", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(row) + "\n"), cancellationToken);
                if (await WonAsync(name, saved.Version, saveId, cancellationToken))
                {
                    return saved;
                }

                if (attempt == MaxAttempts)
                {
                    throw new InvalidOperationException($"ruleset '{name}': {MaxAttempts} saves in a row lost their version number to other processes' saves");
                }
            }
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
        var (latest, _) = await LatestVersionAsync(name, cancellationToken);
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
            FROM ({Winners("1")})
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

    /// <summary>The newest version number of a ruleset (0: never saved), and the store's clock (Unix microseconds).</summary>
    private async Task<(int Latest, long StoreMicros)> LatestVersionAsync(string name, CancellationToken cancellationToken)
    {
        // Every version that has rows has a winner among them, so the largest number stored is the newest version.
        var text = await reader.QueryAsync(
            $"SELECT max(version), toUnixTimestamp64Micro(now64(6)) FROM {Db}.{FlowSchema.RulesetsTable} WHERE name = {{name:String}}",
            "TSV", static span => Encoding.UTF8.GetString(span), [new("name", name)], cancellationToken);
        var fields = text.Trim().Split('\t');
        return (int.Parse(fields[0], CultureInfo.InvariantCulture), long.Parse(fields[1], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Whether the row saved as <paramref name="saveId"/> is <paramref name="version"/>: read <see cref="settle"/>
    /// after it was written, when every competing row of that number is visible, it has the least id (as in <see cref="Winners"/>).
    /// </summary>
    private async Task<bool> WonAsync(string name, int version, string saveId, CancellationToken cancellationToken)
    {
        if (settle > TimeSpan.Zero)
        {
            await Task.Delay(settle, cancellationToken);
        }

        var text = await reader.QueryAsync(
            $"SELECT min(save_id) FROM {Db}.{FlowSchema.RulesetsTable} WHERE name = {{name:String}} AND version = {{version:UInt32}}",
            "TSVRaw", static span => Encoding.UTF8.GetString(span), [new("name", name), new("version", Int(version))], cancellationToken);
        return text.Trim() == saveId;
    }

    /// <summary>
    /// The rows that are the versions, one per (name, version) matching <paramref name="where"/>: of the rows saved
    /// under one number, the one with the least save id (rows saved before migration 17 have none: then the earliest,
    /// then the least document). Columns as in the table.
    /// </summary>
    private string Winners(string where) =>
        $"""
        SELECT name, version, tupleElement(w, 1) AS scope, tupleElement(w, 2) AS document, tupleElement(w, 3) AS restored_from,
               tupleElement(w, 4) AS saved_by, tupleElement(w, 5) AS saved_at
        FROM (
            SELECT name, version, argMin((scope, document, restored_from, saved_by, saved_at), (save_id, saved_at, document)) AS w
            FROM {Db}.{FlowSchema.RulesetsTable}
            WHERE {where}
            GROUP BY name, version)
        """;

    private async Task<IReadOnlyList<RulesetVersion>> ReadVersionsAsync(string where, IReadOnlyList<QueryParameter> parameters, int limit, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT name, version, scope, document, restored_from, saved_by, toUnixTimestamp64Micro(saved_at) AS saved_micros
            FROM ({Winners(where)})
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
        [property: JsonPropertyName("saved_at")] string SavedAt,
        [property: JsonPropertyName("save_id")] string SaveId);

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
