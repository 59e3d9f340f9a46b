using Visibility.Flows.Store;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

/// <summary>The store lease on the real engine: several holders, one winner; renewal; expiry; release.</summary>
public sealed class StoreLeaseTests
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task TryAcquire_FourHoldersAtOnce_ExactlyOneHoldsAndAllAgreeWho()
    {
        var store = await TestStore.CreateAsync();
        var leases = Enumerable.Range(1, 4).Select(i => new StoreLease(store, store, "export", $"replica-{i}", Duration)).ToList();

        var states = await Task.WhenAll(leases.Select(l => l.TryAcquireAsync(CancellationToken.None)));

        var holder = Assert.Single(states, s => s.Held);
        Assert.All(states, s => Assert.Equal(holder.Holder, s.Holder));
        Assert.Equal(1, holder.Term);
        Assert.NotNull(holder.ExpiresAt);
    }

    [Fact]
    public async Task TryAcquire_HolderRenewing_KeepsTheLeaseAndTheOtherWaits_UntilItStopsThenTheOtherTakesIt()
    {
        var store = await TestStore.CreateAsync();
        var first = new StoreLease(store, store, "migrate", "first", Duration);
        var second = new StoreLease(store, store, "migrate", "second", Duration);
        Assert.True((await first.TryAcquireAsync(CancellationToken.None)).Held);

        // Over three durations the holder renews every second; the other never gets it.
        var until = DateTime.UtcNow + (3 * Duration);
        while (DateTime.UtcNow < until)
        {
            Assert.True((await first.TryAcquireAsync(CancellationToken.None)).Held);
            var other = await second.TryAcquireAsync(CancellationToken.None);
            Assert.False(other.Held);
            Assert.Equal("first", other.Holder);
        }

        // The holder stops renewing: once its term runs out, the other takes the lease and the first no longer has it.
        await Eventually.TrueAsync(async () => (await second.TryAcquireAsync(CancellationToken.None)).Held, 3 * Duration, "the second holder taking the lease");
        var lost = await first.ReadStateAsync(CancellationToken.None);
        Assert.False(lost.Held);
        Assert.Equal("second", lost.Holder);
    }

    [Fact]
    public async Task Release_LetsAnotherTakeTheLeaseAtOnce()
    {
        var store = await TestStore.CreateAsync();
        var first = new StoreLease(store, store, "migrate", "first", TimeSpan.FromMinutes(5));
        var second = new StoreLease(store, store, "migrate", "second", TimeSpan.FromMinutes(5));
        Assert.True((await first.TryAcquireAsync(CancellationToken.None)).Held);
        Assert.False((await second.TryAcquireAsync(CancellationToken.None)).Held);

        await first.ReleaseAsync(CancellationToken.None);

        Assert.True((await second.TryAcquireAsync(CancellationToken.None)).Held);
        Assert.False((await first.ReadStateAsync(CancellationToken.None)).Held);
    }

    [Fact]
    public async Task Leases_OfDifferentNames_AreIndependent()
    {
        var store = await TestStore.CreateAsync();
        Assert.True((await new StoreLease(store, store, "migrate", "a", Duration).TryAcquireAsync(CancellationToken.None)).Held);
        Assert.True((await new StoreLease(store, store, "export", "b", Duration).TryAcquireAsync(CancellationToken.None)).Held);
    }

    /// <summary>
    /// The time left is the store's own measure, so a holder can keep a deadline on its monotonic clock: right after
    /// taking the lease it is the duration less the settle wait (and a little), it shrinks as time passes, and
    /// a reader that does not hold the lease sees the same term's time left; none once released.
    /// </summary>
    [Fact]
    public async Task Remaining_IsTheTermsTimeLeftByTheStoresClock()
    {
        var store = await TestStore.CreateAsync();
        var duration = TimeSpan.FromSeconds(30);
        var holder = new StoreLease(store, store, "export", "holder", duration);
        var other = new StoreLease(store, store, "export", "other", duration);

        var taken = await holder.TryAcquireAsync(CancellationToken.None);
        Assert.True(taken.Held);
        Assert.InRange(taken.Remaining, duration - StoreLease.Settle - TimeSpan.FromSeconds(2), duration - StoreLease.Settle);

        await Task.Delay(TimeSpan.FromSeconds(1));
        var seen = await other.TryAcquireAsync(CancellationToken.None);
        Assert.False(seen.Held);
        Assert.InRange(seen.Remaining, TimeSpan.FromSeconds(1), taken.Remaining - TimeSpan.FromSeconds(1));

        await holder.ReleaseAsync(CancellationToken.None);
        Assert.Equal(TimeSpan.Zero, (await other.ReadStateAsync(CancellationToken.None)).Remaining);
    }
}
