using System.Text.Json;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// The project's own flow schema, for agents that send flows already normalised or aggregated
/// (docs/flow-schema.json, docs/formats.md). Version 1:
/// <code>
/// {"version": 1, "start": "2026-11-26T21:34:25.979Z" | 1795728865979, "end": … | null,
///  "event": "new" | "update" | "destroy", "proto": "tcp" | 6,
///  "src": {"ip": "10.0.0.1", "port": 40000}, "dst": {"ip": "10.0.0.2", "port": 443},
///  "nat": {"src": {"ip": …, "port": …}, "dst": {"ip": …, "port": …}}, "icmp": {"type": 8, "code": 0},
///  "bytes_out": 0, "packets_out": 0, "bytes_in": 0, "packets_in": 0, "connections": 1, "id": "…",
///  "verdict": "allowed" | "blocked", "attempt": false, "audited": false, "reason": "…", "policies": ["…"]}
/// </code>
/// <c>version</c>, <c>start</c>, <c>proto</c>, <c>src.ip</c> and <c>dst.ip</c> are required; unknown members are
/// ignored so that later minor additions do not break older readers. Records that carry the same <c>id</c> (and
/// tuple) describe one connection; without an id, a record is keyed on its tuple and start second, so a record
/// sent twice still counts once.
/// </summary>
public sealed class CanonicalJsonDecoder : IFlowDecoder
{
    public const string FormatName = "canonical-json";

    /// <summary>The only schema version this decoder reads.</summary>
    public const int SchemaVersion = 1;

    /// <summary>Longest <c>id</c> accepted, in UTF-8 bytes.</summary>
    public const int MaxIdLength = 256;

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        record = FlowRecord.Blank;
        var p = default(Parsed);
        p.Event = FlowEvent.Destroy;

        var reader = new Utf8JsonReader(message, new JsonReaderOptions { MaxDepth = 4 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                reason = "not a JSON object";
                return DecodeStatus.Invalid;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                reason = ReadMember(ref reader, ref p);
                if (reason is not null)
                {
                    return DecodeStatus.Invalid;
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0)
            {
                reason = "malformed JSON";
                return DecodeStatus.Invalid;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: an escaped string whose text is not valid UTF-8 (found by DecoderPropertyTests).
            reason = "malformed JSON";
            return DecodeStatus.Invalid;
        }

        reason = Validate(ref p) ?? p.Verdict.Apply(ref record);
        if (reason is not null)
        {
            return DecodeStatus.Invalid;
        }

        record.Event = p.Event;
        record.Protocol = p.Protocol;
        record.SrcIp = p.Src.Ip;
        record.DstIp = p.Dst.Ip;
        if (Protocols.IsIcmp(p.Protocol))
        {
            record.DstPort = p.HaveIcmp ? Protocols.IcmpPort(p.IcmpType, p.IcmpCode) : p.Dst.Port;
        }
        else
        {
            record.SrcPort = p.Src.Port;
            record.DstPort = p.Dst.Port;
        }

        if (p.HaveNat)
        {
            // A side the agent left out was not translated.
            var icmp = Protocols.IsIcmp(p.Protocol);
            (record.NatSrcIp, record.NatSrcPort) = p.NatSrc.HaveIp ? (p.NatSrc.Ip, icmp ? record.SrcPort : p.NatSrc.Port) : (record.SrcIp, record.SrcPort);
            (record.NatDstIp, record.NatDstPort) = p.NatDst.HaveIp ? (p.NatDst.Ip, icmp ? record.DstPort : p.NatDst.Port) : (record.DstIp, record.DstPort);
        }

        record.BytesOut = p.BytesOut;
        record.PacketsOut = p.PacketsOut;
        record.BytesIn = p.BytesIn;
        record.PacketsIn = p.PacketsIn;
        record.Connections = p.Connections;
        record.StartMs = p.StartMs;
        record.EndMs = p.EndMs;
        record.ConnectionId = p.HaveId
            ? ConnectionKey.Compute(p.IdHash, 0, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort)
            : ConnectionKey.Compute(0, p.StartMs / 1000, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
        return DecodeStatus.Ok;
    }

    private static string? Validate(ref Parsed p)
    {
        if (!p.HaveVersion)
        {
            return "version is missing";
        }

        if (!p.HaveStart)
        {
            return "start is missing";
        }

        if (p.EndMs != 0 && p.EndMs < p.StartMs)
        {
            return "end is before start";
        }

        if (!p.HaveProtocol)
        {
            return "proto is missing";
        }

        if (!p.Src.HaveIp)
        {
            return "src.ip is missing";
        }

        return p.Dst.HaveIp ? null : "dst.ip is missing";
    }

    private static string? ReadMember(ref Utf8JsonReader reader, ref Parsed p)
    {
        if (reader.ValueTextEquals("version"u8))
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var version))
            {
                return "version is not a number";
            }

            p.HaveVersion = true;
            return version == SchemaVersion ? null : "unsupported version";
        }

