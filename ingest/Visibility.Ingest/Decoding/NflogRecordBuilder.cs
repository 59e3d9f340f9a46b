using System.Runtime.CompilerServices;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// Builds one <see cref="FlowRecord"/> from the members of a ulogd2 NFLOG object as either JSON reader finds them,
/// and checks the whole when the object is complete (<see cref="Ulogd2NflogDecoder"/>).
/// </summary>
internal ref struct NflogRecordBuilder : IFlatJsonMembers
{
    private readonly ref FlowRecord record;
    private long timeSec = -1;
    private long timeUsec;
    private bool haveSrc;
    private bool haveDst;
    private bool haveProtocol;
    private int icmpType = -1;
    private int icmpCode;
    private ReadOnlySpan<byte> timestamp;
    private ReadOnlySpan<byte> prefix;

    /// <summary>Starts a record in <paramref name="target"/>, blanking what it held.</summary>
    public NflogRecordBuilder(ref FlowRecord target)
    {
        record = ref target;
        record = FlowRecord.Blank;
    }

    private enum Field
    {
        Other,
        Src,
        Dst,
        Protocol,
        SrcPort,
        DstPort,
        Length,
        TimeSec,
        TimeUsec,
        Timestamp,
        Prefix,
        IcmpType,
        IcmpCode,
    }

    public bool Member(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, FlatJsonValueKind kind, ulong integer, out string? reason)
    {
        reason = null;
        var field = Of(key);
        switch (field)
        {
            case Field.Other:
                return true;
            case Field.Src or Field.Dst:
                if (kind != FlatJsonValueKind.String || !IpAddressKey.TryParse(value, out var address))
                {
                    reason = field == Field.Src ? "src_ip is not an IP address" : "dest_ip is not an IP address";
                    return false;
                }

                (field == Field.Src ? ref record.SrcIp : ref record.DstIp) = address;
                (field == Field.Src ? ref haveSrc : ref haveDst) = true;
                return true;
            case Field.Timestamp:
                timestamp = kind == FlatJsonValueKind.String ? value : default;
                return true;
            case Field.Prefix:
                if (kind != FlatJsonValueKind.String)
                {
                    reason = "oob.prefix is not a string";
                    return false;
                }

                prefix = value;
                return true;
        }

        if (kind != FlatJsonValueKind.Integer || integer > Max(field))
        {
            reason = "a numeric field is not a number in range";
            return false;
        }

        switch (field)
        {
            case Field.Protocol: record.Protocol = (byte)integer; haveProtocol = true; break;
            case Field.SrcPort: record.SrcPort = (ushort)integer; break;
            case Field.DstPort: record.DstPort = (ushort)integer; break;
            case Field.Length: record.BytesOut = integer; break;
            case Field.TimeSec: timeSec = (long)integer; break;
            case Field.TimeUsec: timeUsec = (long)integer; break;
            case Field.IcmpType: icmpType = (int)integer; break;
            case Field.IcmpCode: icmpCode = (int)integer; break;
        }

        return true;
    }

    public readonly DecodeStatus Finish(NflogPrefixes prefixes, AttemptTracker attempts, out string? reason)
    {
        if (!haveSrc || !haveDst)
        {
            reason = "src_ip or dest_ip is missing";
            return DecodeStatus.Invalid;
        }

        if (!haveProtocol)
        {
            reason = "ip.protocol is missing";
            return DecodeStatus.Invalid;
        }

        long timeMs;
        if (timeSec >= 0)
        {
            timeMs = (timeSec * 1000) + (timeUsec / 1000);
        }
        else if (Ulogd2RecordBuilder.TryParseWallClock(timestamp, out var seconds))
        {
            // ulogd2 writes its local wall clock without a zone; hosts shipping flows are expected to run in UTC.
            timeMs = seconds * 1000;
        }
        else
        {
            reason = "neither oob.time.sec nor timestamp is present";
            return DecodeStatus.Invalid;
        }

        if (Protocols.IsIcmp(record.Protocol))
        {
            record.SrcPort = 0;
            record.DstPort = icmpType >= 0 ? Protocols.IcmpPort((byte)icmpType, (byte)icmpCode) : (ushort)0;
        }

        record.Verdict = prefixes.Read(prefix, out record.Policies, out record.VerdictReason);
        record.IsAttempt = record.Verdict == FlowVerdict.Blocked;
        record.PacketsOut = 1;
        record.CountersAreDeltas = true;
        record.ConnectionId = attempts.Place(record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort, timeMs, out record.StartMs, out var first);
        record.Event = first ? FlowEvent.New : FlowEvent.Update;
        reason = null;
        return DecodeStatus.Ok;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Max(Field field) => field switch
    {
        Field.SrcPort or Field.DstPort => ushort.MaxValue,
        Field.Protocol or Field.IcmpType or Field.IcmpCode => byte.MaxValue,
        Field.TimeSec => uint.MaxValue,
        Field.TimeUsec => 999_999UL,
        _ => ulong.MaxValue,
    };

    // The names ulogd2's BASE and IP2STR plugins write for a logged packet, by length.
    private static Field Of(ReadOnlySpan<byte> name) => name.Length switch
    {
        6 => name.SequenceEqual("src_ip"u8) ? Field.Src : Field.Other,
        7 => name.SequenceEqual("dest_ip"u8) ? Field.Dst : Field.Other,
        8 => name.SequenceEqual("src_port"u8) ? Field.SrcPort : Field.Other,
        9 => name.SequenceEqual("dest_port"u8) ? Field.DstPort
            : name.SequenceEqual("timestamp"u8) ? Field.Timestamp
            : name.SequenceEqual("icmp.type"u8) ? Field.IcmpType
            : name.SequenceEqual("icmp.code"u8) ? Field.IcmpCode
            : name.SequenceEqual("tcp.sport"u8) || name.SequenceEqual("udp.sport"u8) ? Field.SrcPort
            : name.SequenceEqual("tcp.dport"u8) || name.SequenceEqual("udp.dport"u8) ? Field.DstPort : Field.Other,
        10 => name.SequenceEqual("oob.prefix"u8) ? Field.Prefix
            : name.SequenceEqual("raw.pktlen"u8) ? Field.Length
            : name.SequenceEqual("sctp.sport"u8) ? Field.SrcPort
            : name.SequenceEqual("sctp.dport"u8) ? Field.DstPort : Field.Other,
        11 => name.SequenceEqual("ip.protocol"u8) ? Field.Protocol
            : name.SequenceEqual("ip6.nexthdr"u8) ? Field.Protocol
            : name.SequenceEqual("icmpv6.type"u8) ? Field.IcmpType
            : name.SequenceEqual("icmpv6.code"u8) ? Field.IcmpCode : Field.Other,
        12 => name.SequenceEqual("oob.time.sec"u8) ? Field.TimeSec
            : name.SequenceEqual("ip.saddr.str"u8) ? Field.Src
            : name.SequenceEqual("ip.daddr.str"u8) ? Field.Dst : Field.Other,
        13 => name.SequenceEqual("oob.time.usec"u8) ? Field.TimeUsec : Field.Other,
        _ => Field.Other,
    };
}
