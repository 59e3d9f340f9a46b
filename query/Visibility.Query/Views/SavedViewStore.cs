using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Query.Views;

/// <summary>
/// A saved map view: a name and the map's query string (<c>last=24h&amp;groupBy=app,env&amp;filter=…</c>),
/// shared by URL as <c>/?view=&lt;id&gt;</c>. <see cref="Owner"/> is the principal that created it (its audit name:
/// <c>key:&lt;id&gt;</c>, <c>oidc:&lt;sub&gt;</c>, <c>local</c>); null for views saved before views had owners.
/// </summary>
public sealed record SavedView(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("query")] string Query,
    [property: JsonPropertyName("owner")] string? Owner,
    [property: JsonPropertyName("updatedAt")] DateTimeOffset UpdatedAt)
{
    /// <summary>
    /// Whether <paramref name="principal"/> may replace or delete this view: its owner, or an admin. A view without
    /// an owner (saved before owners existed) belongs to nobody who could be asked, so only admins change it.
    /// </summary>
    public bool MayBeChangedBy(string principal, bool isAdmin) =>
        isAdmin || (Owner is not null && string.Equals(Owner, principal, StringComparison.Ordinal));
}

/// <summary>Which cap refused a new view.</summary>
public enum ViewCap
{
    /// <summary>The view was saved.</summary>
    None,

    /// <summary>The store holds <see cref="SavedViewStore.MaxViews"/> views.</summary>
    Store,

    /// <summary>The owner already has as many views as it may.</summary>
    Owner,
}

/// <summary>A created view, or the cap that refused it (and then no view).</summary>
public readonly record struct ViewCreation(SavedView? View, ViewCap RefusedBy);

/// <summary>
/// Saved views in the store's <c>saved_views</c> table (a replacing table: the newest row per id wins, a deleted
/// flag hides it), so every <c>serve</c> process on the same store sees the same views. A view keeps the owner it
/// was created with through every replacement, whoever replaces it.
/// </summary>
public sealed class SavedViewStore(IFlowReader reader, IFlowCatalog catalog, TimeProvider? clock = null) : IDisposable
{
    /// <summary>The most views the store holds, all owners together.</summary>
    public const int MaxViews = 1_000;

    private readonly TimeProvider clock = clock ?? TimeProvider.System;

    // Counting and inserting are two statements: without this, a burst of concurrent creates by one principal
    // would all count the same total and pass the caps together. It serializes creates within this process;
    // serve processes sharing a server store can each add one more view at the same instant.
    private readonly SemaphoreSlim creating = new(1, 1);

