using System.Globalization;
using System.Text.RegularExpressions;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>
/// Keeps each table's TTL equal to the configured retention: tables get their TTL when created, and a later
/// change of <c>Store:Retention*</c> is applied by the next migration run (<see cref="SchemaMigrator"/>) with <c>ALTER TABLE … MODIFY TTL</c> (ClickHouse
/// then drops what the new retention no longer keeps).
/// </summary>
public static partial class StoreRetentionSync
{
    /// <summary>The tables with a TTL.</summary>
    public static IReadOnlyList<string> Tables { get; } = [FlowSchema.FlowsTable, .. FlowSchema.AllRollups.Select(r => r.Name)];

    /// <summary>The tables with a TTL, each with its TTL expression for <paramref name="retention"/>.</summary>
    public static IReadOnlyList<(string Table, TimeSpan Retention, string Ttl)> Targets(StoreRetention retention) =>
    [
        (FlowSchema.FlowsTable, retention.Raw, $"toDateTime(ts) + toIntervalSecond({Seconds(retention.Raw)})"),
        .. FlowSchema.AllRollups.Select(r => (r.Name, retention.For(r), $"bucket + toIntervalSecond({Seconds(retention.For(r))})")),
    ];

    /// <summary>Reads each table's current TTL seconds: <c>name\tengine_full</c> lines for the store's tables.</summary>
    public static (string Sql, QueryParameter[] Parameters) CurrentQuery(string database, StoreLayout layout) =>
        ("SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND has(splitByChar(',', {names:String}), name)",
        [
            new("db", database),
            new("names", string.Join(",", Tables.Select(t => Local(t, layout)))),
        ]);

    /// <summary>
    /// The statements that bring the tables to <paramref name="retention"/>, given <see cref="CurrentQuery"/>'s
    /// output, each with a description for the log.
    /// </summary>
    public static IReadOnlyList<(string Statement, string Change)> Changes(string database, StoreRetention retention, StoreLayout layout, string current)
    {
        var seconds = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in current.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab > 0 && TtlSeconds().Match(line[(tab + 1)..]) is { Success: true } ttl)
            {
                seconds[line[..tab]] = long.Parse(ttl.Groups[1].Value, CultureInfo.InvariantCulture);
            }
        }

        var db = FlowSchema.QuoteDatabase(database);
        var changes = new List<(string, string)>();
        foreach (var (table, keep, ttl) in Targets(retention))
        {
            if (seconds.TryGetValue(Local(table, layout), out var now) && now != (long)keep.TotalSeconds)
            {
                var change = $"{table}: {TimeSpan.FromSeconds(now)} -> {keep}";
                changes.AddRange(layout.Distribute($"ALTER TABLE {db}.{table} MODIFY TTL {ttl}").Select(s => (s, change)));
            }
        }

        return changes;
    }

    private static string Local(string table, StoreLayout layout) => layout.IsCluster ? table + StoreLayout.LocalSuffix : table;

    private static string Seconds(TimeSpan span) => ((long)span.TotalSeconds).ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"\bTTL\b.*?toIntervalSecond\((\d+)\)")]
    private static partial Regex TtlSeconds();
}
