using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// conntrack-tools' text output, one line per message: events from <c>conntrack -E</c> (best with
/// <c>-o timestamp,extended,id</c>) and table entries from <c>conntrack -L</c>. A line is
/// <c>[sec.usec]</c> (timestamp option), <c>[NEW]</c>/<c>[UPDATE]</c>/<c>[DESTROY]</c> (events only),
/// <c>ipv4 2</c> (extended option), the protocol name and number, the timeout, a TCP state, the original tuple
/// (<c>src= dst= sport= dport=</c>, or <c>type= code= id=</c> for ICMP) with <c>packets= bytes=</c> when
/// accounting is on, flags such as <c>[UNREPLIED]</c>, the reply tuple, then <c>[ASSURED]</c>, <c>mark=</c>,
/// <c>zone=</c>, <c>delta-time=</c>, <c>[start=…] [stop=…]</c> (ktimestamp option), <c>use=</c>, <c>id=</c> and
/// <c>[USERSPACE] portid= progname=</c> when a program caused the event.
/// <para>
/// Times: a NEW line's own time is all that is known of its start, and the kernel's start time is printed only
/// with <c>ktimestamp</c>, on DESTROY lines and table entries, so the records of one connection cannot agree on a
/// start second. The <see cref="FlowRecord.ConnectionId"/> is therefore built from the conntrack id and the
/// original tuple with start second 0: the id tells apart connections that reuse a tuple, and the tuple tells
/// apart connections that reuse an id. Start and end follow <see cref="ConntrackTimes"/>; table lines without
/// <c>ktimestamp</c> carry no time at all and keep 0. Table lines are read as <see cref="FlowEvent.Update"/>: a
/// snapshot of a connection still open.
/// </para>
/// </summary>
public sealed class ConntrackTextDecoder : IFlowDecoder
{
    public const string FormatName = "conntrack-text";

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        record = FlowRecord.Blank;

        var line = TextParsing.Trim(message);
        if (line.IsEmpty)
        {
            reason = "blank line";
            return DecodeStatus.Skipped;
        }

        if (line.StartsWith("conntrack v"u8))
        {
            // conntrack's closing line ("N flow events have been shown.") or "table has been emptied".
            reason = "conntrack summary line";
            return DecodeStatus.Skipped;
        }

        var position = 0;
        var token = TextParsing.NextToken(line, ref position);
        long eventMs = -1;
        if (token.Length > 1 && token[0] == '[' && token[1] is >= (byte)'0' and <= (byte)'9')
        {
            if (!TryParseEventTime(token, out eventMs))
            {
                reason = "malformed event timestamp";
                return DecodeStatus.Invalid;
            }

            token = TextParsing.NextToken(line, ref position);
        }

        var evt = FlowEvent.None;
        if (token.SequenceEqual("[NEW]"u8))
        {
            evt = FlowEvent.New;
        }
        else if (token.SequenceEqual("[UPDATE]"u8))
        {
            evt = FlowEvent.Update;
        }
        else if (token.SequenceEqual("[DESTROY]"u8))
        {
            evt = FlowEvent.Destroy;
        }

        if (evt != FlowEvent.None)
        {
            token = TextParsing.NextToken(line, ref position);
        }
        else if (!token.IsEmpty && token[0] == '[')
        {
            reason = "unknown event type";
            return DecodeStatus.Invalid;
        }

        if (token.SequenceEqual("ipv4"u8) || token.SequenceEqual("ipv6"u8))
        {
            // The extended option's layer 3 name and number; the addresses say the same.
            var l3 = TextParsing.NextToken(line, ref position);
            if (!TextParsing.TryParseUInt64(l3, 255, out _))
            {
                reason = "layer 3 protocol number missing";
                return DecodeStatus.Invalid;
            }

            token = TextParsing.NextToken(line, ref position);
        }

        if (token.IsEmpty || !char.IsAsciiLetterLower((char)token[0]))
        {
            reason = "protocol name missing";
            return DecodeStatus.Invalid;
        }

        if (!TextParsing.TryParseUInt64(TextParsing.NextToken(line, ref position), 255, out var protocolNumber))
        {
            reason = "protocol number missing";
            return DecodeStatus.Invalid;
        }

        var protocol = (byte)protocolNumber;
        var orig = default(Tuple);
        var reply = default(Tuple);
        var tupleCount = 0;
        ulong ctId = 0;
        long kernelStartMs = -1, kernelStopMs = -1, deltaSeconds = -1;
        var previousWasCode = false;

