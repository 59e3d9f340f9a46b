using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Visibility.Flows.Store;
using Visibility.Query.Security;

namespace Visibility.Web.Auth;

/// <summary>An API key as listed: never its secret.</summary>
public sealed record ApiKeyInfo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("createdBy")] string CreatedBy,
    [property: JsonPropertyName("revoked")] bool Revoked);

/// <summary>A key just created: the only time its secret is shown.</summary>
public sealed record CreatedApiKey(
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("info")] ApiKeyInfo Info);

/// <summary>
/// API keys in the store (<c>api_keys</c>): <c>vis_&lt;12 hex id&gt;_&lt;64 hex secret&gt;</c>, of which only the
/// SHA-256 of the secret is kept (the secret is 256 random bits, so a fast hash is enough; a slow one would only slow
/// every request). Serving processes keep the keys in memory and reload them every few seconds, so a key created or
/// revoked by another process takes effect there too.
/// </summary>
public sealed class ApiKeyStore(IFlowReader reader, IFlowCatalog catalog, TimeProvider? clock = null) : IDisposable
{
    public const string Prefix = "vis_";
    private const int IdLength = 12;
    private const int SecretLength = 64;
    public static readonly TimeSpan ReloadEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan UnknownIdReloadGap = TimeSpan.FromSeconds(1);

    private readonly TimeProvider clock = clock ?? TimeProvider.System;
    private readonly SemaphoreSlim reloadGate = new(1, 1);
    private volatile IReadOnlyDictionary<string, Entry> keys = new Dictionary<string, Entry>();
    private DateTimeOffset loadedAt = DateTimeOffset.MinValue;

    private string Table => $"{FlowSchema.QuoteDatabase(reader.Database)}.{FlowSchema.ApiKeysTable}";

