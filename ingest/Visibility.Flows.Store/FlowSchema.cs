using System.Buffers;
using System.Globalization;
using System.Text.RegularExpressions;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Flows.Store;

/// <summary>
/// The store's tables and their versioned migrations. Every statement is idempotent, each applied version is
/// recorded in <c>schema_migrations</c>, and <see cref="SchemaMigrator"/> applies only the versions not yet recorded.
/// </summary>
public static partial class FlowSchema
{
    public const string FlowsTable = "flows_raw";
    public const string WorkloadsTable = "workloads";
    public const string ViewsTable = "saved_views";
    public const string ExportCheckpointsTable = "export_checkpoints";
    public const string ExportSinksTable = "export_sinks";
    public const string ApiKeysTable = "api_keys";
    public const string AuditTable = "audit_log";
    public const string MigrationsTable = "schema_migrations";
    public const string ProgressTable = "ingest_progress";
    public const string LeasesTable = "leases";
    public const string RulesetsTable = "policy_rulesets";
    public const string ProvisioningTable = "policy_provisioning";

    /// <summary>The migration that gives each saved ruleset row its save id (see <see cref="RulesetsTable"/>).</summary>
    public const int RulesetSaveIdMigration = 17;

    /// <summary>The flow columns in the order <see cref="WriteRow"/> encodes them (<see cref="FlowColumnTable.Written"/>).</summary>
    public static string FlowColumns { get; } = FlowColumnTable.Names(FlowColumnTable.Written);

    /// <summary>A migration: its version, a name for people, and its statements.</summary>
    public sealed record Migration(int Version, string Name, IReadOnlyList<string> Statements);

    /// <summary>Database names come from configuration; they are still checked, then quoted.</summary>
    public static string QuoteDatabase(string database)
    {
        if (!DatabaseName().IsMatch(database))
        {
            throw new ArgumentException($"'{database}' is not a valid database name (letters, digits, '_'; at most 64)", nameof(database));
        }

        return "`" + database + "`";
    }

    public static IReadOnlyList<Migration> Migrations(string database, TimeSpan retention) =>
        Migrations(database, StoreRetention.RawOnly(retention));

