using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// conntrack-tools' XML output (<c>conntrack -E -o xml[,timestamp][,ktimestamp]</c>, <c>conntrack -L -o xml</c>),
/// one <c>&lt;flow&gt;</c> element per message: a shipper splits the stream by line, so the
/// <c>&lt;?xml …?&gt;</c>, <c>&lt;conntrack&gt;</c> and <c>&lt;/conntrack&gt;</c> lines and conntrack's closing
/// summary arrive as messages of their own and are skipped. Text after <c>&lt;/flow&gt;</c> on the same line
/// (conntrack appends <c>[USERSPACE] portid=…</c> to events a program caused) is ignored.
/// <para>
/// A flow holds <c>&lt;meta direction="original|reply"&gt;</c> with <c>layer3</c> (<c>src</c>, <c>dst</c>),
/// <c>layer4</c> (<c>protonum</c>, <c>sport</c>, <c>dport</c>) and <c>counters</c> (<c>packets</c>,
/// <c>bytes</c>); <c>&lt;meta direction="independent"&gt;</c> with <c>id</c>, <c>deltatime</c> and, with
/// ktimestamp on DESTROY and table entries, <c>&lt;timestamp&gt;&lt;start&gt;</c>/<c>&lt;stop&gt;</c> in
/// nanoseconds; and, with the timestamp option, <c>&lt;when&gt;</c> (the event's wall-clock time to the second,
/// in the host's zone, read as UTC). ICMP elements carry no type or code, so ICMP records have port 0.
/// Times, events and the connection id follow <see cref="ConntrackTextDecoder"/>: the id and the original tuple
/// with start second 0, so text and XML records of one TCP or UDP connection share an id.
/// </para>
/// <para>
/// The scanner is hand-written for this one shape: no DTD, comment, CDATA or entity is accepted (none appear in
/// conntrack's output), nesting is bounded, and nothing is allocated.
/// </para>
/// </summary>
public sealed class ConntrackXmlDecoder : IFlowDecoder
{
    public const string FormatName = "conntrack-xml";

    private const int MaxDepth = 6;

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        record = FlowRecord.Blank;

        var text = TextParsing.Trim(message);
        if (text.IsEmpty)
        {
            reason = "blank line";
            return DecodeStatus.Skipped;
        }

