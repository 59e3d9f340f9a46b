using System.Text.Json;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Ingest.Enrichment;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// Cilium Hubble flows as <c>hubble observe -o json</c> (and the Hubble exporter) print them: one
/// <c>{"flow": {…}, "node_name": …, "time": …}</c> per line, or the bare flow object. Read: <c>time</c>,
/// <c>IP.source</c>/<c>destination</c>, <c>l4</c> (<c>TCP</c>/<c>UDP</c>/<c>SCTP</c> ports and TCP flags,
/// <c>ICMPv4</c>/<c>ICMPv6</c> type and code), <c>source</c>/<c>destination</c> (namespace, pod name, labels,
/// workloads), <c>is_reply</c> and <c>Type</c>. Responses without a flow (<c>node_status</c>,
/// <c>lost_events</c>) and flows other than L3/L4 (L7 records repeat traffic already seen at L3/L4) are skipped.
/// <para>
/// A Hubble flow is one packet event. Replies (<c>is_reply</c>; for ICMP without it, the echo-reply types) are
/// folded into their connection: the source becomes the initiator again and the packet counts in the reply
/// direction. Each event counts one packet and no bytes (Hubble has no byte counters). Hubble does not report a
/// connection's start, so the <see cref="FlowRecord.ConnectionId"/> is the 5-tuple with start second 0 and the
/// record's start is the event's time. TCP flags give the event: SYN without ACK is
/// <see cref="FlowEvent.New"/>, FIN or RST <see cref="FlowEvent.Destroy"/>, anything else an update.
/// </para>
/// <para>
/// An end with a namespace or pod name is a Kubernetes workload, resolved by enrichment's
/// <see cref="KubernetesEndpointResolver"/> from the end's JSON object while the message is in hand; ends without
/// such identity (for example <c>reserved:world</c>) are left to the workload index.
/// </para>
/// </summary>
public sealed class HubbleJsonDecoder : IFlowDecoder
{
    public const string FormatName = "hubble-json";

    // Policy name lists and drop reasons repeat from flow to flow: made once each, then shared.
    private static readonly TextCache<string> Texts = new(text => text);

    private readonly KubernetesEndpointResolver endpoints;
    private readonly AttemptTracker attempts;

    /// <param name="kubernetes">How pod labels become the project's labels; null for the defaults.</param>
    /// <param name="attempts">Where retransmitted drops are folded into one attempt; null for a tracker of its own.</param>
    public HubbleJsonDecoder(KubernetesProfileOptions? kubernetes = null, AttemptTracker? attempts = null)
        : this(new KubernetesEndpointResolver(kubernetes), attempts)
    {
    }

    /// <summary>A decoder whose pod ends are resolved (and cached) by <paramref name="endpoints"/>.</summary>
    public HubbleJsonDecoder(KubernetesEndpointResolver endpoints, AttemptTracker? attempts = null)
    {
        this.endpoints = endpoints;
        this.attempts = attempts ?? new AttemptTracker();
    }

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        record = FlowRecord.Blank;
        var f = default(Fields);

