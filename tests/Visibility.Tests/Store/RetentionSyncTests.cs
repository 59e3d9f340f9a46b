using Visibility.Flows.Store;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

public sealed class RetentionSyncTests
{
    [Fact]
    public async Task Start_WithChangedRetention_ModifiesEachTablesTtl_AndOnlyWhenItChanged()
    {
        var database = TestStore.NewDatabaseName();
        var first = await TestStore.CreateAsync(database, TimeSpan.FromDays(30));
        Assert.Equal(
            ["flows_1h\t34560000", "flows_1m\t2592000", "flows_5m\t7776000", "flows_app_1h\t34560000", "flows_app_5m\t7776000", "flows_app_6h\t34560000", "flows_app_svc_1h\t34560000", "flows_app_svc_6h\t34560000", "flows_raw\t2592000", "leases\t86400"],
            await TtlsAsync(first, database));

        // Raw flows kept 10 days from now on; rollups keep what RawOnly gives them (at least 30/90/400 days).
        var store = await TestStore.CreateAsync(database, TimeSpan.FromDays(10));
        Assert.Equal(
            ["flows_1h\t34560000", "flows_1m\t2592000", "flows_5m\t7776000", "flows_app_1h\t34560000", "flows_app_5m\t7776000", "flows_app_6h\t34560000", "flows_app_svc_1h\t34560000", "flows_app_svc_6h\t34560000", "flows_raw\t864000", "leases\t86400"],
            await TtlsAsync(store, database));

        // Nothing to change: no statements.
        var (sql, parameters) = StoreRetentionSync.CurrentQuery(database, StoreLayout.SingleServer);
        var current = await store.QueryAsync(sql, "TSVRaw", static s => System.Text.Encoding.UTF8.GetString(s), parameters, CancellationToken.None);
        Assert.Empty(StoreRetentionSync.Changes(database, StoreRetention.RawOnly(TimeSpan.FromDays(10)), StoreLayout.SingleServer, current));

        // On a cluster the local tables are altered, ON CLUSTER.
        var clusterCurrent = current.Replace("flows_raw\t", "flows_raw_local\t", StringComparison.Ordinal);
        var change = Assert.Single(StoreRetentionSync.Changes(database, StoreRetention.RawOnly(TimeSpan.FromDays(5)), StoreLayout.ForCluster("c1"), clusterCurrent));
        Assert.Equal($"ALTER TABLE `{database}`.flows_raw_local ON CLUSTER c1 MODIFY TTL toDateTime(ts) + toIntervalSecond(432000)", change.Statement);
        Assert.Equal("flows_raw: 10.00:00:00 -> 5.00:00:00", change.Change);
    }

    private static async Task<List<string>> TtlsAsync(IFlowStore store, string database)
    {
        var text = await store.QueryAsync(
            "SELECT name, extract(engine_full, 'toIntervalSecond\\\\((\\\\d+)\\\\)') FROM system.tables WHERE database = {db:String} AND engine_full LIKE '%TTL%' ORDER BY name",
            "TSVRaw", static s => System.Text.Encoding.UTF8.GetString(s), [new("db", database)], CancellationToken.None);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }
}
