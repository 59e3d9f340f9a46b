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
/// shared by URL as <c>/?view=&lt;id&gt;</c>.
/// </summary>
public sealed record SavedView(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("query")] string Query,
    [property: JsonPropertyName("updatedAt")] DateTimeOffset UpdatedAt);

/// <summary>
/// Saved views in the store's <c>saved_views</c> table (a replacing table: the newest row per id wins, a deleted
/// flag hides it), so every <c>serve</c> process on the same store sees the same views.
/// </summary>
public sealed class SavedViewStore(IFlowStore store, TimeProvider? clock = null)
{
    public const int MaxViews = 1_000;

    private readonly TimeProvider clock = clock ?? TimeProvider.System;

    public async Task<IReadOnlyList<SavedView>> ListAsync(CancellationToken cancellationToken)
    {
        var text = await store.QueryAsync(
            $"""
            SELECT id, argMax(name, updated_at) AS name, argMax(query, updated_at) AS query,
                   toUnixTimestamp64Micro(max(updated_at)) AS updated
            FROM {Table}
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
        var text = await store.QueryAsync(
            $"""
            SELECT id, argMax(name, updated_at) AS name, argMax(query, updated_at) AS query,
                   toUnixTimestamp64Micro(max(updated_at)) AS updated
            FROM {Table}
            WHERE id = {Parameter}
            GROUP BY id
            HAVING argMax(deleted, updated_at) = 0
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span), [new QueryParameter("id", id)], cancellationToken);
        return Decode(text).FirstOrDefault();
    }

    /// <summary>Saves a new view under a fresh id (or replaces <paramref name="id"/>'s) and returns it.</summary>
    public async Task<SavedView> SaveAsync(string? id, string name, string query, CancellationToken cancellationToken)
    {
        var view = new SavedView(id ?? NewId(), name, query, clock.GetUtcNow());
        await WriteAsync(view, deleted: false, cancellationToken);
        return view;
    }

    /// <summary>Deletes a view; false when there was none with that id.</summary>
    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        if (await GetAsync(id, cancellationToken) is not { } view)
        {
            return false;
        }

        await WriteAsync(view with { UpdatedAt = clock.GetUtcNow() }, deleted: true, cancellationToken);
        return true;
    }

    /// <summary>Ids are 16 lowercase base-32 characters from 80 random bits: short in a URL, not guessable.</summary>
    public static bool IsId(string? id) =>
        id is { Length: 16 } && id.All(c => c is (>= 'a' and <= 'z') or (>= '2' and <= '7'));

    private const string Parameter = "{id:String}";

    private string Table => $"{FlowSchema.QuoteDatabase(store.Database)}.{FlowSchema.ViewsTable}";

    private async Task WriteAsync(SavedView view, bool deleted, CancellationToken cancellationToken)
    {
        var row = JsonSerializer.Serialize(new Row(
            view.Id, view.Name, view.Query, deleted ? (byte)1 : (byte)0,
            view.UpdatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture)));
        await store.InsertRowsAsync($"INSERT INTO {Table} (id, name, query, deleted, updated_at)", "JSONEachRow",
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
            views.Add(new SavedView(
                r.GetProperty("id").GetString()!, r.GetProperty("name").GetString()!, r.GetProperty("query").GetString()!,
                DateTimeOffset.UnixEpoch.AddTicks(micros * 10)));
        }

        return views;
    }

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
        [property: JsonPropertyName("deleted")] byte Deleted,
        [property: JsonPropertyName("updated_at")] string UpdatedAt);
}