    /// <summary>Creates a key; the returned text is the only copy of its secret.</summary>
    public async Task<CreatedApiKey> CreateAsync(string name, string role, AccessScope scope, string createdBy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (!Roles.IsRole(role))
        {
            throw new ArgumentException($"role '{role}' is not one of {string.Join(", ", Roles.All)}", nameof(role));
        }

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdLength / 2));
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(SecretLength / 2));
        var now = clock.GetUtcNow();
        var info = new ApiKeyInfo(id, name, role, scope.Text, now, createdBy, false);
        var hash = Hash(secret);
        await WriteAsync(info, hash, cancellationToken);
        await RememberAsync(new Entry(info, hash));
        return new CreatedApiKey(Prefix + id + "_" + secret, info);
    }

    /// <summary>Revokes a key; false when no such key exists.</summary>
    public async Task<bool> RevokeAsync(string id, CancellationToken cancellationToken)
    {
        await ReloadAsync(cancellationToken);
        if (!keys.TryGetValue(id, out var entry))
        {
            return false;
        }

        var revoked = entry with { Info = entry.Info with { Revoked = true } };
        await WriteAsync(revoked.Info, revoked.Hash, cancellationToken);
        await RememberAsync(revoked);
        return true;
    }

    /// <summary>
    /// Puts a key this process has just written into the keys in memory, so it takes effect here at once. Under the
    /// reload gate: a reload whose read came before the write has finished by then, and any later one reads it.
    /// </summary>
    private async Task RememberAsync(Entry entry)
    {
        await reloadGate.WaitAsync(CancellationToken.None);
        try
        {
            keys = new Dictionary<string, Entry>(keys, StringComparer.Ordinal) { [entry.Info.Id] = entry };
        }
        finally
        {
            reloadGate.Release();
        }
    }

    public async Task<IReadOnlyList<ApiKeyInfo>> ListAsync(CancellationToken cancellationToken)
    {
        await ReloadAsync(cancellationToken);
        return [.. keys.Values.Select(e => e.Info).OrderBy(k => k.CreatedAt).ThenBy(k => k.Id, StringComparer.Ordinal)];
    }

    /// <summary>The key a presented text is, when it is a live key; null otherwise (unknown, revoked, malformed).</summary>
    public async Task<ApiKeyInfo?> AuthenticateAsync(string presented, CancellationToken cancellationToken)
    {
        if (!TrySplit(presented, out var id, out var secret))
        {
            return null;
        }

        // A known id is checked against the keys in memory, refreshed in the background when stale, so no request
        // waits for the store (and keys keep working while the store is down); an unknown id may be a key made a
        // moment ago by another process, so it waits for one reload (at most one a second).
        var now = clock.GetUtcNow();
        if (!keys.ContainsKey(id))
        {
            if (now - loadedAt > UnknownIdReloadGap)
            {
                await ReloadAsync(cancellationToken);
            }
        }
        else if (now - loadedAt > ReloadEvery && reloadGate.CurrentCount > 0)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await ReloadAsync(CancellationToken.None);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The store is unavailable: the keys in memory stay in use; the next request tries again.
                }
            }, CancellationToken.None);
        }

        if (!keys.TryGetValue(id, out var entry) || entry.Info.Revoked)
        {
            return null;
        }

        return CryptographicOperations.FixedTimeEquals(Hash(secret), entry.Hash) ? entry.Info : null;
    }

    /// <summary>Reads every key from the store (one reader at a time; the others wait and use its result).</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        var started = clock.GetUtcNow();
        await reloadGate.WaitAsync(cancellationToken);
        try
        {
            // A reload whose read began after this call started has seen everything written before it.
            if (loadedAt > started)
            {
                return;
            }

            var readAt = clock.GetUtcNow();
            var text = await reader.QueryAsync(
                $"""
                SELECT id, argMax(name, updated_at) AS name, argMax(role, updated_at) AS role, argMax(scope, updated_at) AS scope,
                       argMax(secret_sha256, updated_at) AS hash, toUnixTimestamp64Milli(min(created_at)) AS created,
                       argMax(created_by, updated_at) AS createdBy, max(revoked) AS revoked
                FROM {Table}
                GROUP BY id
                """,
                "JSONEachRow", static span => Encoding.UTF8.GetString(span), [], cancellationToken);
            var loaded = new Dictionary<string, Entry>(StringComparer.Ordinal);
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var row = JsonSerializer.Deserialize<Row>(line)!;
                loaded[row.Id] = new Entry(
                    new ApiKeyInfo(row.Id, row.Name, row.Role, row.Scope, DateTimeOffset.FromUnixTimeMilliseconds(row.Created), row.CreatedBy, row.Revoked != 0),
                    Convert.FromHexString(row.Hash));
            }

            keys = loaded;
            loadedAt = readAt;
        }
        finally
        {
            reloadGate.Release();
        }
    }

    public void Dispose() => reloadGate.Dispose();

    public static bool LooksLikeKey(string text) => text.StartsWith(Prefix, StringComparison.Ordinal);

    private static bool TrySplit(string presented, out string id, out string secret)
    {
        id = secret = "";
        if (presented.Length != Prefix.Length + IdLength + 1 + SecretLength || !LooksLikeKey(presented) || presented[Prefix.Length + IdLength] != '_')
        {
            return false;
        }

        id = presented.Substring(Prefix.Length, IdLength);
        secret = presented[(Prefix.Length + IdLength + 1)..];
        return id.All(char.IsAsciiHexDigitLower) && secret.All(char.IsAsciiHexDigitLower);
    }

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.ASCII.GetBytes(secret));

    private Task WriteAsync(ApiKeyInfo info, byte[] hash, CancellationToken cancellationToken)
    {
        var row = new RowOut(
            info.Id, info.Name, info.Role, info.Scope, Convert.ToHexStringLower(hash), Time(info.CreatedAt), info.CreatedBy,
            info.Revoked ? 1 : 0, Time(clock.GetUtcNow()));
        return catalog.InsertRowsAsync(
            $"INSERT INTO {Table} (id, name, role, scope, secret_sha256, created_at, created_by, revoked, updated_at)",
            "JSONEachRow", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(row) + "\n"), cancellationToken);
    }

    internal static string Time(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);

    private sealed record Entry(ApiKeyInfo Info, byte[] Hash);

    private sealed record Row(
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("role")] string Role,
        [property: JsonPropertyName("scope")] string Scope,
        [property: JsonPropertyName("hash")] string Hash,
        [property: JsonPropertyName("created"), JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)] long Created,
        [property: JsonPropertyName("createdBy")] string CreatedBy,
        [property: JsonPropertyName("revoked")] int Revoked);

    private sealed record RowOut(
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("role")] string Role,
        [property: JsonPropertyName("scope")] string Scope,
        [property: JsonPropertyName("secret_sha256")] string SecretSha256,
        [property: JsonPropertyName("created_at")] string CreatedAt,
        [property: JsonPropertyName("created_by")] string CreatedBy,
        [property: JsonPropertyName("revoked")] int Revoked,
        [property: JsonPropertyName("updated_at")] string UpdatedAt);
}