    public static IReadOnlyList<Migration> Migrations(string database, StoreRetention retention)
    {
        var db = QuoteDatabase(database);
        var ttlSeconds = Seconds(retention.Raw);
        return
        [
            new Migration(1, "raw flows", [
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{FlowsTable}
                (
                    {FlowColumnTable.Declarations(FlowColumnTable.RawColumns.Where(c => c.Migration == 1), c => c.Ddl)}
                )
                ENGINE = MergeTree
                PARTITION BY toDate(ts)
                ORDER BY (src_env, dst_env, src_app, dst_app, ts)
                TTL toDateTime(ts) + toIntervalSecond({ttlSeconds})
                """,
            ]),
            new Migration(2, "workloads", [
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{WorkloadsTable}
                (
                    name String,
                    spec String,
                    deleted UInt8,
                    updated_at DateTime64(6, 'UTC')
                )
                ENGINE = ReplacingMergeTree(updated_at)
                ORDER BY name
                """,
            ]),
            new Migration(3, "NAT tuple", AddColumns(db, 3)),
            new Migration(4, "aggregated records", AddColumns(db, 4)),
            new Migration(5, "delta counters", AddColumns(db, 5)),
            new Migration(6, "exactly-once progress", [
                // Each row names the Kafka record it came from (topic, partition, offset); together with the
                // progress table this lets a restarted consumer remove the rows of an insert that was never
                // acknowledged and resume right after the last one that was (see IngestProgress).
                .. AddColumns(db, 6),
                $"ALTER TABLE {db}.{FlowsTable} ADD INDEX IF NOT EXISTS idx_ingested_at ingested_at TYPE minmax GRANULARITY 1",
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{ProgressTable}
                (
                    topic LowCardinality(String),
                    partition Int32,
                    next_offset Int64,
                    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
                )
                ENGINE = ReplacingMergeTree(next_offset)
                ORDER BY (topic, partition)
                """,
            ]),
            new Migration(7, "findings, rollups and edges", RollupMigration(db, retention)),
            new Migration(8, "app x env rollup", AppRollupMigration(db, retention)),
            new Migration(9, "app x env rollup per 6 hours", AppSixHoursMigration(db, retention)),
            new Migration(10, "saved views", [
                // The map's saved views: a name and the view's query string, shared by URL (/?view=<id>).
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{ViewsTable}
                (
                    id String,
                    name String,
                    query String,
                    deleted UInt8,
                    updated_at DateTime64(6, 'UTC')
                )
                ENGINE = ReplacingMergeTree(updated_at)
                ORDER BY id
                """,
            ]),
            new Migration(11, "SIEM export", [
                // Per sink: the interval being sent, how many of its records the destination confirmed, and the
                // last sequence number confirmed. The newest row per sink wins.
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{ExportCheckpointsTable}
                (
                    sink String,
                    interval_start DateTime64(3, 'UTC'),
                    confirmed UInt32,
                    sequence UInt64,
                    updated_at DateTime64(6, 'UTC')
                )
                ENGINE = ReplacingMergeTree(updated_at)
                ORDER BY sink
                """,

                // Sinks created through the API (configured ones live in configuration): the definition as JSON.
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{ExportSinksTable}
                (
                    name String,
                    definition String,
                    deleted UInt8,
                    updated_at DateTime64(6, 'UTC')
                )
                ENGINE = ReplacingMergeTree(updated_at)
                ORDER BY name
                """,
            ]),
            new Migration(12, "API keys and audit log", [
                // API keys: only the SHA-256 of each key's secret is kept; the newest row per id wins (revocation).
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{ApiKeysTable}
                (
                    id String,
                    name String,
                    role String,
                    scope String,
                    secret_sha256 String,
                    created_at DateTime64(3, 'UTC'),
                    created_by String,
                    revoked UInt8,
                    updated_at DateTime64(6, 'UTC')
                )
                ENGINE = ReplacingMergeTree(updated_at)
                ORDER BY id
                """,

                // Who changed keys, inventory, sinks or policy, when, from where, and the outcome. Kept, never merged away.
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{AuditTable}
                (
                    time DateTime64(6, 'UTC'),
                    principal String,
                    role String,
                    action LowCardinality(String),
                    target String,
                    outcome LowCardinality(String),
                    detail String,
                    remote String
                )
                ENGINE = MergeTree
                ORDER BY time
                """,
            ]),
            new Migration(13, "saved view owners", [
                // The principal that created a view (its audit name). Views saved before have '' (no owner):
                // only admins may change or delete them.
                $"ALTER TABLE {db}.{ViewsTable} ADD COLUMN IF NOT EXISTS owner String DEFAULT '' AFTER query",
            ]),
            new Migration(14, "insert deduplication and whole-part expiry", DeduplicationMigration(db)),
            new Migration(15, "policy rulesets", [
                // Every saved version of every ruleset: its scope (a label selector) and its visibility.policy/v1
                // document. Append-only: a version, once saved, never changes; a restore saves a new version.
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{RulesetsTable}
                (
                    name String,
                    version UInt32,
                    scope String,
                    document String,
                    restored_from UInt32,
                    saved_by String,
                    saved_at DateTime64(6, 'UTC')
                )
                ENGINE = MergeTree
                ORDER BY (name, version)
                """,

                // Every provisioning change: which version of a ruleset became active, in which mode, by whom and
                // when (version 0: withdrawn). Append-only, so the set active at any past time can be answered.
                $"""
                CREATE TABLE IF NOT EXISTS {db}.{ProvisioningTable}
                (
                    time DateTime64(6, 'UTC'),
                    name String,
                    version UInt32,
                    mode LowCardinality(String),
                    principal String
                )
                ENGINE = MergeTree
                ORDER BY (name, time)
                """,
            ]),
            new Migration(FlowColumnTable.VerdictsMigration, "flow verdicts", VerdictsMigration(db)),
            new Migration(RulesetSaveIdMigration, "ruleset save ids", [
                // Each saved row's id: the store's clock when the save read the latest version (19 digits of
                // microseconds), '-', a random suffix. Processes sharing a store may write rows of one version at once;
                // the row with the least id is that version (RulesetStore), the others lost and were saved again under
                // the next number. Rows saved before have '' and are each their version's only row, as a rule.
                $"ALTER TABLE {db}.{RulesetsTable} ADD COLUMN IF NOT EXISTS save_id String DEFAULT '' AFTER saved_at",
            ]),
            new Migration(FlowColumnTable.ServiceRollupsMigration, "app x env rollups per service", ServiceRollupsMigration(db, retention)),
        ];
    }

    public static string Bootstrap(string database) =>
        $"CREATE DATABASE IF NOT EXISTS {QuoteDatabase(database)}";

    public static string MigrationsTableDdl(string database) =>
        $"""
        CREATE TABLE IF NOT EXISTS {QuoteDatabase(database)}.{MigrationsTable}
        (version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
        ENGINE = MergeTree ORDER BY version
        """;

    /// <summary>
    /// Claims on the store's leases (<see cref="StoreLease"/>). Created with the migrations table, before any
    /// migration, because the migration lock is one of them; a day of claims is kept.
    /// </summary>
    public static string LeasesTableDdl(string database) =>
        $"""
        CREATE TABLE IF NOT EXISTS {QuoteDatabase(database)}.{LeasesTable}
        (name String, term UInt64, holder String, claimed_at DateTime64(3, 'UTC') DEFAULT now64(3))
        ENGINE = MergeTree ORDER BY (name, term, claimed_at, holder)
        TTL toDateTime(claimed_at) + toIntervalSecond(86400)
        """;

    /// <summary>
    /// Encodes one record as a RowBinary row of <see cref="FlowColumns"/>. Unrolled by hand (the hot path);
    /// <c>FlowSchemaAgreementTests</c> decodes it back by <see cref="FlowColumnTable"/>'s types, column by column.
    /// </summary>
    public static void WriteRow(IBufferWriter<byte> writer, in FlowRecord record)
    {
        RowBinary.WriteInt64(writer, record.StartMs);
        RowBinary.WriteInt64(writer, record.EndMs);
        RowBinary.WriteUInt64(writer, record.ConnectionId);
        RowBinary.WriteUInt8(writer, (byte)record.Event);
        RowBinary.WriteUInt8(writer, record.Protocol);
        RowBinary.WriteIPv6(writer, record.SrcIp);
        RowBinary.WriteUInt16(writer, record.SrcPort);
        RowBinary.WriteIPv6(writer, record.DstIp);
        RowBinary.WriteUInt16(writer, record.DstPort);
        RowBinary.WriteUInt64(writer, record.BytesOut);
        RowBinary.WriteUInt64(writer, record.PacketsOut);
        RowBinary.WriteUInt64(writer, record.BytesIn);
        RowBinary.WriteUInt64(writer, record.PacketsIn);
        RowBinary.WriteBytes(writer, EndpointColumns.RowBinaryOf(record.Src ?? Endpoint.Unknown));
        RowBinary.WriteBytes(writer, EndpointColumns.RowBinaryOf(record.Dst ?? Endpoint.Unknown));
        RowBinary.WriteInt32(writer, record.SourcePartition);
        RowBinary.WriteInt64(writer, record.SourceOffset);
        RowBinary.WriteIPv6(writer, record.NatSrcIp);
        RowBinary.WriteUInt16(writer, record.NatSrcPort);
        RowBinary.WriteIPv6(writer, record.NatDstIp);
        RowBinary.WriteUInt16(writer, record.NatDstPort);
        RowBinary.WriteUInt32(writer, record.Connections == 0 ? 1 : record.Connections);
        RowBinary.WriteUInt8(writer, record.CountersAreDeltas ? (byte)1 : (byte)0);
        RowBinary.WriteString(writer, record.SourceTopic ?? string.Empty);
        RowBinary.WriteUInt8(writer, (byte)record.Findings);
        RowBinary.WriteUInt8(writer, (byte)record.Verdict);
        RowBinary.WriteUInt8(writer, record.IsAttempt ? (byte)1 : (byte)0);
        RowBinary.WriteUInt8(writer, record.Audited ? (byte)1 : (byte)0);
        RowBinary.WriteString(writer, record.VerdictReason ?? string.Empty);
        if (record.Policies is null)
        {
            RowBinary.WriteUInt8(writer, 0);
        }
        else
        {
            RowBinary.WriteBytes(writer, PolicyNames.RowBinaryOf(record.Policies));
        }
    }

    /// <summary>How many recent insert blocks each flow table remembers to drop a repeat of (ClickHouse's default for replicated tables is larger; a retry comes within seconds).</summary>
    public const int DeduplicationWindow = 1000;

    /// <summary>
    /// Migration 14. Every table an ingest insert writes (the raw flows, each rollup, <c>edges</c>) remembers its
    /// last <see cref="DeduplicationWindow"/> blocks, so that a retried insert carrying the same
    /// <c>insert_deduplication_token</c> stores nothing twice, in the raw table or in any
    /// view (replicated tables do this by themselves; a single server needs <c>non_replicated_deduplication_window</c>).
    /// Tables with a TTL drop a part whole once all its rows expired instead of rewriting it (<c>ttl_only_drop_parts</c>:
    /// their partitions are days or months, so every part expires whole).
    /// </summary>
    private static List<string> DeduplicationMigration(string db)
    {
        var tables = new[] { FlowsTable }.Concat(RollupsBeforeServices.Select(r => r.Name)).ToList();
        return
        [
            .. tables.Select(t => $"ALTER TABLE {db}.{t} MODIFY SETTING non_replicated_deduplication_window = {DeduplicationWindow}, ttl_only_drop_parts = 1"),
            $"ALTER TABLE {db}.{EdgesTable} MODIFY SETTING non_replicated_deduplication_window = {DeduplicationWindow}",
        ];
    }

    /// <summary>The <c>ADD COLUMN</c> statements of the flow columns <paramref name="migration"/> adds (<see cref="FlowColumnTable.AddedBy"/>).</summary>
    private static List<string> AddColumns(string db, int migration) =>
        [.. FlowColumnTable.AddedBy(migration).Select(a => $"ALTER TABLE {db}.{FlowsTable} ADD COLUMN IF NOT EXISTS {a.Column.Ddl} AFTER {a.After}")];

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    private static partial Regex DatabaseName();
}