    public async Task<IReadOnlyList<SavedView>> ListAsync(CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            {Select}
            GROUP BY id
            HAVING argMax(deleted, updated_at) = 0
            ORDER BY name, id
            LIMIT {MaxViews}
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span), [], cancellationToken);
        return Decode(text);
    }

    public async Task<SavedView?> GetAsync(string id, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            {Select}
            WHERE id = {"{id:String}"}
            GROUP BY id
            HAVING argMax(deleted, updated_at) = 0
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span), [new QueryParameter("id", id)], cancellationToken);
        return Decode(text).FirstOrDefault();
    }

    /// <summary>How many views the store holds, and how many of them <paramref name="owner"/> owns.</summary>
    public async Task<(int Total, int Owned)> CountAsync(string owner, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT count() AS total, countIf(owner = {"{owner:String}"}) AS owned
            FROM
            (
                SELECT id, argMax(owner, updated_at) AS owner
                FROM {Table}
                GROUP BY id
                HAVING argMax(deleted, updated_at) = 0
            )
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span), [new QueryParameter("owner", owner)], cancellationToken);
        using var doc = JsonDocument.Parse(text);
        return (Int(doc.RootElement.GetProperty("total")), Int(doc.RootElement.GetProperty("owned")));
    }

    /// <summary>
    /// Saves a new view owned by <paramref name="owner"/> under a fresh id, unless the store holds
    /// <see cref="MaxViews"/> views or the owner <paramref name="maxPerOwner"/>.
    /// </summary>
    public async Task<ViewCreation> CreateAsync(string name, string query, string owner, int maxPerOwner, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        await creating.WaitAsync(cancellationToken);
        try
        {
            var (total, owned) = await CountAsync(owner, cancellationToken);
            if (total >= MaxViews)
            {
                return new ViewCreation(null, ViewCap.Store);
            }

            if (owned >= maxPerOwner)
            {
                return new ViewCreation(null, ViewCap.Owner);
            }

            var view = new SavedView(NewId(), name, query, owner, Now());
            await WriteAsync(view, deleted: false, cancellationToken);
            return new ViewCreation(view, ViewCap.None);
        }
        finally
        {
            creating.Release();
        }
    }

    /// <summary>Gives <paramref name="view"/> a new name and query; its id and owner stay.</summary>
    public async Task<SavedView> ReplaceAsync(SavedView view, string name, string query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(view);
        var replaced = view with { Name = name, Query = query, UpdatedAt = Now() };
        await WriteAsync(replaced, deleted: false, cancellationToken);
        return replaced;
    }

    /// <summary>Deletes <paramref name="view"/>.</summary>
    public async Task DeleteAsync(SavedView view, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(view);
        await WriteAsync(view with { UpdatedAt = Now() }, deleted: true, cancellationToken);
    }

    public void Dispose() => creating.Dispose();

    /// <summary>The clock's time at the store's precision (microseconds), so a returned view equals the one read back.</summary>
    private DateTimeOffset Now()
    {
        var now = clock.GetUtcNow();
        return now.AddTicks(-(now.Ticks % 10));
    }

    /// <summary>Ids are 16 lowercase base-32 characters from 80 random bits: short in a URL, not guessable.</summary>
    public static bool IsId(string? id) =>
        id is { Length: 16 } && id.All(c => c is (>= 'a' and <= 'z') or (>= '2' and <= '7'));

    private string Table => $"{FlowSchema.QuoteDatabase(reader.Database)}.{FlowSchema.ViewsTable}";

    private string Select =>
        $"""
        SELECT id, argMax(name, updated_at) AS name, argMax(query, updated_at) AS query, argMax(owner, updated_at) AS owner,
               toUnixTimestamp64Micro(max(updated_at)) AS updated
        FROM {Table}
        """;

    private async Task WriteAsync(SavedView view, bool deleted, CancellationToken cancellationToken)
    {
        var row = JsonSerializer.Serialize(new Row(
            view.Id, view.Name, view.Query, view.Owner ?? "", deleted ? (byte)1 : (byte)0,
            view.UpdatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)));
        await catalog.InsertRowsAsync($"INSERT INTO {Table} (id, name, query, owner, deleted, updated_at)", "JSONEachRow",
            Encoding.UTF8.GetBytes(row + "\n"), cancellationToken);
    }

    private static List<SavedView> Decode(string jsonEachRow)
    {
        var views = new List<SavedView>();
        foreach (var line in jsonEachRow.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var micros = r.GetProperty("updated") is { ValueKind: JsonValueKind.String } s
                ? long.Parse(s.GetString()!, CultureInfo.InvariantCulture)
                : r.GetProperty("updated").GetInt64();
            var owner = r.GetProperty("owner").GetString();
            views.Add(new SavedView(
                r.GetProperty("id").GetString()!, r.GetProperty("name").GetString()!, r.GetProperty("query").GetString()!,
                string.IsNullOrEmpty(owner) ? null : owner,
                DateTimeOffset.UnixEpoch.AddTicks(micros * 10)));
        }

        return views;
    }

    /// <summary>ClickHouse writes 64-bit counts as JSON strings (output_format_json_quote_64bit_integers).</summary>
    private static int Int(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? int.Parse(value.GetString()!, CultureInfo.InvariantCulture) : value.GetInt32();

    private static string NewId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
        Span<byte> random = stackalloc byte[10];
        RandomNumberGenerator.Fill(random);
        var id = new StringBuilder(16);
        var bits = 0;
        var value = 0;
        foreach (var b in random)
        {
            value = (value << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                id.Append(alphabet[(value >> bits) & 31]);
            }
        }

        return id.ToString();
    }

    private sealed record Row(
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("query")] string Query,
        [property: JsonPropertyName("owner")] string Owner,
        [property: JsonPropertyName("deleted")] byte Deleted,
        [property: JsonPropertyName("updated_at")] string UpdatedAt);
}
