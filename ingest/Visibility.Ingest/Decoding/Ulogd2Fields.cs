using System.Runtime.CompilerServices;

namespace Visibility.Ingest.Decoding;

/// <summary>The ulogd2 NFCT keys the record is built from; every other key is <see cref="Other"/>.</summary>
internal enum Ulogd2Field
{
    Other,
    Src,
    Dst,
    SrcPort,
    DstPort,
    Protocol,
    BytesOut,
    PacketsOut,
    BytesIn,
    PacketsIn,
    ConntrackId,
    Event,
    StartSec,
    StartUsec,
    EndSec,
    EndUsec,
    Timestamp,
    ReplySrc,
    ReplyDst,
    ReplySrcPort,
    ReplyDstPort,
    IcmpType,
    IcmpCode,
}

/// <summary>
/// The field table of <see cref="Ulogd2JsonDecoder"/>: which key is which field, and what a bad value is called.
/// Both of its readers (the flat scanner and the general one) look names up here.
/// </summary>
internal static class Ulogd2Fields
{
    // The names ulogd2 writes for the NFCT stack, by length; comparisons with constants the JIT unrolls.
    public static Ulogd2Field Of(ReadOnlySpan<byte> name) => name.Length switch
    {
        5 => name.SequenceEqual("ct.id"u8) ? Ulogd2Field.ConntrackId : Ulogd2Field.Other,
        6 => name.SequenceEqual("src_ip"u8) ? Ulogd2Field.Src : Ulogd2Field.Other,
        7 => name.SequenceEqual("dest_ip"u8) ? Ulogd2Field.Dst : Ulogd2Field.Other,
        8 => name.SequenceEqual("ct.event"u8) ? Ulogd2Field.Event : Ulogd2Field.Other,
        9 => name.SequenceEqual("timestamp"u8) ? Ulogd2Field.Timestamp
            : name.SequenceEqual("icmp.type"u8) ? Ulogd2Field.IcmpType
            : name.SequenceEqual("icmp.code"u8) ? Ulogd2Field.IcmpCode : Ulogd2Field.Other,
        11 => name.SequenceEqual("icmpv6.type"u8) ? Ulogd2Field.IcmpType
            : name.SequenceEqual("icmpv6.code"u8) ? Ulogd2Field.IcmpCode : Ulogd2Field.Other,
        12 => name.SequenceEqual("flow.end.sec"u8) ? Ulogd2Field.EndSec : Ulogd2Field.Other,
        13 => name.SequenceEqual("orig.l4.sport"u8) ? Ulogd2Field.SrcPort
            : name.SequenceEqual("orig.l4.dport"u8) ? Ulogd2Field.DstPort
            : name.SequenceEqual("flow.end.usec"u8) ? Ulogd2Field.EndUsec : Ulogd2Field.Other,
        14 => name.SequenceEqual("flow.start.sec"u8) ? Ulogd2Field.StartSec
            : name.SequenceEqual("reply.l4.sport"u8) ? Ulogd2Field.ReplySrcPort
            : name.SequenceEqual("reply.l4.dport"u8) ? Ulogd2Field.ReplyDstPort : Ulogd2Field.Other,
        15 => name.SequenceEqual("orig.raw.pktlen"u8) ? Ulogd2Field.BytesOut
            : name.SequenceEqual("flow.start.usec"u8) ? Ulogd2Field.StartUsec : Ulogd2Field.Other,
        16 => name.SequenceEqual("orig.ip.protocol"u8) ? Ulogd2Field.Protocol
            : name.SequenceEqual("reply.raw.pktlen"u8) ? Ulogd2Field.BytesIn : Ulogd2Field.Other,
        17 => name.SequenceEqual("orig.raw.pktcount"u8) ? Ulogd2Field.PacketsOut
            : name.SequenceEqual("orig.ip.saddr.str"u8) ? Ulogd2Field.Src
            : name.SequenceEqual("orig.ip.daddr.str"u8) ? Ulogd2Field.Dst : Ulogd2Field.Other,
        18 => name.SequenceEqual("reply.raw.pktcount"u8) ? Ulogd2Field.PacketsIn
            : name.SequenceEqual("reply.ip.saddr.str"u8) ? Ulogd2Field.ReplySrc
            : name.SequenceEqual("reply.ip.daddr.str"u8) ? Ulogd2Field.ReplyDst : Ulogd2Field.Other,
        _ => Ulogd2Field.Other,
    };

    /// <summary>The largest value a numeric field takes; larger ones are rejected.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Max(Ulogd2Field field) => field switch
    {
        Ulogd2Field.SrcPort or Ulogd2Field.DstPort or Ulogd2Field.ReplySrcPort or Ulogd2Field.ReplyDstPort => ushort.MaxValue,
        Ulogd2Field.Protocol or Ulogd2Field.IcmpType or Ulogd2Field.IcmpCode => byte.MaxValue,
        Ulogd2Field.Event => 7UL,
        Ulogd2Field.ConntrackId or Ulogd2Field.StartSec or Ulogd2Field.EndSec => uint.MaxValue,
        Ulogd2Field.StartUsec or Ulogd2Field.EndUsec => 999_999UL,
        _ => ulong.MaxValue,
    };

    public static string TypeReason(Ulogd2Field field) => field switch
    {
        Ulogd2Field.Src => "src_ip is not an IP address",
        Ulogd2Field.Dst => "dest_ip is not an IP address",
        Ulogd2Field.ReplySrc => "reply.ip.saddr.str is not an IP address",
        Ulogd2Field.ReplyDst => "reply.ip.daddr.str is not an IP address",
        Ulogd2Field.Timestamp => "timestamp is not a string",
        _ => "a numeric field is not a number in range",
    };
}