        if (reader.ValueTextEquals("start"u8))
        {
            p.HaveStart = true;
            return ReadTime(ref reader, out p.StartMs, allowNull: false) ? null : "start is not an RFC 3339 time or Unix milliseconds";
        }

        if (reader.ValueTextEquals("end"u8))
        {
            return ReadTime(ref reader, out p.EndMs, allowNull: true) ? null : "end is not an RFC 3339 time, Unix milliseconds or null";
        }

        if (reader.ValueTextEquals("event"u8))
        {
            reader.Read();
            p.Event = reader.TokenType != JsonTokenType.String ? FlowEvent.None
                : reader.ValueTextEquals("new"u8) ? FlowEvent.New
                : reader.ValueTextEquals("update"u8) ? FlowEvent.Update
                : reader.ValueTextEquals("destroy"u8) ? FlowEvent.Destroy : FlowEvent.None;
            return p.Event == FlowEvent.None ? "event is not new, update or destroy" : null;
        }

        if (reader.ValueTextEquals("proto"u8))
        {
            p.HaveProtocol = true;
            return ReadProtocol(ref reader, out p.Protocol) ? null : "proto is not a known name or a number 0-255";
        }

        if (reader.ValueTextEquals("src"u8))
        {
            return ReadEndpoint(ref reader, ref p.Src, "src.ip is not an IP address");
        }

        if (reader.ValueTextEquals("dst"u8))
        {
            return ReadEndpoint(ref reader, ref p.Dst, "dst.ip is not an IP address");
        }

        if (reader.ValueTextEquals("nat"u8))
        {
            p.HaveNat = true;
            return ReadNat(ref reader, ref p);
        }

        if (reader.ValueTextEquals("icmp"u8))
        {
            p.HaveIcmp = true;
            return ReadIcmp(ref reader, ref p);
        }

        if (reader.ValueTextEquals("bytes_out"u8))
        {
            return ReadCounter(ref reader, out p.BytesOut);
        }

        if (reader.ValueTextEquals("packets_out"u8))
        {
            return ReadCounter(ref reader, out p.PacketsOut);
        }

        if (reader.ValueTextEquals("bytes_in"u8))
        {
            return ReadCounter(ref reader, out p.BytesIn);
        }

        if (reader.ValueTextEquals("packets_in"u8))
        {
            return ReadCounter(ref reader, out p.PacketsIn);
        }

        if (reader.ValueTextEquals("connections"u8))
        {
            reader.Read();
            return reader.TokenType == JsonTokenType.Number && reader.TryGetUInt32(out p.Connections) && p.Connections >= 1
                ? null : "connections is not a whole number from 1";
        }

        if (reader.ValueTextEquals("id"u8))
        {
            p.HaveId = true;
            return ReadId(ref reader, out p.IdHash) ? null : "id is not a string of 1 to 256 bytes";
        }

        if (p.Verdict.TryRead(ref reader, out var verdictError))
        {
            return verdictError;
        }

