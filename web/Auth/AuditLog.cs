using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Web.Auth;

/// <summary>One audited action.</summary>
public sealed record AuditEntry(
    [property: JsonPropertyName("time")] DateTimeOffset Time,
    [property: JsonPropertyName("principal")] string Principal,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("outcome")] string Outcome,
    [property: JsonPropertyName("detail")] string Detail,
    [property: JsonPropertyName("remote")] string Remote);

/// <summary>
/// The audit log: who created or revoked keys, changed the inventory, created, deleted or tested sinks, drafted,
/// simulated, rendered or diffed policy, and created, replaced or deleted saved views, with the outcome. Kept in the
/// store (<c>audit_log</c>) and written to the process log. Secrets never enter it: a created key appears by its id.
/// </summary>
public sealed class AuditLog(IFlowReader reader, IFlowCatalog catalog, ILogger<AuditLog> logger, TimeProvider? clock = null)
{
    public const int MaxLimit = 10_000;
    private readonly TimeProvider clock = clock ?? TimeProvider.System;

    private string Table => $"{FlowSchema.QuoteDatabase(reader.Database)}.{FlowSchema.AuditTable}";

    public async Task RecordAsync(string principal, string role, string action, string target, string outcome, string detail, string remote, CancellationToken cancellationToken)
    {
        var entry = new AuditEntry(clock.GetUtcNow(), principal, role, action, target, outcome, detail, remote);
        logger.LogInformation(
            "audit: {Principal} ({Role}) {Action} {Target}: {Outcome} from {Remote}", principal, role, action, target, outcome, remote);
        var row = new Row(ApiKeyStore.Time(entry.Time), principal, role, action, target, outcome, detail, remote);
        try
        {
            await catalog.InsertRowsAsync(
                $"INSERT INTO {Table} (time, principal, role, action, target, outcome, detail, remote)",
                "JSONEachRow", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(row) + "\n"), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The action happened; losing its audit row must not hide that, so it is at least in the process log.
            logger.LogError(ex, "audit: could not store the entry for {Action} {Target} by {Principal}", action, target, principal);
        }
    }

    public async Task<IReadOnlyList<AuditEntry>> ListAsync(DateTimeOffset from, DateTimeOffset to, string? action, string? principal, int limit, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT toUnixTimestamp64Micro(time) AS micros, principal, role, action, target, outcome, detail, remote
            FROM {Table}
            WHERE time >= fromUnixTimestamp64Milli({"{from:Int64}"}) AND time < fromUnixTimestamp64Milli({"{to:Int64}"})
              AND ({"{action:String}"} = '' OR action = {"{action:String}"})
              AND ({"{principal:String}"} = '' OR principal = {"{principal:String}"})
            ORDER BY time DESC
            LIMIT {"{limit:UInt32}"}
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span),
            [
                new QueryParameter("from", from.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
                new QueryParameter("to", to.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
                new QueryParameter("action", action ?? ""),
                new QueryParameter("principal", principal ?? ""),
                new QueryParameter("limit", limit.ToString(CultureInfo.InvariantCulture)),
            ],
            cancellationToken);
        var entries = new List<AuditEntry>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonSerializer.Deserialize<RowIn>(line)!;
            entries.Add(new AuditEntry(
                DateTimeOffset.UnixEpoch.AddTicks(row.Micros * 10),
                row.Principal, row.Role, row.Action, row.Target, row.Outcome, row.Detail, row.Remote));
        }

        return entries;
    }

    private sealed record Row(
        [property: JsonPropertyName("time")] string Time,
        [property: JsonPropertyName("principal")] string Principal,
        [property: JsonPropertyName("role")] string Role,
        [property: JsonPropertyName("action")] string Action,
        [property: JsonPropertyName("target")] string Target,
        [property: JsonPropertyName("outcome")] string Outcome,
        [property: JsonPropertyName("detail")] string Detail,
        [property: JsonPropertyName("remote")] string Remote);

    private sealed record RowIn(
        [property: JsonPropertyName("micros"), JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)] long Micros,
        [property: JsonPropertyName("principal")] string Principal,
        [property: JsonPropertyName("role")] string Role,
        [property: JsonPropertyName("action")] string Action,
        [property: JsonPropertyName("target")] string Target,
        [property: JsonPropertyName("outcome")] string Outcome,
        [property: JsonPropertyName("detail")] string Detail,
        [property: JsonPropertyName("remote")] string Remote);
}
