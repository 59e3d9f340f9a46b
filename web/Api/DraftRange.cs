namespace Visibility.Web.Api;

/// <summary>
/// Where a draft's range ends: never later than what is already stored, so the range recorded in the draft
/// (<c>source.from</c>/<c>source.to</c>) gives the same rules when it is drafted or simulated again. A relative range
/// (<c>last=1h</c>) ends at the end of the current minute, in the future; a draft's ends at the latest instant that is
/// both past (now, to the millisecond: the store's resolution) and stored: when this process ingests, records that
/// reached Kafka before its watermark (<see cref="Visibility.Query.Export.Runtime.IIngestLink.StoredUntil"/>) are all
/// in the store. The watermark follows the stream about once a second, so the draft waits up to
/// <see cref="WatermarkWait"/> for it to reach now; when ingest lags further behind, the draft ends at the watermark.
/// The end is not rounded to a minute: the planner reads the seconds of a partly elapsed minute from raw flows, so the
/// traffic of the last seconds is in the draft (a minute boundary would leave out everything just observed).
/// </summary>
public static class DraftRange
{
    /// <summary>How long a draft waits for the ingest watermark to reach the present.</summary>
    public static readonly TimeSpan WatermarkWait = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The end of a draft asked to end at <paramref name="end"/>: at most now and, when <paramref name="storedUntil"/>
    /// is given (this process ingests) and knows its watermark, at most the watermark.
    /// </summary>
    public static async Task<DateTimeOffset> CompleteEndAsync(
        DateTimeOffset end, Func<DateTimeOffset?>? storedUntil, TimeProvider clock, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(clock);
        var complete = Millisecond(Min(end, clock.GetUtcNow()));
        if (storedUntil is null)
        {
            return complete;
        }

        var deadline = clock.GetUtcNow() + WatermarkWait;
        while (storedUntil() is { } until && until < complete && clock.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), clock, cancellationToken);
        }

        // Unknown (no partition assigned to this process yet): nothing to hold the end back with.
        return storedUntil() is { } stored && stored < complete ? Millisecond(stored) : complete;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Millisecond(DateTimeOffset t) =>
        new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
}
