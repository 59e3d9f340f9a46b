using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Enrichment;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

/// <summary>Deleting a workload: a tombstone version in the store (both transports), and the index rebuilt without it.</summary>
public sealed class WorkloadDeletionTests
{
    public static TheoryData<string> Stores
    {
        get
        {
            var data = new TheoryData<string> { "embedded" };
            foreach (var target in ServerTargets.All)
            {
                data.Add(target);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task DeleteWorkload_Stored_TombstoneHidesIt_HistoryKept_AnUpsertBringsItBack(string transport)
    {
        var database = TestStore.NewDatabaseName();
        IFlowStore store = transport == "embedded" ? await TestStore.CreateAsync(database) : await ServerTargets.CreateAsync(transport, database);
        try
        {
            await store.UpsertWorkloadsAsync([Workload("web", "10.0.0.1"), Workload("db 'main'", "10.0.0.2")], CancellationToken.None);

            Assert.True(await store.DeleteWorkloadAsync("db 'main'", CancellationToken.None));
            Assert.Equal(["web"], (await store.LoadWorkloadsAsync(CancellationToken.None)).Select(w => w.Name));

            // Deleting again, or a name never stored, writes nothing.
            Assert.False(await store.DeleteWorkloadAsync("db 'main'", CancellationToken.None));
            Assert.False(await store.DeleteWorkloadAsync("never-stored", CancellationToken.None));

            await store.UpsertWorkloadsAsync([Workload("db 'main'", "10.0.0.3")], CancellationToken.None);
            var back = (await store.LoadWorkloadsAsync(CancellationToken.None)).Single(w => w.Name == "db 'main'");
            Assert.Equal(["10.0.0.3"], back.Addresses);

            // Every version stays in the table: upsert, tombstone, upsert.
            var versions = await store.QueryAsync(
                $"SELECT count() FROM `{database}`.{FlowSchema.WorkloadsTable} FINAL WHERE name = {{name:String}}", "TabSeparated",
                static span => System.Text.Encoding.UTF8.GetString(span).Trim(), [new("name", "db 'main'")], CancellationToken.None);
            var all = await store.QueryAsync(
                $"SELECT count() FROM `{database}`.{FlowSchema.WorkloadsTable} WHERE name = {{name:String}}", "TabSeparated",
                static span => System.Text.Encoding.UTF8.GetString(span).Trim(), [new("name", "db 'main'")], CancellationToken.None);
            Assert.Equal("1", versions);
            Assert.True(int.Parse(all, System.Globalization.CultureInfo.InvariantCulture) is 1 or 3, all);
        }
        finally
        {
            (store as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void Remove_ApiWorkload_NoLongerLabelsItsAddress_AFileWorkloadOfTheNameAppliesAgain()
    {
        var inventory = new WorkloadInventory(Options.Create(new InventoryOptions()));
        inventory.ReplaceFileWorkloads([Workload("shared", "10.1.1.1", env: "file")]);
        inventory.Upsert([Workload("api-only", "10.2.2.2"), Workload("shared", "10.1.1.1", env: "api")]);
        Assert.Equal("api-only", Lookup(inventory, "10.2.2.2").Workload);
        Assert.Equal("api", Lookup(inventory, "10.1.1.1").Env);

        Assert.True(inventory.Remove("api-only"));
        Assert.DoesNotContain(inventory.List(), w => w.Name == "api-only");
        Assert.Equal("", Lookup(inventory, "10.2.2.2").Workload);

        Assert.True(inventory.Remove("shared"));
        Assert.Equal("file", Lookup(inventory, "10.1.1.1").Env);
        Assert.True(inventory.InFile("shared"));

        // The file's workload is not the API's to remove.
        Assert.False(inventory.Remove("shared"));
        Assert.Contains(inventory.List(), w => w.Name == "shared");
    }

    private static Visibility.Flows.Labels.Endpoint Lookup(WorkloadInventory inventory, string address)
    {
        Assert.True(IpAddressKey.TryParse(address.AsSpan(), out var ip));
        return inventory.Current.Lookup(ip);
    }

    private static WorkloadSpec Workload(string name, string address, string env = "prod") =>
        new() { Name = name, Kind = "vm", Addresses = [address], Labels = new Dictionary<string, string> { ["app"] = "x", ["env"] = env } };
}
