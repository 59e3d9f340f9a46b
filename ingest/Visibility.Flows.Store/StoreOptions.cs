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

    /// <summary>
    /// Server mode with <see cref="Cluster"/>: whether the cluster's shards have replicas (<c>Replicated*MergeTree</c>
    /// local tables, which need ClickHouse Keeper) or are one node each (plain <c>*MergeTree</c> local tables, no
    /// keeper; a shard's rows are then on one disk only). Only meaningful with a cluster.
    /// </summary>
    public bool Replicated { get; set; } = true;

    /// <summary>
    /// Whether opening the store applies pending migrations (under the migration lock, as <c>visibility migrate</c>
    /// does) instead of waiting for them. Unset: yes for the embedded store (one process owns its data directory),
    /// no for a server store, whose schema <c>visibility migrate</c> owns (a Kubernetes Job, a compose one-shot).
    /// </summary>
    public bool? MigrateOnStart { get; set; }

    /// <summary>
    /// A process that does not migrate and finds the schema behind waits this long for <c>visibility migrate</c>
    /// (saying so in its log), then stops with exit code 1.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan SchemaWait { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Whether opening the store migrates: <see cref="MigrateOnStart"/>, else by <see cref="Mode"/>.</summary>
    public bool MigratesOnStart => MigrateOnStart ?? !IsServer;

    /// <summary>Where the tables live: the configured cluster in server mode, else one engine.</summary>
    public StoreLayout Layout => IsServer ? StoreLayout.ForCluster(Cluster, Replicated) : StoreLayout.SingleServer;

    private bool IsServer => string.Equals(Mode, "server", StringComparison.Ordinal);

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

    /// <summary>
    /// Embedded store: the free space (MiB) its file system must have for a flow insert to be tried; below it,
    /// inserts fail with "no space left" and ingest retries until there is room (0: no check). chDB writes an
    /// insert's raw part first and then a part per materialized view: a disk that fills in between keeps the raw
    /// rows and the rollups miss them. With this margin an insert's parts find room together, and so do the
    /// progress rows that complete it.
    /// </summary>
    [Range(0, 1_048_576)]
    public int MinFreeMegabytes { get; set; } = 64;

    /// <summary>Where libchdb.so is; empty: <c>VISIBILITY_CHDB_LIBRARY</c>, else the fetch script's cache.</summary>
    public string? LibraryPath { get; set; }
}
