using System.Globalization;
using System.Text;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Views;
using Visibility.Tests.Support;

namespace Visibility.Tests.Views;

public sealed class SavedViewTests
{
    private const string Alice = "key:a11ce0000001";
    private const string Bob = "oidc:bob";

    [Fact]
    public async Task CreateListGetReplaceDelete_RoundTripsThroughTheStore_OwnerKeptThroughReplacement()
    {
        var store = await TestStore.CreateAsync();
        var clock = new SteppedClock(DateTimeOffset.Parse("2026-11-27T05:00:00Z", CultureInfo.InvariantCulture));
        using var views = new SavedViewStore(store, store, clock);

        var devProd = await CreateAsync(views, "dev → prod", "last=24h&groupBy=app,env&filter=src.env%20%3D%20dev", Alice);
        clock.Advance(TimeSpan.FromSeconds(1));
        var hostile = await CreateAsync(views, "a'); DROP TABLE saved_views; --", "groupBy=role,env", Bob);

        Assert.True(SavedViewStore.IsId(devProd.Id));
        Assert.NotEqual(devProd.Id, hostile.Id);
        var listed = await views.ListAsync(CancellationToken.None);
        Assert.Equal(["a'); DROP TABLE saved_views; --", "dev → prod"], listed.Select(v => v.Name));
        Assert.Equal([Bob, Alice], listed.Select(v => v.Owner));
        Assert.Equal(devProd, await views.GetAsync(devProd.Id, CancellationToken.None));

        // Replaced by someone else (an admin): the owner stays the creator.
        clock.Advance(TimeSpan.FromSeconds(1));
        var renamed = await views.ReplaceAsync(devProd, "dev to prod", "last=7d", CancellationToken.None);
        var got = await views.GetAsync(devProd.Id, CancellationToken.None);
        Assert.Equal(renamed, got);
        Assert.Equal(("dev to prod", "last=7d", Alice), (got!.Name, got.Query, got.Owner));
        Assert.Equal(2, (await views.ListAsync(CancellationToken.None)).Count);

        clock.Advance(TimeSpan.FromSeconds(1));
        await views.DeleteAsync(got, CancellationToken.None);
        Assert.Null(await views.GetAsync(devProd.Id, CancellationToken.None));
        Assert.Equal([hostile.Id], (await views.ListAsync(CancellationToken.None)).Select(v => v.Id));
        Assert.Null(await views.GetAsync("aaaaaaaaaaaaaaaa", CancellationToken.None));
        Assert.Equal((1, 0), await views.CountAsync(Alice, CancellationToken.None));
        Assert.Equal((1, 1), await views.CountAsync(Bob, CancellationToken.None));
    }

    [Fact]
    public async Task Create_OwnerAtItsCap_RefusedByTheOwnerCap_OtherOwnersStillCreate_ADeleteFreesASlot()
    {
        var store = await TestStore.CreateAsync();
        using var views = new SavedViewStore(store, store);
        var mine = new List<SavedView>();
        for (var i = 0; i < 3; i++)
        {
            mine.Add(await CreateAsync(views, $"view {i}", "last=1h", Alice, maxPerOwner: 3));
        }

        var refused = await views.CreateAsync("one more", "last=1h", Alice, 3, CancellationToken.None);
        Assert.Equal(new ViewCreation(null, ViewCap.Owner), refused);
        Assert.Equal(Bob, (await CreateAsync(views, "bob's", "last=1h", Bob, maxPerOwner: 3)).Owner);

        await views.DeleteAsync(mine[0], CancellationToken.None);
        Assert.Equal(Alice, (await CreateAsync(views, "again", "last=1h", Alice, maxPerOwner: 3)).Owner);
        Assert.Equal((4, 3), await views.CountAsync(Alice, CancellationToken.None));
    }

