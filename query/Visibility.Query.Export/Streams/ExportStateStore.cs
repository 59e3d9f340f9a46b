using System.Globalization;
using System.Text;
using System.Text.Json;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Query.Export.Streams;

/// <summary>
/// Where a sink's stream stands: the interval being sent, how many of its records the destination confirmed, and
/// the sequence number of the last confirmed record (0 before the first).
/// </summary>
public sealed record ExportCheckpoint(DateTimeOffset IntervalStart, int Confirmed, long Sequence);

/// <summary>
/// The export's state in the store: checkpoints (<c>export_checkpoints</c>) and the sinks created through the API
/// (<c>export_sinks</c>), both replacing tables where the newest row per key wins, so a restarted service resumes
/// where the destination's confirmations left it. A checkpoint written after one was read is stamped later than the
/// one read, whatever this machine's clock says: a process taking the export over from another whose clock runs ahead
/// still writes the newest checkpoint.
/// </summary>
public sealed class ExportStateStore(IFlowReader reader, IFlowCatalog catalog, TimeProvider? clock = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly TimeProvider clock = clock ?? TimeProvider.System;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> stamped = new(StringComparer.Ordinal);

    private string Checkpoints => $"{FlowSchema.QuoteDatabase(reader.Database)}.{FlowSchema.ExportCheckpointsTable}";

    private string Sinks => $"{FlowSchema.QuoteDatabase(reader.Database)}.{FlowSchema.ExportSinksTable}";

    public async Task<ExportCheckpoint?> GetCheckpointAsync(string sink, CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT toUnixTimestamp64Milli(argMax(interval_start, updated_at)), argMax(confirmed, updated_at), argMax(sequence, updated_at), toUnixTimestamp64Micro(max(updated_at))
            FROM {Checkpoints}
            WHERE sink = {"{sink:String}"}
            GROUP BY sink
            """,
            "TabSeparated", static span => Encoding.UTF8.GetString(span), [new QueryParameter("sink", sink)], cancellationToken);
        var fields = text.Trim().Split('\t');
        if (fields.Length == 4)
        {
            Stamp(sink, DateTimeOffset.UnixEpoch.AddTicks(long.Parse(fields[3], CultureInfo.InvariantCulture) * 10));
        }

        return fields.Length == 4
            ? new ExportCheckpoint(
                DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(fields[0], CultureInfo.InvariantCulture)),
                int.Parse(fields[1], CultureInfo.InvariantCulture),
                long.Parse(fields[2], CultureInfo.InvariantCulture))
            : null;
    }

    public Task SaveCheckpointAsync(string sink, ExportCheckpoint checkpoint, CancellationToken cancellationToken) =>
        InsertAsync(
            $"INSERT INTO {Checkpoints} (sink, interval_start, confirmed, sequence, updated_at)",
            new CheckpointRow(sink, Time(checkpoint.IntervalStart), checkpoint.Confirmed, checkpoint.Sequence, Time(Stamp(sink, clock.GetUtcNow(), after: true))),
            cancellationToken);

    /// <summary>
    /// The time to stamp a checkpoint of <paramref name="sink"/> with: <paramref name="time"/> (to the microsecond),
    /// or, when <paramref name="after"/>, a microsecond past the latest stamp read or written here if that is later.
    /// </summary>
    private DateTimeOffset Stamp(string sink, DateTimeOffset time, bool after = false)
    {
        var micro = new DateTimeOffset(time.UtcTicks - (time.UtcTicks % 10), TimeSpan.Zero);
        return stamped.AddOrUpdate(sink, micro, (_, last) => after ? (micro > last ? micro : last.AddTicks(10)) : (micro > last ? micro : last));
    }

    /// <summary>The sinks created through the API, by name.</summary>
    public async Task<IReadOnlyDictionary<string, ExportSinkDefinition>> ListSinksAsync(CancellationToken cancellationToken)
    {
        var text = await reader.QueryAsync(
            $"""
            SELECT name, argMax(definition, updated_at) AS definition
            FROM {Sinks}
            GROUP BY name
            HAVING argMax(deleted, updated_at) = 0
            ORDER BY name
            """,
            "JSONEachRow", static span => Encoding.UTF8.GetString(span), [], cancellationToken);
        var sinks = new SortedDictionary<string, ExportSinkDefinition>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonSerializer.Deserialize<SinkRow>(line, Json)!;
            sinks[row.Name] = JsonSerializer.Deserialize<ExportSinkDefinition>(row.Definition, Json)!;
        }

        return sinks;
    }

    public Task SaveSinkAsync(string name, ExportSinkDefinition definition, CancellationToken cancellationToken) =>
        InsertAsync(
            $"INSERT INTO {Sinks} (name, definition, deleted, updated_at)",
            new SinkRowOut(name, JsonSerializer.Serialize(definition, Json), 0, Time(clock.GetUtcNow())),
            cancellationToken);

    public Task DeleteSinkAsync(string name, CancellationToken cancellationToken) =>
        InsertAsync(
            $"INSERT INTO {Sinks} (name, definition, deleted, updated_at)",
            new SinkRowOut(name, "{}", 1, Time(clock.GetUtcNow())),
            cancellationToken);

    private Task InsertAsync<T>(string insert, T row, CancellationToken cancellationToken) =>
        catalog.InsertRowsAsync(insert, "JSONEachRow", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(row) + "\n"), cancellationToken);

    private static string Time(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);

    private sealed record CheckpointRow(
        [property: System.Text.Json.Serialization.JsonPropertyName("sink")] string Sink,
        [property: System.Text.Json.Serialization.JsonPropertyName("interval_start")] string IntervalStart,
        [property: System.Text.Json.Serialization.JsonPropertyName("confirmed")] int Confirmed,
        [property: System.Text.Json.Serialization.JsonPropertyName("sequence")] long Sequence,
        [property: System.Text.Json.Serialization.JsonPropertyName("updated_at")] string UpdatedAt);

    private sealed record SinkRow(string Name, string Definition);

    private sealed record SinkRowOut(
        [property: System.Text.Json.Serialization.JsonPropertyName("name")] string Name,
        [property: System.Text.Json.Serialization.JsonPropertyName("definition")] string Definition,
        [property: System.Text.Json.Serialization.JsonPropertyName("deleted")] int Deleted,
        [property: System.Text.Json.Serialization.JsonPropertyName("updated_at")] string UpdatedAt);
}
