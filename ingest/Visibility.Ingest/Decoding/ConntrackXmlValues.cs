using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>The conntrack XML elements a record is read from; every other element is <see cref="Other"/>.</summary>
internal enum ConntrackXmlElement : byte
{
    Other,
    Meta,
    Layer3,
    Layer4,
    Counters,
    Src,
    Dst,
    Sport,
    Dport,
    Packets,
    Bytes,
    Id,
    Timestamp,
    Start,
    Stop,
    DeltaTime,
    When,
    Hour,
    Minute,
    Second,
    Day,
    Month,
    Year,
}

/// <summary>Which <c>&lt;meta direction=…&gt;</c> a node is inside.</summary>
internal enum ConntrackXmlSection : byte
{
    None,
    Original,
    Reply,
    Independent,
}

/// <summary>
/// What a conntrack <c>&lt;flow&gt;</c> element said, filled as its text nodes arrive, and the record it makes
/// once the element is complete.
/// </summary>
internal struct ConntrackXmlValues
{
    private Seen seen;
    private byte protocol;
    private UInt128 origSrc, origDst, replySrc, replyDst;
    private ushort origSport, origDport, replySport, replyDport;
    private ulong origPackets, origBytes, replyPackets, replyBytes;
    private ulong conntrackId;
    private ulong kernelStartNs, kernelStopNs;
    private long deltaSeconds;
    private int year, month, day, hour, minute, second;

    /// <summary>Which element a tag name is.</summary>
    public static ConntrackXmlElement Classify(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 when name.SequenceEqual("id"u8) => ConntrackXmlElement.Id,
        3 when name.SequenceEqual("src"u8) => ConntrackXmlElement.Src,
        3 when name.SequenceEqual("dst"u8) => ConntrackXmlElement.Dst,
        3 when name.SequenceEqual("min"u8) => ConntrackXmlElement.Minute,
        3 when name.SequenceEqual("sec"u8) => ConntrackXmlElement.Second,
        3 when name.SequenceEqual("day"u8) => ConntrackXmlElement.Day,
        4 when name.SequenceEqual("meta"u8) => ConntrackXmlElement.Meta,
        4 when name.SequenceEqual("when"u8) => ConntrackXmlElement.When,
        4 when name.SequenceEqual("hour"u8) => ConntrackXmlElement.Hour,
        4 when name.SequenceEqual("year"u8) => ConntrackXmlElement.Year,
        4 when name.SequenceEqual("stop"u8) => ConntrackXmlElement.Stop,
        5 when name.SequenceEqual("sport"u8) => ConntrackXmlElement.Sport,
        5 when name.SequenceEqual("dport"u8) => ConntrackXmlElement.Dport,
        5 when name.SequenceEqual("bytes"u8) => ConntrackXmlElement.Bytes,
        5 when name.SequenceEqual("month"u8) => ConntrackXmlElement.Month,
        5 when name.SequenceEqual("start"u8) => ConntrackXmlElement.Start,
        6 when name.SequenceEqual("layer3"u8) => ConntrackXmlElement.Layer3,
        6 when name.SequenceEqual("layer4"u8) => ConntrackXmlElement.Layer4,
        7 when name.SequenceEqual("packets"u8) => ConntrackXmlElement.Packets,
        8 when name.SequenceEqual("counters"u8) => ConntrackXmlElement.Counters,
        9 when name.SequenceEqual("timestamp"u8) => ConntrackXmlElement.Timestamp,
        9 when name.SequenceEqual("deltatime"u8) => ConntrackXmlElement.DeltaTime,
        _ => ConntrackXmlElement.Other,
    };

    /// <summary>The original tuple's <c>layer4 protonum</c>.</summary>
    public void SetProtocol(byte number)
    {
        protocol = number;
        seen |= Seen.Protocol;
    }

