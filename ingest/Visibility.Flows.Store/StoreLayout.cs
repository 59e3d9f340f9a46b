using System.Text.RegularExpressions;

namespace Visibility.Flows.Store;

/// <summary>
/// Where the tables live: on one engine (embedded or a single server), or sharded (and replicated) across a
/// ClickHouse cluster. On a cluster each table becomes a <c>ReplicatedMergeTree</c>-family table named
/// <c>&lt;table&gt;_local</c> on every node, plus a <c>Distributed</c> table under the original name, so every
/// query and insert keeps using today's table names. All DDL then runs <c>ON CLUSTER</c>. A cluster of shards
/// without replicas (<see cref="Replicated"/> false) keeps the local tables in their plain <c>MergeTree</c> family:
/// no keeper paths, each shard's rows on one node only.
/// </summary>
public sealed partial class StoreLayout
{
    /// <summary>The suffix of the per-node tables behind a <c>Distributed</c> table.</summary>
    public const string LocalSuffix = "_local";

    private StoreLayout(string? cluster, bool replicated)
    {
        Cluster = cluster;
        Replicated = replicated;
    }

    /// <summary>One engine: the DDL exactly as <see cref="FlowSchema"/> writes it.</summary>
    public static StoreLayout SingleServer { get; } = new(null, false);

    /// <summary>The cluster name, or null for <see cref="SingleServer"/>.</summary>
    public string? Cluster { get; }

    public bool IsCluster => Cluster is not null;

    /// <summary>
    /// On a cluster: whether the local tables are <c>Replicated*MergeTree</c> (shards with replicas, a keeper) or
    /// plain <c>*MergeTree</c> (shards of one node each). False for <see cref="SingleServer"/>.
    /// </summary>
    public bool Replicated { get; }

    /// <summary>
    /// The layout for a configured cluster name: <see cref="SingleServer"/> when it is empty. Cluster names come from
    /// configuration and are checked like database names. <paramref name="replicated"/> false lays the cluster out
    /// as shards without replicas.
    /// </summary>
    public static StoreLayout ForCluster(string? cluster, bool replicated = true)
    {
        if (string.IsNullOrEmpty(cluster))
        {
            return SingleServer;
        }

        if (!ClusterName().IsMatch(cluster))
        {
            throw new ArgumentException($"'{cluster}' is not a valid cluster name (letters, digits, '_'; at most 64)", nameof(cluster));
        }

        return new StoreLayout(cluster, replicated);
    }

    /// <summary>
    /// The sharding key of a table's <c>Distributed</c> table. It is deterministic, so that a retried insert of
    /// the same rows reaches the same shards as the same blocks, where replicated insert deduplication can drop
    /// the repeat. Flows are sharded by connection, so all records of one connection meet on one shard;
    /// any other table by a hash of its sorting key, so that rows a <c>ReplacingMergeTree</c> collapses meet too.
    /// </summary>
    public static string ShardingKey(string table, string sortingKey)
    {
        if (table == FlowSchema.FlowsTable)
        {
            return "conn_id";
        }

        var key = sortingKey.Trim();
        return key.StartsWith('(') && key.EndsWith(')') ? $"cityHash64{key}" : $"cityHash64({key})";
    }

    /// <summary>
    /// The statements that give <paramref name="statement"/>'s effect on this layout: the statement itself on a
    /// single engine; on a cluster, its <c>ON CLUSTER</c> form for the local and the distributed tables.
    /// </summary>
    /// <exception cref="NotSupportedException">A statement of a kind the cluster layout does not know how to
    /// distribute (so that a new kind of migration fails its golden test instead of producing a wrong schema).</exception>
    public IReadOnlyList<string> Distribute(string statement)
    {
        if (Cluster is null)
        {
            return [statement];
        }

        if (CreateDatabase().Match(statement) is { Success: true } database)
        {
            return [$"{database.Groups["head"].Value} ON CLUSTER {Cluster}"];
        }

        if (CreateTable().Match(statement) is { Success: true } create)
        {
            return DistributeCreate(create);
        }

        if (AlterTable().Match(statement) is { Success: true } alter)
        {
            var table = alter.Groups["table"].Value;
            var action = alter.Groups["action"].Value;
            var local = $"ALTER TABLE {table}{LocalSuffix} ON CLUSTER {Cluster} {action}";

            // A Distributed table has columns but no storage: column changes apply to both, the rest
            // (TTL, indexes, settings, a sorting key grown by the columns added) only to the tables that store rows.
            if (!ColumnAction().IsMatch(action))
            {
                return [local];
            }

            var columns = KeyChange().Match(action) is { Success: true } key ? key.Groups["columns"].Value : action;
            return [local, $"ALTER TABLE {table} ON CLUSTER {Cluster} {columns}"];
        }

        if (DropView().Match(statement) is { Success: true } drop)
        {
            return [$"{drop.Groups["head"].Value} ON CLUSTER {Cluster}"];
        }

        if (MaterializedView().Match(statement) is { Success: true } view)
        {
            // A view sees the blocks inserted into one node's table: it reads and writes the local tables.
            var select = FromTable().Replace(view.Groups["select"].Value, m => $"FROM {m.Groups["table"].Value}{LocalSuffix}");
            return [$"{view.Groups["head"].Value} ON CLUSTER {Cluster} TO {view.Groups["target"].Value}{LocalSuffix} AS\n{select}"];
        }

        if (Truncate().Match(statement) is { Success: true } truncate)
        {
            // Rows live in the local tables; on a replicated table one replica's truncation reaches the others too.
            return [$"TRUNCATE TABLE {truncate.Groups["table"].Value}{LocalSuffix} ON CLUSTER {Cluster}"];
        }

        if (InsertSelect().IsMatch(statement))
        {
            // Runs once, through the Distributed tables: it reads every shard and writes rows where they belong.
            return [statement];
        }

        var firstLine = statement.Trim().Split('\n')[0];
        throw new NotSupportedException($"The cluster layout cannot distribute this statement: {firstLine}");
    }

