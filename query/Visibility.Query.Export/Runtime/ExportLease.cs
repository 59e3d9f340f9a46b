using Visibility.Flows.Store;
using Visibility.Query.Export.Streams;

namespace Visibility.Query.Export.Runtime;

/// <summary>
/// The store's export lease as this process sees it (<see cref="StoreLease"/> named <see cref="Name"/>): one process
/// among those sharing a store streams to the sinks. <see cref="RenewAsync"/> takes or keeps it and sets a deadline on
/// this process's monotonic clock from the time the store says the term has left, measured from before the call (so
/// the deadline is never later than the store's, whatever the two clocks say). Records may be sent until
/// <see cref="Margin"/> before that deadline and checkpoints written until it: another process can take the lease only
/// once it has run out by the store's clock, and acts <see cref="StoreLease.Settle"/> after that.
/// </summary>
public sealed class ExportLease : IExportFence
{
    /// <summary>The lease's name in the store's <c>leases</c> table.</summary>
    public const string Name = "export";

    private readonly StoreLease lease;
    private readonly TimeProvider clock;
    private long deadline;
    private string? holder;

    public ExportLease(StoreLease lease, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(lease);
        this.lease = lease;
        this.clock = clock ?? TimeProvider.System;
    }

    /// <summary>This process's name in the lease.</summary>
    public string Holder => lease.Holder;

    public TimeSpan Duration => lease.Duration;

    /// <summary>How often the holder renews (and the others try): a quarter of the duration. The store claims the next term halfway through.</summary>
    public TimeSpan RenewEvery => lease.Duration / 4;

    /// <summary>How long before the deadline sending stops: an eighth of the duration (a renewal lands well before).</summary>
    public TimeSpan Margin => lease.Duration / 8;

    /// <summary>Who held the lease at the last renewal (this process or another; null: nobody, or not read yet).</summary>
    public string? LastHolder => Volatile.Read(ref holder);

    /// <summary>How long this process still holds the lease by its own clock (zero when it does not).</summary>
    public TimeSpan Left
    {
        get
        {
            var until = Interlocked.Read(ref deadline);
            if (until == 0)
            {
                return TimeSpan.Zero;
            }

            var left = clock.GetElapsedTime(clock.GetTimestamp(), until);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    public bool Held => Left > TimeSpan.Zero;

    public bool MaySend => Left > Margin;

    public bool MayRecord => Held;

    /// <summary>Takes the lease if free, keeps it if held (claiming the next term when due), and sets the deadline.</summary>
    public async Task<LeaseState> RenewAsync(CancellationToken cancellationToken)
    {
        var before = clock.GetTimestamp();
        var state = await lease.TryAcquireAsync(cancellationToken);
        var until = state.Held && state.Remaining > TimeSpan.Zero
            ? before + (long)(state.Remaining.TotalSeconds * clock.TimestampFrequency)
            : 0;
        Interlocked.Exchange(ref deadline, until);
        Volatile.Write(ref holder, state.Holder);
        return state;
    }

    /// <summary>Gives the lease up (after the streams stopped and checkpointed), so another process takes over without waiting for it to run out.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref deadline, 0) != 0)
        {
            await lease.ReleaseAsync(cancellationToken);
            Volatile.Write(ref holder, null);
        }
    }
}
