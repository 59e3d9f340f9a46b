using System.Text;
using Visibility.Flows.Store;

namespace Visibility.TestSupport;

/// <summary>Stores as an older release left them, for the migration tests (the embedded store's and the command's).</summary>
public static class OlderStore
{
    /// <summary>
    /// The store as a release at <paramref name="version"/> left it: its migrations applied and recorded (no leases
    /// table: it came with migration 14), and <paramref name="rows"/> raw flows.
    /// </summary>
    public static async Task PrepareAsync(IFlowStore store, int version, int rows, TimeSpan retention)
    {
        ArgumentNullException.ThrowIfNull(store);
        await ExecuteAsync(store, FlowSchema.Bootstrap(store.Database));
        await ExecuteAsync(store, FlowSchema.MigrationsTableDdl(store.Database));
        foreach (var migration in FlowSchema.Migrations(store.Database, retention).Where(m => m.Version <= version))
        {
            foreach (var statement in migration.Statements)
            {
                await ExecuteAsync(store, statement);
            }

            await store.QueryAsync(StoreSql.RecordMigration(store.Database), "TabSeparated", static _ => 0, StoreSql.RecordMigrationParameters(migration), CancellationToken.None);
        }

        if (rows > 0)
        {
            await InsertRawAsync(store, 0, rows);
        }
    }

    /// <summary>Raw flows with the columns every release since migration 6 has: opens and closes, a few apps, four partitions.</summary>
    public static Task InsertRawAsync(IFlowStore store, int first, int count)
    {
        ArgumentNullException.ThrowIfNull(store);
        return ExecuteAsync(store, $"""
            INSERT INTO `{store.Database}`.flows_raw (ts, end_ts, conn_id, event, proto, src_ip, src_port, dst_ip, dst_port,
                bytes_out, packets_out, bytes_in, packets_in, src_app, dst_app, src_env, dst_env, kafka_topic, kafka_partition, kafka_offset)
            SELECT now64(3) - toIntervalSecond(number % 20000), now64(3) - toIntervalSecond(number % 20000), number, if(number % 2 = 0, 1, 4), 6,
                toIPv6('10.0.0.1'), 1000 + number % 100, toIPv6('10.0.0.2'), 443 + number % 3,
                100 + number, 1, 200, 2, concat('app', toString(number % 5)), 'db', 'prod', if(number % 7 = 0, 'dev', 'prod'),
                'flows', toInt32(number % 4), toInt64(number)
            FROM numbers({first}, {count})
            """);
    }

    private static Task<string> ExecuteAsync(IFlowStore store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static s => Encoding.UTF8.GetString(s), [], CancellationToken.None);
}
