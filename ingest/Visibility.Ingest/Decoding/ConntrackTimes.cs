using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// How the conntrack text and XML decoders place a record in time, from what conntrack printed (-1: not printed):
/// the kernel's start when there is one (ktimestamp, DESTROY and table entries only), else the event's time less
/// the connection's age (<c>delta-time</c>), else the event's time; 0 when nothing says (plain table listings).
/// A DESTROY ends at the kernel's stop time, else at the event's time.
/// </summary>
internal static class ConntrackTimes
{
    public static long Start(long kernelStartMs, long eventMs, long deltaSeconds) =>
        kernelStartMs >= 0 ? kernelStartMs
        : eventMs < 0 ? 0
        : deltaSeconds > 0 ? Math.Max(0, eventMs - (deltaSeconds * 1000))
        : eventMs;

    public static long End(FlowEvent evt, long kernelStopMs, long eventMs) =>
        evt != FlowEvent.Destroy ? 0
        : kernelStopMs >= 0 ? kernelStopMs
        : Math.Max(eventMs, 0);
}