        reader.Read();
        reader.Skip();
        return null;
    }

    private static bool ReadTime(ref Utf8JsonReader reader, out long unixMs, bool allowNull)
    {
        reader.Read();
        unixMs = 0;
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return allowNull;
            case JsonTokenType.Number:
                return reader.TryGetInt64(out unixMs) && unixMs >= 0;
            case JsonTokenType.String:
                if (reader.ValueIsEscaped)
                {
                    // Dates have nothing to escape; an escaped one is read the slow way rather than refused.
                    Span<byte> buffer = stackalloc byte[64];
                    return reader.ValueSpan.Length <= buffer.Length
                        && reader.CopyString(buffer) is var length && TextParsing.TryParseRfc3339(buffer[..length], out unixMs) && unixMs >= 0;
                }

                return TextParsing.TryParseRfc3339(reader.ValueSpan, out unixMs) && unixMs >= 0;
            default:
                reader.Skip();
                return false;
        }
    }

    private static bool ReadProtocol(ref Utf8JsonReader reader, out byte protocol)
    {
        reader.Read();
        protocol = 0;
        if (reader.TokenType == JsonTokenType.Number)
        {
            return reader.TryGetByte(out protocol);
        }

        if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped || reader.ValueSpan.Length > 16)
        {
            reader.Skip();
            return false;
        }

        Span<byte> lower = stackalloc byte[16];
        var name = reader.ValueSpan;
        for (var i = 0; i < name.Length; i++)
        {
            lower[i] = (byte)char.ToLowerInvariant((char)name[i]);
        }

        return Protocols.TryParseName(lower[..name.Length], out protocol);
    }

    private static string? ReadEndpoint(ref Utf8JsonReader reader, ref Address address, string badIp)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return "src, dst and nat ends must be objects with ip and port";
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("ip"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped || !IpAddressKey.TryParse(reader.ValueSpan, out address.Ip))
                {
                    return badIp;
                }

                address.HaveIp = true;
            }
            else if (reader.ValueTextEquals("port"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt16(out address.Port))
                {
                    return "a port is not a number 0-65535";
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return null;
    }

    private static string? ReadNat(ref Utf8JsonReader reader, ref Parsed p)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return "nat is not an object";
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string? error;
            if (reader.ValueTextEquals("src"u8))
            {
                error = ReadEndpoint(ref reader, ref p.NatSrc, "nat.src.ip is not an IP address");
            }
            else if (reader.ValueTextEquals("dst"u8))
            {
                error = ReadEndpoint(ref reader, ref p.NatDst, "nat.dst.ip is not an IP address");
            }
            else
            {
                reader.Read();
                reader.Skip();
                error = null;
            }

            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }

    private static string? ReadIcmp(ref Utf8JsonReader reader, ref Parsed p)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return "icmp is not an object";
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isType = reader.ValueTextEquals("type"u8);
            var isCode = !isType && reader.ValueTextEquals("code"u8);
            reader.Read();
            if (!isType && !isCode)
            {
                reader.Skip();
                continue;
            }

            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetByte(out var value))
            {
                return "icmp type or code is not a number 0-255";
            }

            if (isType)
            {
                p.IcmpType = value;
            }
            else
            {
                p.IcmpCode = value;
            }
        }

        return null;
    }

    private static string? ReadCounter(ref Utf8JsonReader reader, out ulong value)
    {
        reader.Read();
        value = 0;
        return reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out value) ? null : "a counter is not a whole number from 0";
    }

    /// <summary>A 64-bit FNV-1a hash of the id's text; <see cref="ConnectionKey"/> mixes it further.</summary>
    private static bool ReadId(ref Utf8JsonReader reader, out ulong hash)
    {
        reader.Read();
        hash = 0;
        if (reader.TokenType != JsonTokenType.String || reader.ValueSpan.Length > MaxIdLength * 6)
        {
            reader.Skip();
            return false;
        }

        // The escaped form is never shorter than the text it stands for, so the copy fits.
        Span<byte> buffer = stackalloc byte[MaxIdLength * 6];
        var text = reader.ValueIsEscaped ? buffer[..reader.CopyString(buffer)] : reader.ValueSpan;
        if (text.Length is 0 or > MaxIdLength)
        {
            return false;
        }

        hash = 0xCBF29CE484222325UL;
        foreach (var b in text)
        {
            hash = (hash ^ b) * 0x100000001B3UL;
        }

        return true;
    }

    private struct Address
    {
        public UInt128 Ip;
        public ushort Port;
        public bool HaveIp;
    }

    private struct Parsed
    {
        public bool HaveVersion, HaveStart, HaveProtocol, HaveNat, HaveIcmp, HaveId;
        public long StartMs, EndMs;
        public FlowEvent Event;
        public byte Protocol, IcmpType, IcmpCode;
        public Address Src, Dst, NatSrc, NatDst;
        public ulong BytesOut, PacketsOut, BytesIn, PacketsIn, IdHash;
        public uint Connections;
        public CanonicalVerdict Verdict;
    }
}