        var scanner = new XmlScanner(text);
        while (true)
        {
            var node = scanner.Next(out var name, out var attributes);
            switch (node)
            {
                case Node.EndOfInput:
                    reason = "no flow element";
                    return DecodeStatus.Skipped;
                case Node.Declaration:
                    continue;
                case Node.StartTag or Node.EndTag when name.SequenceEqual("conntrack"u8):
                    continue;
                case Node.Text:
                    if (TextParsing.Trim(name).IsEmpty)
                    {
                        continue;
                    }

                    if (name.StartsWith("conntrack v"u8))
                    {
                        reason = "conntrack summary line";
                        return DecodeStatus.Skipped;
                    }

                    reason = "text outside a flow element";
                    return DecodeStatus.Invalid;
                case Node.StartTag when name.SequenceEqual("flow"u8):
                    return DecodeFlow(ref scanner, attributes, ref record, out reason);
                case Node.Forbidden:
                    reason = "DTDs, comments and CDATA sections are not accepted";
                    return DecodeStatus.Invalid;
                case Node.Malformed:
                    reason = "malformed XML";
                    return DecodeStatus.Invalid;
                default:
                    reason = "unexpected element outside a flow";
                    return DecodeStatus.Invalid;
            }
        }
    }

    private static DecodeStatus DecodeFlow(ref XmlScanner scanner, ReadOnlySpan<byte> flowAttributes, ref FlowRecord record, out string? reason)
    {
        var evt = FlowEvent.Update;
        if (XmlScanner.TryGetAttribute(flowAttributes, "type"u8, out var type))
        {
            if (type.SequenceEqual("new"u8))
            {
                evt = FlowEvent.New;
            }
            else if (type.SequenceEqual("destroy"u8))
            {
                evt = FlowEvent.Destroy;
            }
            else if (!type.SequenceEqual("update"u8))
            {
                reason = "unknown flow type";
                return DecodeStatus.Invalid;
            }
        }

        // Open elements: kind and where the name starts and ends, to check each end tag against its start tag.
        Span<Element> stack = stackalloc Element[MaxDepth];
        Span<int> nameStart = stackalloc int[MaxDepth];
        Span<int> nameLength = stackalloc int[MaxDepth];
        var depth = 0;
        var section = Section.None;
        var values = default(Values);

        while (true)
        {
            var node = scanner.Next(out var name, out var attributes);
            switch (node)
            {
                case Node.StartTag:
                    if (depth == MaxDepth)
                    {
                        reason = "elements nested too deep";
                        return DecodeStatus.Invalid;
                    }

                    var element = Classify(name);
                    if (depth == 0)
                    {
                        section = Section.None;
                        if (element == Element.Meta && XmlScanner.TryGetAttribute(attributes, "direction"u8, out var direction))
                        {
                            section = direction.SequenceEqual("original"u8) ? Section.Original
                                : direction.SequenceEqual("reply"u8) ? Section.Reply
                                : direction.SequenceEqual("independent"u8) ? Section.Independent : Section.None;
                        }
                    }

                    if (element == Element.Layer4 && depth == 1 && section == Section.Original)
                    {
                        if (!XmlScanner.TryGetAttribute(attributes, "protonum"u8, out var protonum)
                            || !TextParsing.TryParseUInt64(protonum, 255, out var protocol))
                        {
                            reason = "layer4 protonum is missing or not a number";
                            return DecodeStatus.Invalid;
                        }

                        values.Protocol = (byte)protocol;
                        values.Seen |= Seen.Protocol;
                    }

                    stack[depth] = element;
                    nameStart[depth] = scanner.NameOffset;
                    nameLength[depth] = name.Length;
                    depth++;
                    break;
                case Node.EmptyTag:
                    // <unreplied/>, <assured/>: flags the record does not keep.
                    break;
                case Node.EndTag:
                    if (depth == 0)
                    {
                        if (!name.SequenceEqual("flow"u8))
                        {
                            reason = "mismatched end tag";
                            return DecodeStatus.Invalid;
                        }

                        return Finish(evt, ref values, ref record, out reason);
                    }

                    depth--;
                    if (!name.SequenceEqual(scanner.Slice(nameStart[depth], nameLength[depth])))
                    {
                        reason = "mismatched end tag";
                        return DecodeStatus.Invalid;
                    }

                    break;
                case Node.Text:
                    if (depth == 0 || TextParsing.Trim(name).IsEmpty)
                    {
                        break;
                    }

                    if (name.Contains((byte)'&'))
                    {
                        reason = "entity references are not accepted";
                        return DecodeStatus.Invalid;
                    }

                    var parent = depth >= 2 ? stack[depth - 2] : Element.Other;
                    reason = values.Set(section, parent, stack[depth - 1], TextParsing.Trim(name));
                    if (reason is not null)
                    {
                        return DecodeStatus.Invalid;
                    }

                    break;
                case Node.EndOfInput:
                    reason = "truncated flow element";
                    return DecodeStatus.Invalid;
                case Node.Forbidden:
                    reason = "DTDs, comments and CDATA sections are not accepted";
                    return DecodeStatus.Invalid;
                default:
                    reason = "malformed XML";
                    return DecodeStatus.Invalid;
            }
        }
    }

    private static DecodeStatus Finish(FlowEvent evt, ref Values v, ref FlowRecord record, out string? reason)
    {
        var required = Seen.OrigSrc | Seen.OrigDst | Seen.Protocol;
        if ((v.Seen & required) != required)
        {
            reason = "original tuple is incomplete";
            return DecodeStatus.Invalid;
        }

        var hasPorts = Protocols.HasPorts(v.Protocol);
        if (hasPorts && (v.Seen & (Seen.OrigSport | Seen.OrigDport)) != (Seen.OrigSport | Seen.OrigDport))
        {
            reason = "original tuple is incomplete";
            return DecodeStatus.Invalid;
        }

        var replyRequired = Seen.ReplySrc | Seen.ReplyDst | (hasPorts ? Seen.ReplySport | Seen.ReplyDport : 0);
        if ((v.Seen & replyRequired) != replyRequired)
        {
            reason = "reply tuple is missing or incomplete";
            return DecodeStatus.Invalid;
        }

        long whenMs = -1;
        if ((v.Seen & Seen.When) != 0
            && !TextParsing.TryUnixMilliseconds(v.Year, v.Month, v.Day, v.Hour, v.Minute, v.Second, 0, out whenMs))
        {
            reason = "when element is incomplete or out of range";
            return DecodeStatus.Invalid;
        }

        record.Event = evt;
        record.Protocol = v.Protocol;
        record.SrcIp = v.OrigSrc;
        record.DstIp = v.OrigDst;
        if (hasPorts)
        {
            record.SrcPort = v.OrigSport;
            record.DstPort = v.OrigDport;
            record.NatSrcPort = v.ReplyDport;
            record.NatDstPort = v.ReplySport;
        }

        record.NatSrcIp = v.ReplyDst;
        record.NatDstIp = v.ReplySrc;
        record.PacketsOut = v.OrigPackets;
        record.BytesOut = v.OrigBytes;
        record.PacketsIn = v.ReplyPackets;
        record.BytesIn = v.ReplyBytes;

        record.StartMs = ConntrackTimes.Start(v.KernelStartNs > 0 ? (long)(v.KernelStartNs / 1_000_000) : -1, whenMs, v.DeltaSeconds);
        record.EndMs = ConntrackTimes.End(evt, v.KernelStopNs > 0 ? (long)(v.KernelStopNs / 1_000_000) : -1, whenMs);

        record.ConnectionId = ConnectionKey.Compute(v.ConntrackId, 0, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
        reason = null;
        return DecodeStatus.Ok;
    }

    private static Element Classify(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 when name.SequenceEqual("id"u8) => Element.Id,
        3 when name.SequenceEqual("src"u8) => Element.Src,
        3 when name.SequenceEqual("dst"u8) => Element.Dst,
        3 when name.SequenceEqual("min"u8) => Element.Minute,
        3 when name.SequenceEqual("sec"u8) => Element.Second,
        3 when name.SequenceEqual("day"u8) => Element.Day,
        4 when name.SequenceEqual("meta"u8) => Element.Meta,
        4 when name.SequenceEqual("when"u8) => Element.When,
        4 when name.SequenceEqual("hour"u8) => Element.Hour,
        4 when name.SequenceEqual("year"u8) => Element.Year,
        4 when name.SequenceEqual("stop"u8) => Element.Stop,
        5 when name.SequenceEqual("sport"u8) => Element.Sport,
        5 when name.SequenceEqual("dport"u8) => Element.Dport,
        5 when name.SequenceEqual("bytes"u8) => Element.Bytes,
        5 when name.SequenceEqual("month"u8) => Element.Month,
        5 when name.SequenceEqual("start"u8) => Element.Start,
        6 when name.SequenceEqual("layer3"u8) => Element.Layer3,
        6 when name.SequenceEqual("layer4"u8) => Element.Layer4,
        7 when name.SequenceEqual("packets"u8) => Element.Packets,
        8 when name.SequenceEqual("counters"u8) => Element.Counters,
        9 when name.SequenceEqual("timestamp"u8) => Element.Timestamp,
        9 when name.SequenceEqual("deltatime"u8) => Element.DeltaTime,
        _ => Element.Other,
    };

    private enum Element : byte
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

    private enum Section : byte
    {
        None,
        Original,
        Reply,
        Independent,
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

    /// <summary>What a flow element said, filled as its text nodes arrive.</summary>
    private struct Values
    {
        public Seen Seen;
        public byte Protocol;
        public UInt128 OrigSrc, OrigDst, ReplySrc, ReplyDst;
        public ushort OrigSport, OrigDport, ReplySport, ReplyDport;
        public ulong OrigPackets, OrigBytes, ReplyPackets, ReplyBytes;
        public ulong ConntrackId;
        public ulong KernelStartNs, KernelStopNs;
        public long DeltaSeconds;
        public int Year, Month, Day, Hour, Minute, Second;

        /// <summary>Stores one element's text; returns the reason when it is not valid, null otherwise.</summary>
        public string? Set(Section section, Element parent, Element element, ReadOnlySpan<byte> text)
        {
            var original = section == Section.Original;
            switch (element)
            {
                case Element.Src or Element.Dst when parent == Element.Layer3 && section is Section.Original or Section.Reply:
                    if (!IpAddressKey.TryParse(text, out var address))
                    {
                        return element == Element.Src ? "src is not an IP address" : "dst is not an IP address";
                    }

                    if (element == Element.Src)
                    {
                        (original ? ref OrigSrc : ref ReplySrc) = address;
                        Seen |= original ? Seen.OrigSrc : Seen.ReplySrc;
                    }
                    else
                    {
                        (original ? ref OrigDst : ref ReplyDst) = address;
                        Seen |= original ? Seen.OrigDst : Seen.ReplyDst;
                    }

                    return null;
                case Element.Sport or Element.Dport when parent == Element.Layer4 && section is Section.Original or Section.Reply:
                    if (!TextParsing.TryParseUInt64(text, ushort.MaxValue, out var port))
                    {
                        return "a port is not a number in range";
                    }

                    if (element == Element.Sport)
                    {
                        (original ? ref OrigSport : ref ReplySport) = (ushort)port;
                        Seen |= original ? Seen.OrigSport : Seen.ReplySport;
                    }
                    else
                    {
                        (original ? ref OrigDport : ref ReplyDport) = (ushort)port;
                        Seen |= original ? Seen.OrigDport : Seen.ReplyDport;
                    }

                    return null;
                case Element.Packets or Element.Bytes when parent == Element.Counters && section is Section.Original or Section.Reply:
                    if (!TextParsing.TryParseUInt64(text, ulong.MaxValue, out var count))
                    {
                        return "a counter is not a number";
                    }

                    if (element == Element.Packets)
                    {
                        (original ? ref OrigPackets : ref ReplyPackets) = count;
                    }
                    else
                    {
                        (original ? ref OrigBytes : ref ReplyBytes) = count;
                    }

                    return null;
                case Element.Id when section == Section.Independent && parent == Element.Meta:
                    return TextParsing.TryParseUInt64(text, uint.MaxValue, out ConntrackId) ? null : "id is not a number in range";
                case Element.DeltaTime when section == Section.Independent && parent == Element.Meta:
                    return TextParsing.TryParseInt64(text, out DeltaSeconds) ? null : "deltatime is not a number";
                case Element.Start or Element.Stop when parent == Element.Timestamp:
                    if (!TextParsing.TryParseUInt64(text, long.MaxValue, out var ns))
                    {
                        return "a timestamp is not a number";
                    }

                    (element == Element.Start ? ref KernelStartNs : ref KernelStopNs) = ns;
                    return null;
                case Element.Hour or Element.Minute or Element.Second or Element.Day or Element.Month or Element.Year when parent == Element.When:
                    if (!TextParsing.TryDigits(text, out var part))
                    {
                        return "when element is incomplete or out of range";
                    }

                    switch (element)
                    {
                        case Element.Hour: Hour = part; break;
                        case Element.Minute: Minute = part; break;
                        case Element.Second: Second = part; break;
                        case Element.Day: Day = part; break;
                        case Element.Month: Month = part; break;
                        default: Year = part; break;
                    }

                    Seen |= Seen.When;
                    return null;
                default:
                    // state, timeout, mark, zone, use, secmark, labels: not part of the record.
                    return null;
            }
        }
    }

    private enum Node
    {
        EndOfInput,
        StartTag,
        EndTag,
        EmptyTag,
        Text,
        Declaration,
        Forbidden,
        Malformed,
    }

    /// <summary>
    /// A pull scanner over one message: tags with their attribute text, and text between tags. It knows no DTDs,
    /// entities or namespaces; a <c>&lt;!</c> construct is reported as <see cref="Node.Forbidden"/>.
    /// </summary>
    private ref struct XmlScanner(ReadOnlySpan<byte> text)
    {
        private readonly ReadOnlySpan<byte> text = text;
        private int position;

        /// <summary>Where the last tag's name starts in the message.</summary>
        public int NameOffset { get; private set; }

        public readonly ReadOnlySpan<byte> Slice(int start, int length) => text.Slice(start, length);

        /// <summary>The next node; for tags <paramref name="name"/> is the tag name, for text it is the text.</summary>
        public Node Next(out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> attributes)
        {
            name = default;
            attributes = default;
            if (position >= text.Length)
            {
                return Node.EndOfInput;
            }

            if (text[position] != '<')
            {
                var end = text[position..].IndexOf((byte)'<');
                end = end < 0 ? text.Length : position + end;
                name = text[position..end];
                position = end;
                return Node.Text;
            }

            var rest = text[(position + 1)..];
            if (rest.IsEmpty)
            {
                return Node.Malformed;
            }

            if (rest[0] == '!')
            {
                return Node.Forbidden;
            }

            if (rest[0] == '?')
            {
                var close = rest.IndexOf("?>"u8);
                if (close < 0)
                {
                    return Node.Malformed;
                }

                position += 1 + close + 2;
                return Node.Declaration;
            }

            var closing = rest[0] == '/';
            var nameStart = closing ? 1 : 0;
            var nameEnd = nameStart;
            while (nameEnd < rest.Length && IsNameChar(rest[nameEnd]))
            {
                nameEnd++;
            }

            if (nameEnd == nameStart)
            {
                return Node.Malformed;
            }

            // Find the tag's end outside quoted attribute values.
            var i = nameEnd;
            byte quote = 0;
            while (i < rest.Length && (quote != 0 || rest[i] != '>'))
            {
                if (quote != 0)
                {
                    quote = rest[i] == quote ? (byte)0 : quote;
                }
                else if (rest[i] is (byte)'"' or (byte)'\'')
                {
                    quote = rest[i];
                }
                else if (rest[i] == '<')
                {
                    return Node.Malformed;
                }

                i++;
            }

            if (i == rest.Length)
            {
                return Node.Malformed;
            }

            name = rest[nameStart..nameEnd];
            NameOffset = position + 1 + nameStart;
            var inner = rest[nameEnd..i];
            position += 1 + i + 1;
            if (closing)
            {
                return TextParsing.Trim(inner).IsEmpty ? Node.EndTag : Node.Malformed;
            }

            if (!inner.IsEmpty && inner[^1] == '/')
            {
                attributes = inner[..^1];
                return Node.EmptyTag;
            }

            if (!inner.IsEmpty && !TextParsing.IsSpace(inner[0]))
            {
                return Node.Malformed;
            }

            attributes = inner;
            return Node.StartTag;
        }

        /// <summary>The value of <c>name="value"</c> (or single-quoted) in a tag's attribute text.</summary>
        public static bool TryGetAttribute(ReadOnlySpan<byte> attributes, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
        {
            var position = 0;
            while (true)
            {
                while (position < attributes.Length && TextParsing.IsSpace(attributes[position]))
                {
                    position++;
                }

                var start = position;
                while (position < attributes.Length && IsNameChar(attributes[position]))
                {
                    position++;
                }

                var attributeName = attributes[start..position];
                if (attributeName.IsEmpty || position + 1 >= attributes.Length || attributes[position] != '='
                    || attributes[position + 1] is not ((byte)'"' or (byte)'\''))
                {
                    value = default;
                    return false;
                }

                var quote = attributes[position + 1];
                var valueStart = position + 2;
                var length = attributes[valueStart..].IndexOf(quote);
                if (length < 0)
                {
                    value = default;
                    return false;
                }

                if (attributeName.SequenceEqual(name))
                {
                    value = attributes.Slice(valueStart, length);
                    return true;
                }

                position = valueStart + length + 1;
            }
        }

        private static bool IsNameChar(byte c) =>
            char.IsAsciiLetterOrDigit((char)c) || c is (byte)'_' or (byte)'-' or (byte)'.' or (byte)':';
    }
}