        while (true)
        {
            token = TextParsing.NextToken(line, ref position);
            if (token.IsEmpty)
            {
                break;
            }

            if (token[0] == '[')
            {
                if (token.StartsWith("[start="u8) || token.StartsWith("[stop="u8))
                {
                    var isStart = token[2] == 't' && token[3] == 'a';
                    if (!TryParseBracketDate(line, token, ref position, out var ms))
                    {
                        reason = "malformed start or stop time";
                        return DecodeStatus.Invalid;
                    }

                    if (isStart)
                    {
                        kernelStartMs = ms;
                    }
                    else
                    {
                        kernelStopMs = ms;
                    }
                }
                else if (token[^1] != ']')
                {
                    reason = "unterminated flag";
                    return DecodeStatus.Invalid;
                }

                // Flags ([UNREPLIED], [ASSURED], [OFFLOAD], [USERSPACE]) say nothing the record keeps.
                previousWasCode = false;
                continue;
            }

            var equals = token.IndexOf((byte)'=');
            if (equals <= 0)
            {
                // The timeout and the protocol state (SYN_SENT, ESTABLISHED, …).
                previousWasCode = false;
                continue;
            }

            var key = token[..equals];
            var value = token[(equals + 1)..];
            var isCode = false;
            switch (key.Length)
            {
                case 3 when key.SequenceEqual("src"u8):
                    if (++tupleCount > 2)
                    {
                        reason = "more than two tuples";
                        return DecodeStatus.Invalid;
                    }

                    if (!Current(ref orig, ref reply, tupleCount).SetAddress(value, true))
                    {
                        reason = "src is not an IP address";
                        return DecodeStatus.Invalid;
                    }

                    break;
                case 3 when key.SequenceEqual("dst"u8):
                    if (tupleCount == 0 || !Current(ref orig, ref reply, tupleCount).SetAddress(value, false))
                    {
                        reason = "dst is not an IP address";
                        return DecodeStatus.Invalid;
                    }

                    break;
                case 5 when key.SequenceEqual("sport"u8):
                case 5 when key.SequenceEqual("dport"u8):
                case 4 when key.SequenceEqual("type"u8):
                case 4 when key.SequenceEqual("code"u8):
                    if (tupleCount == 0 || !Current(ref orig, ref reply, tupleCount).SetPortField(key, value))
                    {
                        reason = "a port, type or code is not a number in range";
                        return DecodeStatus.Invalid;
                    }

                    isCode = key[0] == 'c';
                    break;
                case 7 when key.SequenceEqual("packets"u8):
                case 5 when key.SequenceEqual("bytes"u8):
                    if (tupleCount == 0 || !TextParsing.TryParseUInt64(value, ulong.MaxValue, out var count))
                    {
                        reason = "a counter is not a number";
                        return DecodeStatus.Invalid;
                    }

                    ref var tuple = ref Current(ref orig, ref reply, tupleCount);
                    if (key[0] == 'p')
                    {
                        tuple.Packets = count;
                    }
                    else
                    {
                        tuple.Bytes = count;
                    }

                    break;
                case 2 when key.SequenceEqual("id"u8):
                    // ICMP tuples end with the echo id right after code=; any other id= is the conntrack id.
                    if (!previousWasCode)
                    {
                        if (!TextParsing.TryParseUInt64(value, uint.MaxValue, out ctId))
                        {
                            reason = "id is not a number in range";
                            return DecodeStatus.Invalid;
                        }
                    }

                    break;
                case 10 when key.SequenceEqual("delta-time"u8):
                    if (!TextParsing.TryParseInt64(value, out deltaSeconds))
                    {
                        reason = "delta-time is not a number";
                        return DecodeStatus.Invalid;
                    }

                    break;
                default:
                    // mark=, zone=, use=, secctx=, labels=, portid=, progname=, GRE keys: not part of the record.
                    break;
            }

            previousWasCode = isCode;
        }

        if (!orig.IsComplete(protocol))
        {
            reason = "original tuple is incomplete";
            return DecodeStatus.Invalid;
        }

        // conntrack always prints both tuples; requiring the reply catches most truncated lines.
        if (!reply.IsComplete(protocol))
        {
            reason = "reply tuple is missing or incomplete";
            return DecodeStatus.Invalid;
        }

        record.Event = evt == FlowEvent.None ? FlowEvent.Update : evt;
        record.Protocol = protocol;
        record.SrcIp = orig.Src;
        record.DstIp = orig.Dst;
        if (Protocols.IsIcmp(protocol))
        {
            record.DstPort = Protocols.IcmpPort(orig.Type, orig.Code);
            record.NatSrcPort = record.SrcPort;
            record.NatDstPort = record.DstPort;
        }
        else
        {
            record.SrcPort = orig.SrcPort;
            record.DstPort = orig.DstPort;
            record.NatSrcPort = reply.DstPort;
            record.NatDstPort = reply.SrcPort;
        }

        record.NatSrcIp = reply.Dst;
        record.NatDstIp = reply.Src;
        record.BytesOut = orig.Bytes;
        record.PacketsOut = orig.Packets;
        record.BytesIn = reply.Bytes;
        record.PacketsIn = reply.Packets;

        record.StartMs = ConntrackTimes.Start(kernelStartMs, eventMs, deltaSeconds);
        record.EndMs = ConntrackTimes.End(record.Event, kernelStopMs, eventMs);

