using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Visibility.Flows.Labels;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>
/// The statements every transport runs, and the encoding of the rows they carry, so that the embedded and the
/// server store send the same SQL. Table names are database-qualified; values are bound parameters or data.
/// </summary>
public static class StoreSql
{
    /// <summary>The flow insert; the data is RowBinary rows of <see cref="FlowSchema.FlowColumns"/>.</summary>
    public static string InsertFlows(string database) =>
        $"INSERT INTO {FlowSchema.QuoteDatabase(database)}.{FlowSchema.FlowsTable} ({FlowSchema.FlowColumns})";

    /// <summary>The insert statement, with <paramref name="settings"/> (an <see cref="InsertToken"/>'s), and the format name for flows in <paramref name="encoding"/>.</summary>
    public static (string Sql, string Format) InsertFlows(string database, FlowEncoding encoding, string settings) => encoding switch
    {
        FlowEncoding.Native => ($"INSERT INTO {FlowSchema.QuoteDatabase(database)}.{FlowSchema.FlowsTable} ({NativeFlowBlock.ColumnList}) {settings}", "Native"),
        _ => ($"{InsertFlows(database)} {settings}", "RowBinary"),
    };

    /// <summary>The workload insert; the data is <see cref="EncodeWorkloads"/>'s JSONEachRow.</summary>
    public static string InsertWorkloads(string database) =>
        $"INSERT INTO {FlowSchema.QuoteDatabase(database)}.{FlowSchema.WorkloadsTable} (name, spec, deleted, updated_at)";

    /// <summary>The live workloads, as JSONEachRow rows with one <c>spec</c> column.</summary>
    public static string LoadWorkloads(string database) =>
        $"""
        SELECT argMax(spec, updated_at) AS spec
        FROM {FlowSchema.QuoteDatabase(database)}.{FlowSchema.WorkloadsTable}
        GROUP BY name
        HAVING argMax(deleted, updated_at) = 0
        ORDER BY name
        """;

    /// <summary>
    /// Whether a workload's latest version is live, as one TabSeparated line (<c>1</c> or <c>0</c>; no line when the
    /// name was never stored); the name is the parameter <c>name</c>.
    /// </summary>
    public static string WorkloadLive(string database) =>
        $$"""
        SELECT argMax(deleted, updated_at) = 0
        FROM {{FlowSchema.QuoteDatabase(database)}}.{{FlowSchema.WorkloadsTable}}
        WHERE name = {name:String}
        HAVING count() > 0
        """;

    /// <summary>Reads <see cref="WorkloadLive"/>'s output.</summary>
    public static bool DecodeLive(string tabSeparated) => tabSeparated.Trim() == "1";

    /// <summary>A workload's tombstone as a JSONEachRow row for <see cref="InsertWorkloads"/>, stamped <paramref name="now"/>.</summary>
    public static byte[] EncodeTombstone(string name, DateTime now) =>
        Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new WorkloadRow(name, "", 1, Stamp(now))) + "\n");

    /// <summary>The applied schema versions, one per TabSeparated line.</summary>
    public static string AppliedMigrations(string database) =>
        $"SELECT DISTINCT version FROM {FlowSchema.QuoteDatabase(database)}.{FlowSchema.MigrationsTable} ORDER BY version";

    /// <summary>Records an applied migration; see <see cref="RecordMigrationParameters"/>.</summary>
    public static string RecordMigration(string database) =>
        $"INSERT INTO {FlowSchema.QuoteDatabase(database)}.{FlowSchema.MigrationsTable} (version, name) VALUES ({{version:UInt32}}, {{name:String}})";

    public static QueryParameter[] RecordMigrationParameters(FlowSchema.Migration migration) =>
    [
        new("version", migration.Version.ToString(CultureInfo.InvariantCulture)),
        new("name", migration.Name),
    ];

    /// <summary>The workloads as JSONEachRow rows for <see cref="InsertWorkloads"/>, stamped <paramref name="now"/>.</summary>
    public static byte[] EncodeWorkloads(IReadOnlyList<WorkloadSpec> workloads, DateTime now)
    {
        var stamp = Stamp(now);
        var body = new StringBuilder();
        foreach (var workload in workloads)
        {
            body.Append(JsonSerializer.Serialize(new WorkloadRow(workload.Name, JsonSerializer.Serialize(workload), 0, stamp)));
            body.Append('\n');
        }

        return Encoding.UTF8.GetBytes(body.ToString());
    }

    private static string Stamp(DateTime now) => now.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);

    /// <summary>Reads <see cref="LoadWorkloads"/>'s JSONEachRow output.</summary>
    public static IReadOnlyList<WorkloadSpec> DecodeWorkloads(string jsonEachRow)
    {
        var result = new List<WorkloadSpec>();
        foreach (var line in jsonEachRow.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonSerializer.Deserialize<SpecRow>(line);
            if (row?.Spec is { } spec && JsonSerializer.Deserialize<WorkloadSpec>(spec) is { } workload)
            {
                result.Add(workload);
            }
        }

        return result;
    }

    /// <summary>Reads <see cref="AppliedMigrations"/>' output.</summary>
    public static IReadOnlyList<int> DecodeVersions(string tabSeparated) =>
        tabSeparated.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToList();

    private sealed record WorkloadRow(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("spec")] string Spec,
        [property: JsonPropertyName("deleted")] int Deleted,
        [property: JsonPropertyName("updated_at")] string UpdatedAt);

    private sealed record SpecRow([property: JsonPropertyName("spec")] string? Spec);
}