        var reader = new Utf8JsonReader(message, new JsonReaderOptions { MaxDepth = 16 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                reason = "not a JSON object";
                return DecodeStatus.Invalid;
            }

            reason = ReadFlow(ref reader, ref f, topLevel: true);
            if (reason is not null)
            {
                return DecodeStatus.Invalid;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: an escaped string whose text is not valid UTF-8 (found by DecoderPropertyTests).
            reason = "malformed JSON";
            return DecodeStatus.Invalid;
        }

        if (!f.IsFlow)
        {
            if (f.OtherEvent)
            {
                reason = "not a flow event";
                return DecodeStatus.Skipped;
            }

            reason = "not a Hubble flow";
            return DecodeStatus.Invalid;
        }

        if (f.NotL3L4)
        {
            reason = "not an L3/L4 flow";
            return DecodeStatus.Skipped;
        }

        var timeMs = f.HaveTime ? f.TimeMs : f.HaveWrapperTime ? f.WrapperTimeMs : -1;
        if (timeMs < 0)
        {
            reason = "time is missing";
            return DecodeStatus.Invalid;
        }

        if (!f.HaveSrcIp || !f.HaveDstIp)
        {
            reason = "flow has no IP layer";
            return DecodeStatus.Skipped;
        }

        if (f.Protocol == 0)
        {
            reason = "flow has no TCP, UDP, SCTP or ICMP layer";
            return DecodeStatus.Skipped;
        }

        var isReply = f.IsReply;
        var srcPort = f.SrcPort;
        var dstPort = f.DstPort;
        if (Protocols.IsIcmp(f.Protocol))
        {
            if (!f.HaveIsReply && Protocols.IsReplyType(f.Protocol, f.IcmpType))
            {
                isReply = true;
            }

            // The request's type keys both directions; ICMP has no source port.
            srcPort = 0;
            dstPort = Protocols.IcmpPort(Protocols.RequestType(f.Protocol, f.IcmpType), f.IcmpCode);
        }

        Endpoint? source, destination;
        try
        {
            source = f.SourceLength > 0 ? endpoints.Resolve(message.Slice(f.SourceStart, f.SourceLength), f.SrcIp) : null;
            destination = f.DestinationLength > 0 ? endpoints.Resolve(message.Slice(f.DestinationStart, f.DestinationLength), f.DstIp) : null;
        }
        catch (JsonException)
        {
            reason = "malformed JSON";
            return DecodeStatus.Invalid;
        }
        catch (InvalidOperationException)
        {
            reason = "an endpoint field has the wrong JSON type";
            return DecodeStatus.Invalid;
        }

        record.Protocol = f.Protocol;
        if (isReply)
        {
            record.SrcIp = f.DstIp;
            record.DstIp = f.SrcIp;
            record.SrcPort = Protocols.IsIcmp(f.Protocol) ? srcPort : dstPort;
            record.DstPort = Protocols.IsIcmp(f.Protocol) ? dstPort : srcPort;
            record.Src = destination;
            record.Dst = source;
            record.PacketsIn = 1;
        }
        else
        {
            record.SrcIp = f.SrcIp;
            record.DstIp = f.DstIp;
            record.SrcPort = srcPort;
            record.DstPort = dstPort;
            record.Src = source;
            record.Dst = destination;
            record.PacketsOut = 1;
        }

        record.Event = f.TcpFlags switch
        {
            var flags when (flags & (TcpFlags.Fin | TcpFlags.Rst)) != 0 => FlowEvent.Destroy,
            var flags when (flags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn => FlowEvent.New,
            _ => FlowEvent.Update,
        };
        record.StartMs = timeMs;
        record.EndMs = record.Event == FlowEvent.Destroy ? timeMs : 0;
        // Every event is one packet: a connection's events add up.
        record.CountersAreDeltas = true;
        record.ConnectionId = ConnectionKey.Compute(0, 0, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
        reason = f.Verdict.Apply(message, isReply, attempts, Texts, ref record);
        return reason is null ? DecodeStatus.Ok : DecodeStatus.Invalid;
    }

    /// <summary>Reads a flow object (or the response that wraps one) up to its end.</summary>
    private static string? ReadFlow(ref Utf8JsonReader reader, ref Fields f, bool topLevel)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (topLevel && reader.ValueTextEquals("flow"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    return "flow is not an object";
                }

                f.IsFlow = true;
                var error = ReadFlow(ref reader, ref f, topLevel: false);
                if (error is not null)
                {
                    return error;
                }
            }
            else if (reader.ValueTextEquals("time"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped
                    || !TextParsing.TryParseRfc3339(reader.ValueSpan, out var ms))
                {
                    return "time is not an RFC 3339 time";
                }

                // The wrapper repeats the flow's time; the flow's own wins.
                if (topLevel)
                {
                    f.WrapperTimeMs = ms;
                    f.HaveWrapperTime = true;
                }
                else
                {
                    f.TimeMs = ms;
                    f.HaveTime = true;
                }
            }
            else if (reader.ValueTextEquals("IP"u8))
            {
                f.IsFlow = true;
                var error = ReadIp(ref reader, ref f);
                if (error is not null)
                {
                    return error;
                }
            }
            else if (reader.ValueTextEquals("l4"u8))
            {
                f.IsFlow = true;
                var error = ReadL4(ref reader, ref f);
                if (error is not null)
                {
                    return error;
                }
            }
            else if (reader.ValueTextEquals("source"u8) || reader.ValueTextEquals("destination"u8))
            {
                var isSource = reader.ValueTextEquals("source"u8);
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    return "source and destination must be objects";
                }

                // Kept as a slice of the message and read once the addresses are known.
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                var length = (int)reader.BytesConsumed - start;
                if (isSource)
                {
                    (f.SourceStart, f.SourceLength) = (start, length);
                }
                else
                {
                    (f.DestinationStart, f.DestinationLength) = (start, length);
                }

                f.IsFlow = true;
            }
            else if (reader.ValueTextEquals("Type"u8))
            {
                reader.Read();
                f.IsFlow = true;
                f.NotL3L4 = reader.TokenType != JsonTokenType.String || !reader.ValueTextEquals("L3_L4"u8);
            }
            else if (reader.ValueTextEquals("is_reply"u8) || (reader.ValueTextEquals("reply"u8) && !f.HaveIsReply))
            {
                // is_reply supersedes the deprecated reply; both are booleans, is_reply may be absent (unknown).
                var isReplyField = reader.ValueTextEquals("is_reply"u8);
                reader.Read();
                if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                {
                    return "is_reply is not a boolean";
                }

                f.IsReply = reader.TokenType == JsonTokenType.True;
                f.HaveIsReply |= isReplyField;
            }
            else if (topLevel && (reader.ValueTextEquals("node_status"u8) || reader.ValueTextEquals("lost_events"u8)
                || reader.ValueTextEquals("agent_event"u8) || reader.ValueTextEquals("debug_event"u8)))
            {
                f.OtherEvent = true;
                reader.Read();
                reader.Skip();
            }
            else if (f.Verdict.TryRead(ref reader, topLevel, ref f.IsFlow))
            {
                // One of the verdict's members, read.
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return reader.TokenType == JsonTokenType.EndObject ? null : "malformed JSON";
    }

    private static string? ReadIp(ref Utf8JsonReader reader, ref Fields f)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return "IP is not an object";
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isSource = reader.ValueTextEquals("source"u8);
            var isDestination = !isSource && reader.ValueTextEquals("destination"u8);
            reader.Read();
            if (!isSource && !isDestination)
            {
                reader.Skip();
                continue;
            }

            if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped
                || !IpAddressKey.TryParse(reader.ValueSpan, out var address))
            {
                return isSource ? "IP.source is not an IP address" : "IP.destination is not an IP address";
            }

