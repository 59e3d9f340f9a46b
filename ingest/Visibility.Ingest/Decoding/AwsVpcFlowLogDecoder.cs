using System.Collections.Frozen;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// AWS VPC Flow Logs, versions 2 to 8: one space-separated record per message, fields in the flow log's
/// format. The default (version 2) order is <see cref="DefaultFields"/>; a custom format is given to the
/// constructor (field names as in the format string, with or without <c>${…}</c>), or arrives as a header line
/// (S3 delivery starts each file with the field names), which sets the order for the records after it on this
/// instance. Several consumers that do not all see the header need the order configured. Unknown field names are
/// accepted and ignored, so newer fields do not break decoding.
/// <para>
/// A record is one direction of traffic on one network interface during a capture window: its source and
/// destination are as logged, bytes and packets go to the out direction, <c>start</c>/<c>end</c> (Unix seconds)
/// bound the window, and the event is <see cref="FlowEvent.Destroy"/> (the record is final). The
/// <see cref="FlowRecord.ConnectionId"/> is the tuple and the start second without the interface, so the same
/// traffic logged by the interfaces at both ends counts once when the windows start together. NODATA and
/// SKIPDATA records carry no flow and are skipped.
/// </para>
/// <para>
/// <c>pkt-srcaddr</c>/<c>pkt-dstaddr</c> (version 3) are the addresses in the packet, <c>srcaddr</c>/<c>dstaddr</c>
/// those of the interface that logged it; they differ behind a NAT gateway or for EKS pods on secondary
/// addresses. The packet addresses name the peers, so they become the source and destination, and the interface
/// addresses the NAT tuple (equal to the original when nothing was translated). Without the pkt fields the NAT
/// tuple is unknown and left to enrichment.
/// </para>
/// </summary>
public sealed class AwsVpcFlowLogDecoder : IFlowDecoder
{
    public const string FormatName = "aws-vpc";

    /// <summary>The version 2 default format.</summary>
    public static readonly IReadOnlyList<string> DefaultFields =
    [
        "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
        "packets", "bytes", "start", "end", "action", "log-status",
    ];

    private const int MaxFields = 64;

    // Salts the ids of rejected windows (see Decode).
    private const ulong RejectSalt = 0x5E7E_C7ED_0A75_0001UL;

    // reject-reason values (BPA, …) repeat: made once each, then shared.
    private static readonly TextCache<string> Reasons = new(text => text);

    // Every field AWS documents for VPC flow logs (versions 2-8); a header line is recognised by its first name.
    private static readonly FrozenSet<string> KnownNames = FrozenSet.Create(StringComparer.Ordinal,
    [
        "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
        "bytes", "start", "end", "action", "log-status", "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type",
        "pkt-srcaddr", "pkt-dstaddr", "region", "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service",
        "pkt-dst-aws-service", "flow-direction", "traffic-path", "ecs-cluster-arn", "ecs-cluster-name",
        "ecs-container-instance-arn", "ecs-container-instance-id", "ecs-container-id", "ecs-second-container-id",
        "ecs-service-name", "ecs-task-definition-arn", "ecs-task-arn", "ecs-task-id", "reject-reason",
    ]);