    /// <summary>Stores one element's text; returns the reason when it is not valid, null otherwise.</summary>
    public string? Set(ConntrackXmlSection section, ConntrackXmlElement parent, ConntrackXmlElement element, ReadOnlySpan<byte> text)
    {
        var original = section == ConntrackXmlSection.Original;
        switch (element)
        {
            case ConntrackXmlElement.Src or ConntrackXmlElement.Dst when parent == ConntrackXmlElement.Layer3 && section is ConntrackXmlSection.Original or ConntrackXmlSection.Reply:
                if (!IpAddressKey.TryParse(text, out var address))
                {
                    return element == ConntrackXmlElement.Src ? "src is not an IP address" : "dst is not an IP address";
                }

                if (element == ConntrackXmlElement.Src)
                {
                    (original ? ref origSrc : ref replySrc) = address;
                    seen |= original ? Seen.OrigSrc : Seen.ReplySrc;
                }
                else
                {
                    (original ? ref origDst : ref replyDst) = address;
                    seen |= original ? Seen.OrigDst : Seen.ReplyDst;
                }

                return null;
            case ConntrackXmlElement.Sport or ConntrackXmlElement.Dport when parent == ConntrackXmlElement.Layer4 && section is ConntrackXmlSection.Original or ConntrackXmlSection.Reply:
                if (!TextParsing.TryParseUInt64(text, ushort.MaxValue, out var port))
                {
                    return "a port is not a number in range";
                }

                if (element == ConntrackXmlElement.Sport)
                {
                    (original ? ref origSport : ref replySport) = (ushort)port;
                    seen |= original ? Seen.OrigSport : Seen.ReplySport;
                }
                else
                {
                    (original ? ref origDport : ref replyDport) = (ushort)port;
                    seen |= original ? Seen.OrigDport : Seen.ReplyDport;
                }

                return null;
            case ConntrackXmlElement.Packets or ConntrackXmlElement.Bytes when parent == ConntrackXmlElement.Counters && section is ConntrackXmlSection.Original or ConntrackXmlSection.Reply:
                if (!TextParsing.TryParseUInt64(text, ulong.MaxValue, out var count))
                {
                    return "a counter is not a number";
                }

                if (element == ConntrackXmlElement.Packets)
                {
                    (original ? ref origPackets : ref replyPackets) = count;
                }
                else
                {
                    (original ? ref origBytes : ref replyBytes) = count;
                }

                return null;
            case ConntrackXmlElement.Id when section == ConntrackXmlSection.Independent && parent == ConntrackXmlElement.Meta:
                return TextParsing.TryParseUInt64(text, uint.MaxValue, out conntrackId) ? null : "id is not a number in range";
            case ConntrackXmlElement.DeltaTime when section == ConntrackXmlSection.Independent && parent == ConntrackXmlElement.Meta:
                return TextParsing.TryParseInt64(text, out deltaSeconds) ? null : "deltatime is not a number";
            case ConntrackXmlElement.Start or ConntrackXmlElement.Stop when parent == ConntrackXmlElement.Timestamp:
                if (!TextParsing.TryParseUInt64(text, long.MaxValue, out var ns))
                {
                    return "a timestamp is not a number";
                }

                (element == ConntrackXmlElement.Start ? ref kernelStartNs : ref kernelStopNs) = ns;
                return null;
            case ConntrackXmlElement.Hour or ConntrackXmlElement.Minute or ConntrackXmlElement.Second or ConntrackXmlElement.Day or ConntrackXmlElement.Month or ConntrackXmlElement.Year when parent == ConntrackXmlElement.When:
                if (!TextParsing.TryDigits(text, out var part))
                {
                    return "when element is incomplete or out of range";
                }

                switch (element)
                {
                    case ConntrackXmlElement.Hour: hour = part; break;
                    case ConntrackXmlElement.Minute: minute = part; break;
                    case ConntrackXmlElement.Second: second = part; break;
                    case ConntrackXmlElement.Day: day = part; break;
                    case ConntrackXmlElement.Month: month = part; break;
                    default: year = part; break;
                }

                seen |= Seen.When;
                return null;
            default:
                // state, timeout, mark, zone, use, secmark, labels: not part of the record.
                return null;
        }
    }

    /// <summary>Checks that both tuples are complete and writes the record; the reason when they are not.</summary>
    public readonly DecodeStatus Fill(FlowEvent evt, ref FlowRecord record, out string? reason)
    {
        var required = Seen.OrigSrc | Seen.OrigDst | Seen.Protocol;
        if ((seen & required) != required)
        {
            reason = "original tuple is incomplete";
            return DecodeStatus.Invalid;
        }

        var hasPorts = Protocols.HasPorts(protocol);
        if (hasPorts && (seen & (Seen.OrigSport | Seen.OrigDport)) != (Seen.OrigSport | Seen.OrigDport))
        {
            reason = "original tuple is incomplete";
            return DecodeStatus.Invalid;
        }

        var replyRequired = Seen.ReplySrc | Seen.ReplyDst | (hasPorts ? Seen.ReplySport | Seen.ReplyDport : 0);
        if ((seen & replyRequired) != replyRequired)
        {
            reason = "reply tuple is missing or incomplete";
            return DecodeStatus.Invalid;
        }

        long whenMs = -1;
        if ((seen & Seen.When) != 0
            && !TextParsing.TryUnixMilliseconds(year, month, day, hour, minute, second, 0, out whenMs))
        {
            reason = "when element is incomplete or out of range";
            return DecodeStatus.Invalid;
        }

        record.Event = evt;
        record.Protocol = protocol;
        record.SrcIp = origSrc;
        record.DstIp = origDst;
        if (hasPorts)
        {
            record.SrcPort = origSport;
            record.DstPort = origDport;
            record.NatSrcPort = replyDport;
            record.NatDstPort = replySport;
        }

        record.NatSrcIp = replyDst;
        record.NatDstIp = replySrc;
        record.PacketsOut = origPackets;
        record.BytesOut = origBytes;
        record.PacketsIn = replyPackets;
        record.BytesIn = replyBytes;

        record.StartMs = ConntrackTimes.Start(kernelStartNs > 0 ? (long)(kernelStartNs / 1_000_000) : -1, whenMs, deltaSeconds);
        record.EndMs = ConntrackTimes.End(evt, kernelStopNs > 0 ? (long)(kernelStopNs / 1_000_000) : -1, whenMs);

        record.ConnectionId = ConnectionKey.Compute(conntrackId, 0, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
        reason = null;
        return DecodeStatus.Ok;
    }

    [Flags]
    private enum Seen
    {
        None = 0,
        OrigSrc = 1 << 0,
        OrigDst = 1 << 1,
        OrigSport = 1 << 2,
        OrigDport = 1 << 3,
        ReplySrc = 1 << 4,
        ReplyDst = 1 << 5,
        ReplySport = 1 << 6,
        ReplyDport = 1 << 7,
        Protocol = 1 << 8,
        When = 1 << 9,
    }
}