            if (isSource)
            {
                f.SrcIp = address;
                f.HaveSrcIp = true;
            }
            else
            {
                f.DstIp = address;
                f.HaveDstIp = true;
            }
        }

        return null;
    }

    private static string? ReadL4(ref Utf8JsonReader reader, ref Fields f)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return "l4 is not an object";
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            byte protocol = reader.ValueTextEquals("TCP"u8) ? Protocols.Tcp
                : reader.ValueTextEquals("UDP"u8) ? Protocols.Udp
                : reader.ValueTextEquals("SCTP"u8) ? Protocols.Sctp
                : reader.ValueTextEquals("ICMPv4"u8) ? Protocols.Icmp
                : reader.ValueTextEquals("ICMPv6"u8) ? Protocols.IcmpV6 : (byte)0;
            reader.Read();
            if (protocol == 0)
            {
                reader.Skip();
                continue;
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return "an l4 layer is not an object";
            }

            f.Protocol = protocol;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("source_port"u8) || reader.ValueTextEquals("destination_port"u8))
                {
                    var isSource = reader.ValueTextEquals("source_port"u8);
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt16(out var port))
                    {
                        return "a port is not a number 0-65535";
                    }

                    (isSource ? ref f.SrcPort : ref f.DstPort) = port;
                }
                else if (reader.ValueTextEquals("type"u8) || reader.ValueTextEquals("code"u8))
                {
                    var isType = reader.ValueTextEquals("type"u8);
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetByte(out var value))
                    {
                        return "an ICMP type or code is not a number 0-255";
                    }

                    (isType ? ref f.IcmpType : ref f.IcmpCode) = value;
                }
                else if (reader.ValueTextEquals("flags"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        return "TCP flags are not an object";
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var flag = reader.ValueTextEquals("SYN"u8) ? TcpFlags.Syn
                            : reader.ValueTextEquals("ACK"u8) ? TcpFlags.Ack
                            : reader.ValueTextEquals("FIN"u8) ? TcpFlags.Fin
                            : reader.ValueTextEquals("RST"u8) ? TcpFlags.Rst : TcpFlags.None;
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.True)
                        {
                            f.TcpFlags |= flag;
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }

        return null;
    }

    [Flags]
    private enum TcpFlags : byte
    {
        None = 0,
        Syn = 1,
        Ack = 2,
        Fin = 4,
        Rst = 8,
    }

    private struct Fields
    {
        public HubbleVerdictFields Verdict;
        public bool IsFlow, OtherEvent, NotL3L4, HaveTime, HaveWrapperTime, HaveSrcIp, HaveDstIp, IsReply, HaveIsReply;
        public long TimeMs, WrapperTimeMs;
        public UInt128 SrcIp, DstIp;
        public byte Protocol, IcmpType, IcmpCode;
        public ushort SrcPort, DstPort;
        public TcpFlags TcpFlags;
        public int SourceStart, SourceLength, DestinationStart, DestinationLength;
    }
}
