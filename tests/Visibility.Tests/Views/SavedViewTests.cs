using Visibility.Query.Views;
using Visibility.Tests.Support;

namespace Visibility.Tests.Views;

public sealed class SavedViewTests
{
    [Fact]
    public async Task SaveListGetReplaceDelete_RoundTripsThroughTheStore()
    {
        var store = await TestStore.CreateAsync();
        var clock = new SteppedClock(DateTimeOffset.Parse("2026-11-27T05:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var views = new SavedViewStore(store, clock);

        var devProd = await views.SaveAsync(null, "dev → prod", "last=24h&groupBy=app,env&filter=src.env%20%3D%20dev", CancellationToken.None);
        clock.Advance(TimeSpan.FromSeconds(1));
        var hostile = await views.SaveAsync(null, "a'); DROP TABLE saved_views; --", "groupBy=role,env", CancellationToken.None);

        Assert.True(SavedViewStore.IsId(devProd.Id));
        Assert.NotEqual(devProd.Id, hostile.Id);
        var listed = await views.ListAsync(CancellationToken.None);
        Assert.Equal(["a'); DROP TABLE saved_views; --", "dev → prod"], listed.Select(v => v.Name));
        Assert.Equal(devProd, await views.GetAsync(devProd.Id, CancellationToken.None));

        clock.Advance(TimeSpan.FromSeconds(1));
        var renamed = await views.SaveAsync(devProd.Id, "dev to prod", "last=7d", CancellationToken.None);
        var got = await views.GetAsync(devProd.Id, CancellationToken.None);
        Assert.Equal(renamed, got);
        Assert.Equal("last=7d", got!.Query);
        Assert.Equal(2, (await views.ListAsync(CancellationToken.None)).Count);

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await views.DeleteAsync(devProd.Id, CancellationToken.None));
        Assert.Null(await views.GetAsync(devProd.Id, CancellationToken.None));
        Assert.False(await views.DeleteAsync(devProd.Id, CancellationToken.None));
        Assert.Equal([hostile.Id], (await views.ListAsync(CancellationToken.None)).Select(v => v.Id));
        Assert.Null(await views.GetAsync("aaaaaaaaaaaaaaaa", CancellationToken.None));
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

    /// <summary>A clock the test moves, so each write is newer than the one before.</summary>
    private sealed class SteppedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public void Advance(TimeSpan by) => now += by;
    }
}