    private string[] DistributeCreate(Match create)
    {
        var database = create.Groups["database"].Value;
        var table = create.Groups["table"].Value;
        var engineArguments = create.Groups["arguments"].Success ? create.Groups["arguments"].Value.Trim() : "";
        var rest = create.Groups["rest"].Value;
        var sortingKey = SortingKey().Match(rest) is { Success: true } order
            ? order.Groups["key"].Value
            : throw new NotSupportedException($"The cluster layout needs an ORDER BY to shard '{table}' by.");

        var family = create.Groups["family"].Value;
        var replication = $"'/clickhouse/tables/{{shard}}/{{database}}/{table}', '{{replica}}'";
        var engine = Replicated
            ? $"Replicated{family}MergeTree({replication}{(engineArguments.Length > 0 ? ", " + engineArguments : "")})"
            : $"{family}MergeTree{(create.Groups["arguments"].Success ? $"({engineArguments})" : "")}";
        var qualified = $"`{database}`.{table}";
        return
        [
            $"{create.Groups["create"].Value}{LocalSuffix} ON CLUSTER {Cluster}{create.Groups["columns"].Value}ENGINE = {engine}{rest}",
            $"{create.Groups["create"].Value} ON CLUSTER {Cluster}\n" +
            $"AS {qualified}{LocalSuffix}\n" +
            $"ENGINE = Distributed('{Cluster}', '{database}', '{table}{LocalSuffix}', {ShardingKey(table, sortingKey)})",
        ];
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
    private static partial Regex ClusterName();

    [GeneratedRegex(@"^\s*(?<head>CREATE DATABASE IF NOT EXISTS `[A-Za-z0-9_]+`)\s*$")]
    private static partial Regex CreateDatabase();

    // CREATE TABLE IF NOT EXISTS `db`.table (columns) ENGINE = <Family>MergeTree[(arguments)] <the rest>
    [GeneratedRegex(
        @"^\s*(?<create>CREATE TABLE IF NOT EXISTS `(?<database>[A-Za-z0-9_]+)`\.(?<table>[A-Za-z0-9_]+))(?<columns>\s*\(.*\)\s*)" +
        @"ENGINE = (?<family>[A-Za-z]*)MergeTree(\((?<arguments>[^()]*(\([^()]*\)[^()]*)*)\))?(?<rest>.*)$",
        RegexOptions.Singleline)]
    private static partial Regex CreateTable();

    [GeneratedRegex(@"^\s*ALTER TABLE (?<table>`[A-Za-z0-9_]+`\.[A-Za-z0-9_]+) (?<action>.*)$", RegexOptions.Singleline)]
    private static partial Regex AlterTable();

    [GeneratedRegex(@"^\s*(?<head>CREATE MATERIALIZED VIEW IF NOT EXISTS `[A-Za-z0-9_]+`\.[A-Za-z0-9_]+) TO (?<target>`[A-Za-z0-9_]+`\.[A-Za-z0-9_]+) AS\n(?<select>.*)$", RegexOptions.Singleline)]
    private static partial Regex MaterializedView();

    [GeneratedRegex(@"\bFROM (?<table>`[A-Za-z0-9_]+`\.[A-Za-z0-9_]+)")]
    private static partial Regex FromTable();

    [GeneratedRegex(@"^\s*TRUNCATE TABLE (?<table>`[A-Za-z0-9_]+`\.[A-Za-z0-9_]+)\s*$")]
    private static partial Regex Truncate();

    [GeneratedRegex(@"^\s*INSERT INTO `[A-Za-z0-9_]+`\.[A-Za-z0-9_]+\s+SELECT\b", RegexOptions.Singleline)]
    private static partial Regex InsertSelect();

    [GeneratedRegex(@"^(ADD|DROP|MODIFY|RENAME|COMMENT|CLEAR) COLUMN\b")]
    private static partial Regex ColumnAction();

    [GeneratedRegex(@"^(?<columns>.*), MODIFY ORDER BY \(.*\)$", RegexOptions.Singleline)]
    private static partial Regex KeyChange();

    [GeneratedRegex(@"^\s*(?<head>DROP VIEW IF EXISTS `[A-Za-z0-9_]+`\.[A-Za-z0-9_]+)\s*$")]
    private static partial Regex DropView();

    [GeneratedRegex(@"\bORDER BY (?<key>\([^()]*\)|[A-Za-z0-9_]+)")]
    private static partial Regex SortingKey();
}