    [Fact]
    public async Task Create_ConcurrentBurstByOneOwner_StopsExactlyAtTheCap()
    {
        var store = await TestStore.CreateAsync();
        using var views = new SavedViewStore(store, store);

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            Task.Run(() => views.CreateAsync($"burst {i}", "last=1h", Alice, 5, CancellationToken.None))));

        Assert.Equal(5, results.Count(r => r.RefusedBy == ViewCap.None));
        Assert.Equal(11, results.Count(r => r.RefusedBy == ViewCap.Owner));
        Assert.Equal((5, 5), await views.CountAsync(Alice, CancellationToken.None));
    }

    [Fact]
    public async Task Create_StoreHoldingMaxViews_RefusedByTheStoreCap_WhateverTheOwnersShare()
    {
        var store = await TestStore.CreateAsync();
        using var views = new SavedViewStore(store, store);

        // The store full of other principals' views, written in one insert as the store writes them.
        var rows = new StringBuilder();
        for (var i = 0; i < SavedViewStore.MaxViews; i++)
        {
            rows.Append(CultureInfo.InvariantCulture, $$"""{"id":"fill{{i:D12}}","name":"v{{i}}","query":"last=1h","owner":"key:other{{i % 50}}","deleted":0,"updated_at":"2026-11-27 05:00:00.000000"}""").Append('\n');
        }

        await store.InsertRowsAsync($"INSERT INTO `{store.Database}`.{FlowSchema.ViewsTable} (id, name, query, owner, deleted, updated_at)", "JSONEachRow",
            Encoding.UTF8.GetBytes(rows.ToString()), CancellationToken.None);

        Assert.Equal((SavedViewStore.MaxViews, 0), await views.CountAsync(Alice, CancellationToken.None));
        Assert.Equal(new ViewCreation(null, ViewCap.Store), await views.CreateAsync("one more", "last=1h", Alice, 100, CancellationToken.None));
    }

    [Fact]
    public void MayBeChangedBy_OwnerOrAdmin_AViewWithoutOwner_AdminsOnly()
    {
        var owned = new SavedView("abcdefgh234567zz", "v", "last=1h", Alice, DateTimeOffset.UnixEpoch);
        Assert.True(owned.MayBeChangedBy(Alice, isAdmin: false));
        Assert.False(owned.MayBeChangedBy(Bob, isAdmin: false));
        Assert.False(owned.MayBeChangedBy("KEY:A11CE0000001", isAdmin: false));
        Assert.True(owned.MayBeChangedBy(Bob, isAdmin: true));

        var ownerless = owned with { Owner = null };
        Assert.False(ownerless.MayBeChangedBy(Alice, isAdmin: false));
        Assert.False(ownerless.MayBeChangedBy("", isAdmin: false));
        Assert.True(ownerless.MayBeChangedBy(Bob, isAdmin: true));
    }

    [Fact]
    public async Task Migration_ViewsSavedBeforeOwners_KeepTheirNameAndQuery_AndHaveNoOwner()
    {
        // A store as it was before owners: every migration before the one that adds them, and a view saved then.
        var database = TestStore.NewDatabaseName();
        var connection = ChdbEngine.Open(TestStore.DataPath).Connect();
        await connection.ExecuteAsync(FlowSchema.Bootstrap(database));
        await connection.ExecuteAsync(FlowSchema.MigrationsTableDdl(database));
        var migrations = FlowSchema.Migrations(database, TimeSpan.FromDays(30));
        var owners = Assert.Single(migrations, m => m.Name == "saved view owners");
        foreach (var migration in migrations.Where(m => m.Version < owners.Version))
        {
            foreach (var statement in migration.Statements)
            {
                await connection.ExecuteAsync(statement);
            }

            await connection.ExecuteAsync(StoreSql.RecordMigration(database), CancellationToken.None, StoreSql.RecordMigrationParameters(migration));
        }

        await connection.ExecuteAsync(
            $"INSERT INTO `{database}`.{FlowSchema.ViewsTable} (id, name, query, deleted, updated_at) VALUES ('oldview234567abc', 'legacy', 'last=24h', 0, '2026-01-01 00:00:00')");

        // Opening the store applies the owners migration; the old view has no owner and counts for nobody.
        var store = await TestStore.CreateAsync(database);
        Assert.Contains(owners.Version, await store.AppliedMigrationsAsync(CancellationToken.None));
        using var views = new SavedViewStore(store, store);
        var legacy = await views.GetAsync("oldview234567abc", CancellationToken.None);
        Assert.Equal(("legacy", "last=24h", (string?)null), (legacy!.Name, legacy.Query, legacy.Owner));
        Assert.False(legacy.MayBeChangedBy(Alice, isAdmin: false));
        Assert.True(legacy.MayBeChangedBy(Alice, isAdmin: true));
        Assert.Equal((1, 0), await views.CountAsync(Alice, CancellationToken.None));

        // An admin's replacement keeps it ownerless.
        await views.ReplaceAsync(legacy, "legacy, renamed", "last=7d", CancellationToken.None);
        Assert.Null((await views.GetAsync("oldview234567abc", CancellationToken.None))!.Owner);
    }

    [Fact]
    public void IsId_AcceptsOnlyGeneratedShape()
    {
        Assert.True(SavedViewStore.IsId("abcdefgh234567zz"));
        Assert.False(SavedViewStore.IsId("abcdefgh234567z"));
        Assert.False(SavedViewStore.IsId("ABCDEFGH234567ZZ"));
        Assert.False(SavedViewStore.IsId("abcdefgh2345671z"));
        Assert.False(SavedViewStore.IsId(null));
    }

    private static async Task<SavedView> CreateAsync(SavedViewStore views, string name, string query, string owner, int maxPerOwner = 100)
    {
        var created = await views.CreateAsync(name, query, owner, maxPerOwner, CancellationToken.None);
        Assert.Equal(ViewCap.None, created.RefusedBy);
        return created.View!;
    }

    /// <summary>A clock the test moves, so each write is newer than the one before.</summary>
    private sealed class SteppedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public void Advance(TimeSpan by) => now += by;
    }
}
