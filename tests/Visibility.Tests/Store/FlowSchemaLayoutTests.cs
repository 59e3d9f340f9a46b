using System.ComponentModel.DataAnnotations;
using System.Text;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

public sealed class FlowSchemaLayoutTests
{
    private const string Database = "visibility";
    private static readonly TimeSpan Retention = TimeSpan.FromDays(30);

    /// <summary>Everything a store runs to create its schema, one statement after another, as a reviewable file.</summary>
    private static string Render(StoreLayout layout)
    {
        var text = new StringBuilder();
        foreach (var statement in FlowSchema.BootstrapStatements(Database, layout))
        {
            text.Append("-- bootstrap\n").Append(statement.Trim()).Append(";\n\n");
        }

        foreach (var migration in FlowSchema.Migrations(Database, Retention, layout))
        {
            foreach (var statement in migration.Statements)
            {
                text.Append("-- ").Append(migration.Version).Append(": ").Append(migration.Name).Append('\n')
                    .Append(statement.Trim()).Append(";\n\n");
            }
        }

        return text.ToString();
    }

    [Fact]
    public void SingleServerDdl_IsExactlyTheEmbeddedDdl()
    {
        var single = FlowSchema.Migrations(Database, Retention, StoreLayout.SingleServer);
        var today = FlowSchema.Migrations(Database, Retention);
        Assert.Equal(today.Select(m => (m.Version, m.Name)), single.Select(m => (m.Version, m.Name)));
        Assert.Equal(today.SelectMany(m => m.Statements), single.SelectMany(m => m.Statements));
        Assert.Equal([FlowSchema.Bootstrap(Database), FlowSchema.MigrationsTableDdl(Database), FlowSchema.LeasesTableDdl(Database)], FlowSchema.BootstrapStatements(Database, StoreLayout.SingleServer));
    }

    [Fact]
    public void SingleServerDdl_MatchesGolden() =>
        Golden.VerifyText("store/ddl-single-server.sql.golden", Render(StoreLayout.SingleServer));

    [Fact]
    public void ClusterDdl_MatchesGolden() =>
        Golden.VerifyText("store/ddl-cluster.sql.golden", Render(StoreLayout.ForCluster("analytics")));

    [Fact]
    public void ClusterDdlWithoutReplicas_MatchesGolden() =>
        Golden.VerifyText("store/ddl-cluster-unreplicated.sql.golden", Render(StoreLayout.ForCluster("analytics", replicated: false)));

    [Fact]
    public void ClusterDdlWithoutReplicas_IsTheReplicatedDdl_WithPlainEngines()
    {
        // Shards without replicas differ from the replicated layout in the local tables' engines only.
        var replicated = Render(StoreLayout.ForCluster("analytics"));
        var plain = Render(StoreLayout.ForCluster("analytics", replicated: false));
        Assert.Contains("ReplicatedMergeTree(", replicated, StringComparison.Ordinal);
        Assert.DoesNotContain("Replicated", plain, StringComparison.Ordinal);
        Assert.DoesNotContain("{replica}", plain, StringComparison.Ordinal);
        var stripped = System.Text.RegularExpressions.Regex.Replace(
            replicated, @"Replicated(\w*)MergeTree\('/clickhouse/tables/\{shard\}/\{database\}/\w+', '\{replica\}'(, )?", "$1MergeTree(");
        stripped = stripped.Replace("MergeTree()", "MergeTree", StringComparison.Ordinal);
        Assert.Equal(stripped, plain);
        Assert.False(StoreLayout.SingleServer.Replicated);
        Assert.True(StoreLayout.ForCluster("c1").Replicated);
        Assert.False(StoreLayout.ForCluster("c1", replicated: false).Replicated);
    }

    [Fact]
    public void StoreOptions_Unreplicated_NeedsACluster()
    {
        var alone = new StoreOptions { Mode = "server", ConnectionString = "Host=127.0.0.1", Replicated = false };
        var refused = new StoreOptionsValidator().Validate(null, alone);
        Assert.True(refused.Failed);
        Assert.Contains("Visibility:Store:Cluster", refused.FailureMessage, StringComparison.Ordinal);

        var sharded = new StoreOptions { Mode = "server", ConnectionString = "Host=127.0.0.1", Cluster = "c1", Replicated = false };
        Assert.True(new StoreOptionsValidator().Validate(null, sharded).Succeeded);
    }

    [Fact]
    public async Task ClusterDdl_EveryStatement_ParsesInClickHouse()
    {
        // chDB has no keeper, so replicated tables cannot be created here; formatQuery parses without running.
        var connection = ChdbEngine.Open(TestStore.DataPath).Connect();
        var layout = StoreLayout.ForCluster("analytics");
        var statements = FlowSchema.BootstrapStatements(Database, layout)
            .Concat(FlowSchema.Migrations(Database, Retention, layout).SelectMany(m => m.Statements)).ToList();
        Assert.NotEmpty(statements);
        foreach (var statement in statements)
        {
            var formatted = await connection.QueryTextAsync("SELECT formatQuery({q:String})", "TSVRaw", [new QueryParameter("q", statement)]);
            if (formatted.StartsWith("INSERT INTO", StringComparison.Ordinal))
            {
                // The rollup backfill runs once, through the Distributed tables (which are not local ones).
                Assert.DoesNotContain("_local", formatted, StringComparison.Ordinal);
                continue;
            }

            Assert.Contains("ON CLUSTER analytics", formatted, StringComparison.Ordinal);
            if (formatted.StartsWith("CREATE MATERIALIZED VIEW", StringComparison.Ordinal))
            {
                // A view reads and writes one node's local tables.
                Assert.Matches(@"TO visibility\.\w+_local\s+AS", formatted);
                Assert.Matches(@"FROM visibility\.\w+_local\b", formatted);
            }
        }
    }

