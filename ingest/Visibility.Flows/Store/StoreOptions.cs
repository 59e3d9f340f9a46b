using System.ComponentModel.DataAnnotations;

namespace Visibility.Flows.Store;

/// <summary>Configuration section <c>Visibility:Store</c>.</summary>
public sealed class StoreOptions
{
    public const string Section = "Visibility:Store";

    /// <summary><c>embedded</c> (chDB in this process) or <c>server</c> (a ClickHouse server or cluster).</summary>
    [RegularExpression("^(embedded|server)$", ErrorMessage = "Store:Mode must be 'embedded' or 'server'")]
    public string Mode { get; set; } = "embedded";

    /// <summary>The embedded engine's data directory.</summary>
    [Required]
    public string Path { get; set; } = "data/store";

    /// <summary>
    /// The ClickHouse server connection string (server mode), in ClickHouse.Driver's syntax
    /// (<c>Host=…;Port=8123;Username=…;Password=…</c>). It may hold a password: it is never logged.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Server mode: the ClickHouse cluster to lay the tables out on (replicated <c>*_local</c> tables behind
    /// <c>Distributed</c> tables, DDL <c>ON CLUSTER</c>). Empty: one server.
    /// </summary>
    [RegularExpression("^([A-Za-z_][A-Za-z0-9_]{0,63})?$", ErrorMessage = "Store:Cluster must be letters, digits and '_'")]
    public string Cluster { get; set; } = "";

    /// <summary>The database holding the project's tables.</summary>
    [RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,63}$", ErrorMessage = "Store:Database must be letters, digits and '_'")]
    public string Database { get; set; } = "visibility";

    /// <summary>How long raw flows are kept (table TTL, applied when the table is created).</summary>
    [Range(typeof(TimeSpan), "01:00:00", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long the 1-minute rollup keeps its rows.</summary>
    [Range(typeof(TimeSpan), "01:00:00", "3650.00:00:00")]
    public TimeSpan RetentionOneMinute { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long the 5-minute rollup keeps its rows.</summary>
    [Range(typeof(TimeSpan), "01:00:00", "3650.00:00:00")]
    public TimeSpan RetentionFiveMinutes { get; set; } = TimeSpan.FromDays(90);

    /// <summary>How long the 1-hour rollups (and the app × env 6-hour one) keep their rows.</summary>
    [Range(typeof(TimeSpan), "01:00:00", "3650.00:00:00")]
    public TimeSpan RetentionOneHour { get; set; } = TimeSpan.FromDays(400);

    /// <summary>Every table's retention.</summary>
    public StoreRetention Retentions => new(Retention, RetentionOneMinute, RetentionFiveMinutes, RetentionOneHour);

    /// <summary>Where libchdb.so is; empty: <c>VISIBILITY_CHDB_LIBRARY</c>, else the fetch script's cache.</summary>
    public string? LibraryPath { get; set; }
}
