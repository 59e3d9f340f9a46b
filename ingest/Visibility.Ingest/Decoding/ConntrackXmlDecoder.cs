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
/// The scanner (<see cref="XmlScanner"/>) is hand-written for this one shape: no DTD, comment, CDATA or entity is accepted (none appear in
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
                case XmlNode.EndOfInput:
                    reason = "no flow element";
                    return DecodeStatus.Skipped;
                case XmlNode.Declaration:
                    continue;
                case XmlNode.StartTag or XmlNode.EndTag when name.SequenceEqual("conntrack"u8):
                    continue;
                case XmlNode.Text:
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
                case XmlNode.StartTag when name.SequenceEqual("flow"u8):
                    return DecodeFlow(ref scanner, attributes, ref record, out reason);
                case XmlNode.Forbidden:
                    reason = "DTDs, comments and CDATA sections are not accepted";
                    return DecodeStatus.Invalid;
                case XmlNode.Malformed:
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
        Span<ConntrackXmlElement> stack = stackalloc ConntrackXmlElement[MaxDepth];
        Span<int> nameStart = stackalloc int[MaxDepth];
        Span<int> nameLength = stackalloc int[MaxDepth];
        var depth = 0;
        var section = ConntrackXmlSection.None;
        var values = default(ConntrackXmlValues);

        while (true)
        {
            var node = scanner.Next(out var name, out var attributes);
            switch (node)
            {
                case XmlNode.StartTag:
                    if (depth == MaxDepth)
                    {
                        reason = "elements nested too deep";
                        return DecodeStatus.Invalid;
                    }

                    var element = ConntrackXmlValues.Classify(name);
                    if (depth == 0)
                    {
                        section = ConntrackXmlSection.None;
                        if (element == ConntrackXmlElement.Meta && XmlScanner.TryGetAttribute(attributes, "direction"u8, out var direction))
                        {
                            section = direction.SequenceEqual("original"u8) ? ConntrackXmlSection.Original
                                : direction.SequenceEqual("reply"u8) ? ConntrackXmlSection.Reply
                                : direction.SequenceEqual("independent"u8) ? ConntrackXmlSection.Independent : ConntrackXmlSection.None;
                        }
                    }

                    if (element == ConntrackXmlElement.Layer4 && depth == 1 && section == ConntrackXmlSection.Original)
                    {
                        if (!XmlScanner.TryGetAttribute(attributes, "protonum"u8, out var protonum)
                            || !TextParsing.TryParseUInt64(protonum, 255, out var protocol))
                        {
                            reason = "layer4 protonum is missing or not a number";
                            return DecodeStatus.Invalid;
                        }

                        values.SetProtocol((byte)protocol);
                    }

                    stack[depth] = element;
                    nameStart[depth] = scanner.NameOffset;
                    nameLength[depth] = name.Length;
                    depth++;
                    break;
                case XmlNode.EmptyTag:
                    // <unreplied/>, <assured/>: flags the record does not keep.
                    break;
                case XmlNode.EndTag:
                    if (depth == 0)
                    {
                        if (!name.SequenceEqual("flow"u8))
                        {
                            reason = "mismatched end tag";
                            return DecodeStatus.Invalid;
                        }

                        return values.Fill(evt, ref record, out reason);
                    }

                    depth--;
                    if (!name.SequenceEqual(scanner.Slice(nameStart[depth], nameLength[depth])))
                    {
                        reason = "mismatched end tag";
                        return DecodeStatus.Invalid;
                    }

                    break;
                case XmlNode.Text:
                    if (depth == 0 || TextParsing.Trim(name).IsEmpty)
                    {
                        break;
                    }

                    if (name.Contains((byte)'&'))
                    {
                        reason = "entity references are not accepted";
                        return DecodeStatus.Invalid;
                    }

                    var parent = depth >= 2 ? stack[depth - 2] : ConntrackXmlElement.Other;
                    reason = values.Set(section, parent, stack[depth - 1], TextParsing.Trim(name));
                    if (reason is not null)
                    {
                        return DecodeStatus.Invalid;
                    }

                    break;
                case XmlNode.EndOfInput:
                    reason = "truncated flow element";
                    return DecodeStatus.Invalid;
                case XmlNode.Forbidden:
                    reason = "DTDs, comments and CDATA sections are not accepted";
                    return DecodeStatus.Invalid;
                default:
                    reason = "malformed XML";
                    return DecodeStatus.Invalid;
            }
        }
    }
}
