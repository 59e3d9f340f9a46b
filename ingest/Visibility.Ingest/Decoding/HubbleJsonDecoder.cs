using System.Buffers;
using System.Collections.Concurrent;
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
/// An end with a namespace or pod name is a Kubernetes workload: its <see cref="Endpoint"/> is named
/// <c>namespace/pod</c> (kind <c>pod</c>) and labelled by <see cref="KubernetesLabelMapper"/> from its
/// <c>k8s:</c> labels, with Cilium's namespace labels (<c>io.cilium.k8s.namespace.labels.*</c>) standing in for
/// namespace annotations; Cilium's own bookkeeping labels are dropped. Endpoints are cached by the bytes that
/// define them, so repeated pods cost a lookup and no allocation. Ends without such identity (for example
/// <c>reserved:world</c>) are left to enrichment.
/// </para>
/// </summary>
public sealed class HubbleJsonDecoder : IFlowDecoder
{
    public const string FormatName = "hubble-json";

    /// <summary>Endpoints cached before the cache is emptied and refilled (pods churn).</summary>
    public const int MaxCachedEndpoints = 100_000;

    private const string NamespaceLabelPrefix = "io.cilium.k8s.namespace.labels.";

    private readonly KubernetesLabelMapper mapper;
    private readonly ConcurrentDictionary<byte[], Endpoint> endpoints = new(EndpointKeyComparer.Instance);
    private readonly ConcurrentDictionary<byte[], Endpoint>.AlternateLookup<ReadOnlySpan<byte>> endpointsBySpan;
    private int cachedEndpoints;