    [Fact]
    public async Task ClusterDdl_ParseCheck_RejectsBrokenStatement()
    {
        // The parse check above can fail: a statement with a syntax error is refused.
        var connection = ChdbEngine.Open(TestStore.DataPath).Connect();
        var error = await Assert.ThrowsAsync<ChdbException>(() => connection.QueryTextAsync(
            "SELECT formatQuery({q:String})", "TSVRaw", [new QueryParameter("q", "CREATE TABLE t ON CLUSTER analytics ENGINE = Distributed('a', 'b', 'c', x))")]));
        Assert.Contains("SYNTAX_ERROR", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ClusterLayout_NewTableAndColumnMigrations_AreDistributedWithoutChanges()
    {
        // The shapes a later migration adds: a column on flows_raw and a new ReplacingMergeTree table.
        var layout = StoreLayout.ForCluster("c1");
        var column = layout.Distribute("ALTER TABLE `db`.flows_raw ADD COLUMN IF NOT EXISTS kafka_topic LowCardinality(String) AFTER kafka_offset");
        Assert.Equal(
            [
                "ALTER TABLE `db`.flows_raw_local ON CLUSTER c1 ADD COLUMN IF NOT EXISTS kafka_topic LowCardinality(String) AFTER kafka_offset",
                "ALTER TABLE `db`.flows_raw ON CLUSTER c1 ADD COLUMN IF NOT EXISTS kafka_topic LowCardinality(String) AFTER kafka_offset",
            ],
            column);

        var table = layout.Distribute("""
            CREATE TABLE IF NOT EXISTS `db`.ingest_progress
            (
                group_id String,
                topic String,
                partition Int32,
                next_offset Int64,
                updated_at DateTime64(6, 'UTC')
            )
            ENGINE = ReplacingMergeTree(updated_at)
            ORDER BY (group_id, topic, partition)
            """);
        Assert.Equal(2, table.Count);
        Assert.StartsWith("CREATE TABLE IF NOT EXISTS `db`.ingest_progress_local ON CLUSTER c1\n(", table[0], StringComparison.Ordinal);
        Assert.Contains("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/ingest_progress', '{replica}', updated_at)\nORDER BY (group_id, topic, partition)", table[0], StringComparison.Ordinal);
        Assert.Equal(
            "CREATE TABLE IF NOT EXISTS `db`.ingest_progress ON CLUSTER c1\nAS `db`.ingest_progress_local\n" +
            "ENGINE = Distributed('c1', 'db', 'ingest_progress_local', cityHash64(group_id, topic, partition))",
            table[1]);

        // Settings and TTL changes concern the stored rows only.
        Assert.Equal(["ALTER TABLE `db`.flows_raw_local ON CLUSTER c1 MODIFY TTL toDateTime(ts) + toIntervalDay(7)"],
            layout.Distribute("ALTER TABLE `db`.flows_raw MODIFY TTL toDateTime(ts) + toIntervalDay(7)"));
    }

    [Fact]
    public void ClusterLayout_StatementItCannotDistribute_IsRefusedNamingIt()
    {
        var error = Assert.Throws<NotSupportedException>(() => StoreLayout.ForCluster("c1").Distribute(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS `db`.flows_1m_mv TO `db`.flows_1m AS SELECT 1"));
        Assert.Contains("CREATE MATERIALIZED VIEW IF NOT EXISTS `db`.flows_1m_mv", error.Message, StringComparison.Ordinal);
        Assert.Equal(["CREATE MATERIALIZED VIEW x AS SELECT 1"], StoreLayout.SingleServer.Distribute("CREATE MATERIALIZED VIEW x AS SELECT 1"));
    }

    [Theory]
    [InlineData("a-b")]
    [InlineData("c1 ON CLUSTER x")]
    [InlineData("c`1")]
    [InlineData("1abc")]
    public void ClusterName_Invalid_IsRefusedByLayoutAndOptions(string name)
    {
        Assert.Throws<ArgumentException>(() => StoreLayout.ForCluster(name));
        var options = new StoreOptions { Cluster = name };
        var results = new List<ValidationResult>();
        Assert.False(Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true));
        Assert.Contains(results, r => r.MemberNames.Contains(nameof(StoreOptions.Cluster)));
    }

    [Fact]
    public void StoreOptions_Defaults_AreValidAndSingleServer()
    {
        var options = new StoreOptions();
        Assert.True(Validator.TryValidateObject(options, new ValidationContext(options), [], validateAllProperties: true));
        Assert.False(StoreLayout.ForCluster(options.Cluster).IsCluster);
        Assert.True(new StoreOptionsValidator().Validate(null, options).Succeeded);
    }
}
