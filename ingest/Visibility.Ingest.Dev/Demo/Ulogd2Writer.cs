using System.Globalization;
using System.Text;

namespace Visibility.Ingest.Demo;

/// <summary>Writes records in ulogd2's NFCT JSON shape, for the demo, tests and benchmarks.</summary>
public static class Ulogd2Writer
{
    /// <summary>One connection as conntrack reports it, with counters per direction.</summary>
    public sealed record Connection(
        uint ConntrackId, string Src, string Dst, byte Proto, ushort SrcPort, ushort DstPort,
        DateTimeOffset Start, DateTimeOffset End,
        ulong BytesOut, ulong PacketsOut, ulong BytesIn, ulong PacketsIn);

    /// <summary>The NEW event: no counters yet, no end.</summary>
    public static string New(Connection c) => Write(c, 1, withEnd: false, withCounters: false);

    /// <summary>The DESTROY event: final counters and the end time.</summary>
    public static string Destroy(Connection c) => Write(c, 4, withEnd: true, withCounters: true);

    private static string Write(Connection c, int ctEvent, bool withEnd, bool withCounters)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder(512);
        sb.Append(inv, $"{{\"timestamp\": \"{(withEnd ? c.End : c.Start).UtcDateTime:yyyy-MM-ddTHH:mm:ss}\", \"dvc\": \"Netfilter\", ");
        sb.Append(inv, $"\"orig.ip.protocol\": {c.Proto}, \"orig.l4.sport\": {c.SrcPort}, \"orig.l4.dport\": {c.DstPort}, ");
        sb.Append(inv, $"\"orig.raw.pktlen\": {(withCounters ? c.BytesOut : 0)}, \"orig.raw.pktcount\": {(withCounters ? c.PacketsOut : 0)}, ");
        sb.Append(inv, $"\"reply.ip.protocol\": {c.Proto}, \"reply.l4.sport\": {c.DstPort}, \"reply.l4.dport\": {c.SrcPort}, ");
        sb.Append(inv, $"\"reply.raw.pktlen\": {(withCounters ? c.BytesIn : 0)}, \"reply.raw.pktcount\": {(withCounters ? c.PacketsIn : 0)}, ");
        sb.Append(inv, $"\"ct.mark\": 0, \"ct.id\": {c.ConntrackId}, \"ct.event\": {ctEvent}, ");
        sb.Append(inv, $"\"flow.start.sec\": {c.Start.ToUnixTimeSeconds()}, \"flow.start.usec\": {c.Start.ToUnixTimeMilliseconds() % 1000 * 1000}, ");
        if (withEnd)
        {
            sb.Append(inv, $"\"flow.end.sec\": {c.End.ToUnixTimeSeconds()}, \"flow.end.usec\": {c.End.ToUnixTimeMilliseconds() % 1000 * 1000}, ");
        }

        sb.Append(inv, $"\"oob.family\": {(c.Src.Contains(':', StringComparison.Ordinal) ? 10 : 2)}, \"oob.protocol\": 0, ");
        sb.Append(inv, $"\"src_ip\": \"{c.Src}\", \"dest_ip\": \"{c.Dst}\", \"reply.ip.saddr.str\": \"{c.Dst}\", \"reply.ip.daddr.str\": \"{c.Src}\"}}");
        return sb.ToString();
    }
}