    private static readonly FrozenDictionary<string, Field> Fields = new Dictionary<string, Field>(StringComparer.Ordinal)
    {
        ["srcaddr"] = Field.SrcAddr,
        ["dstaddr"] = Field.DstAddr,
        ["srcport"] = Field.SrcPort,
        ["dstport"] = Field.DstPort,
        ["protocol"] = Field.Protocol,
        ["packets"] = Field.Packets,
        ["bytes"] = Field.Bytes,
        ["start"] = Field.Start,
        ["end"] = Field.End,
        ["log-status"] = Field.LogStatus,
        ["action"] = Field.Action,
        ["reject-reason"] = Field.RejectReason,
        ["pkt-srcaddr"] = Field.PktSrcAddr,
        ["pkt-dstaddr"] = Field.PktDstAddr,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    // Replaced whole by a header line; readers take one consistent order per record.
    private volatile Field[] order;

    /// <param name="fieldOrder">The flow log's format, one field name each; null or empty for the default format.</param>
    /// <exception cref="ArgumentException">The order lacks srcaddr, dstaddr or start, repeats a field, or is too long.</exception>
    public AwsVpcFlowLogDecoder(IEnumerable<string>? fieldOrder = null)
    {
        var names = fieldOrder?.Select(Normalize).ToList();
        order = TryBuildOrder(names is null || names.Count == 0 ? DefaultFields : names, out var problem)
            ?? throw new ArgumentException($"AWS VPC flow log field order: {problem}", nameof(fieldOrder));
    }

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

        var position = 0;
        var first = TextParsing.NextToken(line, ref position);
        if (first.Length > 0 && char.IsAsciiLetterLower((char)first[0]) && IsKnownName(first))
        {
            return ReadHeader(line, out reason);
        }

        var fields = order;
        var v = new Values { StartSec = -1, EndSec = -1 };
        position = 0;
        var count = 0;
        for (var token = TextParsing.NextToken(line, ref position); !token.IsEmpty; token = TextParsing.NextToken(line, ref position))
        {
            if (count == fields.Length)
            {
                reason = "more fields than the field order";
                return DecodeStatus.Invalid;
            }

            if (fields[count] == Field.RejectReason && !(token.Length == 1 && token[0] == '-'))
            {
                // Kept as a slice of the line and made a shared string only when the record is a rejection.
                (v.ReasonStart, v.ReasonLength) = (position - token.Length, token.Length);
            }

            reason = v.Set(fields[count++], token);
            if (reason is not null)
            {
                return DecodeStatus.Invalid;
            }
        }

        if (count != fields.Length)
        {
            reason = "fewer fields than the field order";
            return DecodeStatus.Invalid;
        }

        switch (v.Status)
        {
            case LogStatus.NoData:
                reason = "NODATA: no traffic in the capture window";
                return DecodeStatus.Skipped;
            case LogStatus.SkipData:
                reason = "SKIPDATA: records skipped in the capture window";
                return DecodeStatus.Skipped;
        }

        if (!v.HaveSrc || !v.HaveDst)
        {
            if (!v.HaveSrc && !v.HaveDst && v.Status == LogStatus.Absent)
            {
                // Formats without log-status show a no-data window only by its empty addresses.
                reason = "no traffic in the capture window";
                return DecodeStatus.Skipped;
            }

            reason = "srcaddr or dstaddr is missing";
            return DecodeStatus.Invalid;
        }

        if (v.StartSec < 0)
        {
            reason = "start is missing";
            return DecodeStatus.Invalid;
        }

        if (v.EndSec >= 0 && v.EndSec < v.StartSec)
        {
            reason = "end is before start";
            return DecodeStatus.Invalid;
        }

        record.Event = FlowEvent.Destroy;
        record.Protocol = v.Protocol;
        record.SrcIp = v.HavePktSrc ? v.PktSrc : v.Src;
        record.DstIp = v.HavePktDst ? v.PktDst : v.Dst;
        record.SrcPort = Protocols.IsIcmp(v.Protocol) ? (ushort)0 : v.SrcPort;
        record.DstPort = v.DstPort;
        if (v.PktFieldsInFormat)
        {
            record.NatSrcIp = v.Src;
            record.NatSrcPort = record.SrcPort;
            record.NatDstIp = v.Dst;
            record.NatDstPort = record.DstPort;
        }

        record.BytesOut = v.Bytes;
        record.PacketsOut = v.Packets;
        record.StartMs = v.StartSec * 1000;
        record.EndMs = v.EndSec < 0 ? 0 : v.EndSec * 1000;
        // Each record covers one capture window of the flow, so its counters are that window's: a long connection's
        // windows add up. Flow logs carry no connection start, so the tuple alone identifies the connection.
        record.CountersAreDeltas = true;
        record.ConnectionId = ConnectionKey.Compute(0, 0, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
        if (v.Rejected)
        {
            // Traffic the security group or network ACL refused: attempts, counted once per record (a capture window
            // of one tuple), with an id of their own so that they never merge with an accepted connection's windows.
            record.Verdict = FlowVerdict.Blocked;
            record.IsAttempt = true;
            record.Event = FlowEvent.New;
            record.ConnectionId = ConnectionKey.Compute(RejectSalt, v.StartSec, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
            if (v.ReasonLength > 0)
            {
                record.VerdictReason = Reasons.Get(line.Slice(v.ReasonStart, v.ReasonLength));
            }
        }

        reason = null;
        return DecodeStatus.Ok;
    }

    private DecodeStatus ReadHeader(ReadOnlySpan<byte> line, out string? reason)
    {
        var names = new List<string>();
        var position = 0;
        for (var token = TextParsing.NextToken(line, ref position); !token.IsEmpty; token = TextParsing.NextToken(line, ref position))
        {
            names.Add(Normalize(System.Text.Encoding.UTF8.GetString(token)));
        }

        var fields = TryBuildOrder(names, out _);
        if (fields is null)
        {
            reason = "header line lacks srcaddr, dstaddr or start, or repeats a field";
            return DecodeStatus.Invalid;
        }

        order = fields;
        reason = "header line";
        return DecodeStatus.Skipped;
    }

    private static bool IsKnownName(ReadOnlySpan<byte> token)
    {
        Span<char> name = stackalloc char[32];
        if (token.Length > name.Length)
        {
            return false;
        }

        for (var i = 0; i < token.Length; i++)
        {
            name[i] = token[i] == '_' ? '-' : (char)token[i];
        }

        return KnownNames.GetAlternateLookup<ReadOnlySpan<char>>().Contains(name[..token.Length]);
    }

    /// <summary><c>${pkt-srcaddr}</c>, <c>pkt_srcaddr</c> and <c>pkt-srcaddr</c> name the same field.</summary>
    private static string Normalize(string name)
    {
        var trimmed = name.Trim();
        if (trimmed.StartsWith("${", StringComparison.Ordinal) && trimmed.EndsWith('}'))
        {
            trimmed = trimmed[2..^1];
        }

        return trimmed.Replace('_', '-').ToLowerInvariant();
    }

    private static Field[]? TryBuildOrder(IReadOnlyList<string> names, out string? problem)
    {
        if (names.Count > MaxFields)
        {
            problem = $"more than {MaxFields} fields";
            return null;
        }

        var fields = new Field[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            fields[i] = Fields.GetValueOrDefault(names[i], Field.Other);
            if (fields[i] != Field.Other && Array.IndexOf(fields, fields[i], 0, i) >= 0)
            {
                problem = $"'{names[i]}' appears twice";
                return null;
            }
        }

        foreach (var required in (Field[])[Field.SrcAddr, Field.DstAddr, Field.Start])
        {
            if (Array.IndexOf(fields, required) < 0)
            {
                problem = "srcaddr, dstaddr and start are required";
                return null;
            }
        }

        problem = null;
        return fields;
    }

    private enum Field : byte
    {
        Other,
        SrcAddr,
        DstAddr,
        SrcPort,
        DstPort,
        Protocol,
        Packets,
        Bytes,
        Start,
        End,
        LogStatus,
        PktSrcAddr,
        PktDstAddr,
        Action,
        RejectReason,
    }

    private enum LogStatus : byte
    {
        Absent,
        Ok,
        NoData,
        SkipData,
    }

    private struct Values
    {
        public UInt128 Src, Dst, PktSrc, PktDst;
        public bool HaveSrc, HaveDst, HavePktSrc, HavePktDst, PktFieldsInFormat;
        public ushort SrcPort, DstPort;
        public byte Protocol;
        public ulong Packets, Bytes;
        public long StartSec, EndSec;
        public LogStatus Status;
        public bool Rejected;
        public int ReasonStart, ReasonLength;

        /// <summary>Reads one field; <c>-</c> means absent. Returns the reason when the value is not valid.</summary>
        public string? Set(Field field, ReadOnlySpan<byte> text)
        {
            PktFieldsInFormat |= field is Field.PktSrcAddr or Field.PktDstAddr;
            if (text.Length == 1 && text[0] == '-')
            {
                return null;
            }

            switch (field)
            {
                case Field.SrcAddr:
                    return (HaveSrc = IpAddressKey.TryParse(text, out Src)) ? null : "srcaddr is not an IP address";
                case Field.DstAddr:
                    return (HaveDst = IpAddressKey.TryParse(text, out Dst)) ? null : "dstaddr is not an IP address";
                case Field.PktSrcAddr:
                    return (HavePktSrc = IpAddressKey.TryParse(text, out PktSrc)) ? null : "pkt-srcaddr is not an IP address";
                case Field.PktDstAddr:
                    return (HavePktDst = IpAddressKey.TryParse(text, out PktDst)) ? null : "pkt-dstaddr is not an IP address";
                case Field.SrcPort or Field.DstPort:
                    if (!TextParsing.TryParseUInt64(text, ushort.MaxValue, out var port))
                    {
                        return "a port is not a number 0-65535";
                    }

                    (field == Field.SrcPort ? ref SrcPort : ref DstPort) = (ushort)port;
                    return null;
                case Field.Protocol:
                    if (!TextParsing.TryParseUInt64(text, byte.MaxValue, out var protocol))
                    {
                        return "protocol is not a number 0-255";
                    }

                    Protocol = (byte)protocol;
                    return null;
                case Field.Packets or Field.Bytes:
                    if (!TextParsing.TryParseUInt64(text, ulong.MaxValue, out var count))
                    {
                        return "packets or bytes is not a number";
                    }

                    (field == Field.Packets ? ref Packets : ref Bytes) = count;
                    return null;
                case Field.Start or Field.End:
                    if (!TextParsing.TryParseUInt64(text, uint.MaxValue, out var seconds))
                    {
                        return "start or end is not Unix seconds";
                    }

                    (field == Field.Start ? ref StartSec : ref EndSec) = (long)seconds;
                    return null;
                case Field.Action:
                    Rejected = text.SequenceEqual("REJECT"u8);
                    return Rejected || text.SequenceEqual("ACCEPT"u8) ? null : "action is not ACCEPT or REJECT";
                case Field.LogStatus:
                    Status = text.SequenceEqual("OK"u8) ? LogStatus.Ok
                        : text.SequenceEqual("NODATA"u8) ? LogStatus.NoData
                        : text.SequenceEqual("SKIPDATA"u8) ? LogStatus.SkipData : LogStatus.Absent;
                    return Status == LogStatus.Absent ? "log-status is not OK, NODATA or SKIPDATA" : null;
                default:
                    return null;
            }
        }
    }
}