    public HubbleJsonDecoder(KubernetesProfileOptions? kubernetes = null)
    {
        mapper = new KubernetesLabelMapper(kubernetes ?? new KubernetesProfileOptions());
        endpointsBySpan = endpoints.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

    public string Format => FormatName;

    /// <summary>How many endpoints the cache holds (for tests and metrics).</summary>
    public int CachedEndpoints => Volatile.Read(ref cachedEndpoints);

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
            source = f.SourceLength > 0 ? ResolveEndpoint(message.Slice(f.SourceStart, f.SourceLength), f.SrcIp) : null;
            destination = f.DestinationLength > 0 ? ResolveEndpoint(message.Slice(f.DestinationStart, f.DestinationLength), f.DstIp) : null;
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
        reason = null;
        return DecodeStatus.Ok;
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
            else
            {
                if (!topLevel && reader.ValueTextEquals("verdict"u8))
                {
                    f.IsFlow = true;
                }

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

    /// <summary>
    /// The endpoint of one end, from its JSON object: null without a namespace or pod name. The cache key is the
    /// end's identity as it appears (namespace, pod, workloads, labels); the address is not part of it, since an
    /// <see cref="Endpoint"/> keeps only a name, a kind and labels.
    /// </summary>
    private Endpoint? ResolveEndpoint(ReadOnlySpan<byte> json, UInt128 address)
    {
        // Unescaping never lengthens a string, and each value brings at least its two quotes for the two bytes
        // (tag, separator) it takes in the key, so the key fits in the object's length.
        var buffer = ArrayPool<byte>.Shared.Rent(json.Length + 8);
        try
        {
            var keyLength = BuildKey(json, buffer, out var hasIdentity);
            if (!hasIdentity)
            {
                return null;
            }

            var key = buffer.AsSpan(0, keyLength);
            if (endpointsBySpan.TryGetValue(key, out var cached))
            {
                return cached;
            }

            var endpoint = CreateEndpoint(json, address);
            if (Interlocked.Increment(ref cachedEndpoints) > MaxCachedEndpoints)
            {
                endpoints.Clear();
                Volatile.Write(ref cachedEndpoints, 1);
            }

            return endpointsBySpan.TryAdd(key, endpoint) ? endpoint : endpointsBySpan.TryGetValue(key, out cached) ? cached : endpoint;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int BuildKey(ReadOnlySpan<byte> json, byte[] buffer, out bool hasIdentity)
    {
        hasIdentity = false;
        var length = 0;
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            byte tag = reader.ValueTextEquals("namespace"u8) ? (byte)'n'
                : reader.ValueTextEquals("pod_name"u8) ? (byte)'p'
                : reader.ValueTextEquals("labels"u8) ? (byte)'l'
                : reader.ValueTextEquals("workloads"u8) ? (byte)'w' : (byte)0;
            reader.Read();
            switch (tag)
            {
                case (byte)'n' or (byte)'p':
                    if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0)
                    {
                        hasIdentity = true;
                        Append(ref reader, tag, buffer, ref length);
                    }
                    else
                    {
                        reader.Skip();
                    }

                    break;
                case (byte)'l' or (byte)'w':
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        reader.Skip();
                        break;
                    }

                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        if (reader.TokenType == JsonTokenType.String)
                        {
                            Append(ref reader, tag, buffer, ref length);
                        }
                        else if (reader.TokenType == JsonTokenType.StartObject)
                        {
                            // A workload: {"name": …, "kind": …}.
                            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                            {
                                reader.Read();
                                if (reader.TokenType == JsonTokenType.String)
                                {
                                    Append(ref reader, tag, buffer, ref length);
                                }
                                else
                                {
                                    reader.Skip();
                                }
                            }
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }

                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        return length;
    }

    private static void Append(ref Utf8JsonReader reader, byte tag, byte[] buffer, ref int length)
    {
        buffer[length++] = tag;
        length += reader.CopyString(buffer.AsSpan(length));
        buffer[length++] = 0;
    }

    /// <summary>A cache miss: the end's strings, its labels through the profile, and a new endpoint.</summary>
    private Endpoint CreateEndpoint(ReadOnlySpan<byte> json, UInt128 address)
    {
        string? @namespace = null, pod = null, workload = null, namespaceFromLabel = null;
        var podLabels = new Dictionary<string, string>(StringComparer.Ordinal);
        var namespaceLabels = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("namespace"u8))
            {
                reader.Read();
                @namespace = reader.GetString();
            }
            else if (reader.ValueTextEquals("pod_name"u8))
            {
                reader.Read();
                pod = reader.GetString();
            }
            else if (reader.ValueTextEquals("workloads"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isName = reader.ValueTextEquals("name"u8);
                        reader.Read();
                        if (isName && workload is null && reader.TokenType == JsonTokenType.String)
                        {
                            workload = reader.GetString();
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
            }
            else if (reader.ValueTextEquals("labels"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        AddLabel(reader.GetString()!, podLabels, namespaceLabels, ref namespaceFromLabel);
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

        @namespace = string.IsNullOrEmpty(@namespace) ? namespaceFromLabel : @namespace;
        // namespace/pod; a pod Hubble could not name goes by its workload, and by its namespace alone at worst.
        var local = string.IsNullOrEmpty(pod) ? workload : pod;
        var name = string.IsNullOrEmpty(local) ? @namespace ?? "" : string.IsNullOrEmpty(@namespace) ? local : $"{@namespace}/{local}";
        var labels = mapper.Map(@namespace, podLabels, namespaceLabels);
        var spec = new WorkloadSpec { Name = name, Kind = "pod", Addresses = [IpAddressKey.Format(address)], Labels = labels };
        return Endpoint.ForWorkload(spec, labels);
    }

    /// <summary>
    /// Cilium labels are <c>source:key=value</c>. Only <c>k8s:</c> labels are the pod's; among them Cilium adds
    /// its own: the namespace (<c>io.kubernetes.pod.namespace</c>), the namespace's labels
    /// (<c>io.cilium.k8s.namespace.labels.*</c>, kept apart for the profile's namespace rules) and policy
    /// bookkeeping (<c>io.cilium.k8s.policy.*</c>), which are not the pod's labels.
    /// </summary>
    private static void AddLabel(string label, Dictionary<string, string> podLabels, Dictionary<string, string> namespaceLabels, ref string? @namespace)
    {
        if (!label.StartsWith("k8s:", StringComparison.Ordinal))
        {
            return;
        }

        var pair = label.AsSpan(4);
        var equals = pair.IndexOf('=');
        var key = (equals < 0 ? pair : pair[..equals]).ToString();
        var value = equals < 0 ? "" : pair[(equals + 1)..].ToString();
        if (key == "io.kubernetes.pod.namespace")
        {
            @namespace = value;
        }
        else if (key.StartsWith(NamespaceLabelPrefix, StringComparison.Ordinal))
        {
            namespaceLabels[key[NamespaceLabelPrefix.Length..]] = value;
        }
        else if (!key.StartsWith("io.cilium.", StringComparison.Ordinal) && !key.StartsWith("io.kubernetes.pod.", StringComparison.Ordinal))
        {
            podLabels[key] = value;
        }
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
        public bool IsFlow, OtherEvent, NotL3L4, HaveTime, HaveWrapperTime, HaveSrcIp, HaveDstIp, IsReply, HaveIsReply;
        public long TimeMs, WrapperTimeMs;
        public UInt128 SrcIp, DstIp;
        public byte Protocol, IcmpType, IcmpCode;
        public ushort SrcPort, DstPort;
        public TcpFlags TcpFlags;
        public int SourceStart, SourceLength, DestinationStart, DestinationLength;
    }

    /// <summary>Byte keys, looked up by span so that a cache hit allocates nothing.</summary>
    private sealed class EndpointKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly EndpointKeyComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => Hash(obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        private static int Hash(ReadOnlySpan<byte> bytes)
        {
            var hash = default(HashCode);
            hash.AddBytes(bytes);
            return hash.ToHashCode();
        }
    }
}