        record.ConnectionId = ConnectionKey.Compute(ctId, 0, protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
        reason = null;
        return DecodeStatus.Ok;
    }

    private static ref Tuple Current(ref Tuple orig, ref Tuple reply, int tupleCount) =>
        ref tupleCount == 1 ? ref orig : ref reply;

    /// <summary><c>[1795724387.311645]</c>: seconds and microseconds, as the timestamp option prints them.</summary>
    private static bool TryParseEventTime(ReadOnlySpan<byte> token, out long unixMs)
    {
        unixMs = 0;
        if (token[^1] != ']')
        {
            return false;
        }

        var inner = token[1..^1];
        var dot = inner.IndexOf((byte)'.');
        var secondsText = dot < 0 ? inner : inner[..dot];
        if (!TextParsing.TryParseUInt64(secondsText, uint.MaxValue, out var seconds))
        {
            return false;
        }

        long fractionMs = 0;
        if (dot >= 0)
        {
            var fraction = inner[(dot + 1)..];
            if (!TextParsing.TryDigits(fraction, out _))
            {
                return false;
            }

            for (var i = 0; i < 3; i++)
            {
                fractionMs = (fractionMs * 10) + (i < fraction.Length ? fraction[i] - '0' : 0);
            }
        }

        unixMs = ((long)seconds * 1000) + fractionMs;
        return true;
    }

    /// <summary>
    /// <c>[start=Thu Nov 26 21:34:35 2026]</c>, spread over five tokens (C's <c>%c</c> in the host's zone,
    /// read as UTC like every wall-clock time the decoders see).
    /// </summary>
    private static bool TryParseBracketDate(ReadOnlySpan<byte> line, ReadOnlySpan<byte> first, ref int position, out long unixMs)
    {
        unixMs = 0;
        var month = TextParsing.NextToken(line, ref position);
        var day = TextParsing.NextToken(line, ref position);
        var time = TextParsing.NextToken(line, ref position);
        var year = TextParsing.NextToken(line, ref position);
        if (first.Length < 8 || first[^1] == ']' || year.Length < 2 || year[^1] != ']' || time.Length != 8 || time[2] != ':' || time[5] != ':')
        {
            return false;
        }

        return TextParsing.TryDigits(day, out var d) && TextParsing.TryDigits(year[..^1], out var y)
            && TextParsing.TryDigits(time[..2], out var h) && TextParsing.TryDigits(time.Slice(3, 2), out var m)
            && TextParsing.TryDigits(time.Slice(6, 2), out var s)
            && TextParsing.TryUnixMilliseconds(y, TextParsing.MonthNumber(month), d, h, m, s, 0, out unixMs);
    }

    /// <summary>One direction's tuple and counters.</summary>
    private struct Tuple
    {
        public UInt128 Src;
        public UInt128 Dst;
        public ushort SrcPort;
        public ushort DstPort;
        public byte Type;
        public byte Code;
        public ulong Packets;
        public ulong Bytes;
        private Seen seen;

        [Flags]
        private enum Seen : byte
        {
            None = 0,
            Src = 1,
            Dst = 2,
            SrcPort = 4,
            DstPort = 8,
            Type = 16,
            Code = 32,
        }

        public bool SetAddress(ReadOnlySpan<byte> text, bool source)
        {
            if (!IpAddressKey.TryParse(text, out var address))
            {
                return false;
            }

            if (source)
            {
                Src = address;
                seen |= Seen.Src;
            }
            else
            {
                Dst = address;
                seen |= Seen.Dst;
            }

            return true;
        }

        public bool SetPortField(ReadOnlySpan<byte> key, ReadOnlySpan<byte> text)
        {
            switch (key[0])
            {
                case (byte)'s':
                case (byte)'d':
                    if (!TextParsing.TryParseUInt64(text, ushort.MaxValue, out var port))
                    {
                        return false;
                    }

                    if (key[0] == 's')
                    {
                        SrcPort = (ushort)port;
                        seen |= Seen.SrcPort;
                    }
                    else
                    {
                        DstPort = (ushort)port;
                        seen |= Seen.DstPort;
                    }

                    return true;
                default:
                    if (!TextParsing.TryParseUInt64(text, byte.MaxValue, out var value))
                    {
                        return false;
                    }

                    if (key[0] == 't')
                    {
                        Type = (byte)value;
                        seen |= Seen.Type;
                    }
                    else
                    {
                        Code = (byte)value;
                        seen |= Seen.Code;
                    }

                    return true;
            }
        }

        public readonly bool IsComplete(byte protocol)
        {
            var required = Seen.Src | Seen.Dst;
            if (Protocols.HasPorts(protocol))
            {
                required |= Seen.SrcPort | Seen.DstPort;
            }
            else if (Protocols.IsIcmp(protocol))
            {
                required |= Seen.Type | Seen.Code;
            }

            return (seen & required) == required;
        }
    }
}
