using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// Builds one <see cref="FlowRecord"/> from ulogd2's fields as either reader finds them, and checks the whole
/// when the object is complete: what has been read so far lives here, not in the readers.
/// </summary>
internal ref struct Ulogd2RecordBuilder : IFlatJsonMembers
{
    private readonly ref FlowRecord record;
    private ulong ctId;
    private long startSec = -1;
    private long startUsec;
    private long endSec = -1;
    private long endUsec;
    private bool haveSrc;
    private bool haveDst;
    private bool haveEvent;
    private int haveReply;
    private int icmpType = -1;
    private int icmpCode;
    private ReadOnlySpan<byte> timestamp;

    /// <summary>Starts a record in <paramref name="target"/>, blanking what it held.</summary>
    public Ulogd2RecordBuilder(ref FlowRecord target)
    {
        record = ref target;
        record = FlowRecord.Blank;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Member(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, FlatJsonValueKind kind, ulong integer, out string? reason)
    {
        var field = Ulogd2Fields.Of(key);
        if (field == Ulogd2Field.Other)
        {
            reason = null;
            return true;
        }

        return Apply(field, value, kind, integer, out reason);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Apply(Ulogd2Field field, ReadOnlySpan<byte> value, FlatJsonValueKind kind, ulong number, out string? reason)
    {
        reason = null;
        switch (field)
        {
            case Ulogd2Field.Src:
                haveSrc = true;
                return Address(value, kind, out record.SrcIp, field, out reason);
            case Ulogd2Field.Dst:
                haveDst = true;
                return Address(value, kind, out record.DstIp, field, out reason);
            case Ulogd2Field.ReplySrc:
                haveReply++;
                return Address(value, kind, out record.NatDstIp, field, out reason);
            case Ulogd2Field.ReplyDst:
                haveReply++;
                return Address(value, kind, out record.NatSrcIp, field, out reason);
            case Ulogd2Field.Timestamp:
                timestamp = kind == FlatJsonValueKind.String ? value : default;
                return true;
        }

        if (kind != FlatJsonValueKind.Integer || number > Ulogd2Fields.Max(field))
        {
            reason = Ulogd2Fields.TypeReason(field);
            return false;
        }

        switch (field)
        {
            case Ulogd2Field.SrcPort: record.SrcPort = (ushort)number; break;
            case Ulogd2Field.DstPort: record.DstPort = (ushort)number; break;
            case Ulogd2Field.ReplySrcPort: record.NatDstPort = (ushort)number; break;
            case Ulogd2Field.ReplyDstPort: record.NatSrcPort = (ushort)number; break;
            case Ulogd2Field.Protocol: record.Protocol = (byte)number; break;
            case Ulogd2Field.BytesOut: record.BytesOut = number; break;
            case Ulogd2Field.PacketsOut: record.PacketsOut = number; break;
            case Ulogd2Field.BytesIn: record.BytesIn = number; break;
            case Ulogd2Field.PacketsIn: record.PacketsIn = number; break;
            case Ulogd2Field.ConntrackId: ctId = number; break;
            case Ulogd2Field.Event: record.Event = (FlowEvent)number; haveEvent = true; break;
            case Ulogd2Field.StartSec: startSec = (long)number; break;
            case Ulogd2Field.StartUsec: startUsec = (long)number; break;
            case Ulogd2Field.EndSec: endSec = (long)number; break;
            case Ulogd2Field.EndUsec: endUsec = (long)number; break;
            case Ulogd2Field.IcmpType: icmpType = (int)number; break;
            case Ulogd2Field.IcmpCode: icmpCode = (int)number; break;
        }

        return true;
    }

    public readonly DecodeStatus Finish(out string? reason)
    {
        if (!haveSrc || !haveDst)
        {
            reason = "src_ip or dest_ip is missing";
            return DecodeStatus.Invalid;
        }

        var start = startSec;
        if (start < 0)
        {
            // DESTROY records of ulogd2 without flow timestamps carry no start; the event time stands in.
            // ulogd2 writes its local wall clock without a zone; hosts shipping flows are expected to run in UTC.
            if (!TryParseWallClock(timestamp, out start))
            {
                reason = "neither flow.start.sec nor timestamp is present";
                return DecodeStatus.Invalid;
            }
        }

        if (Protocols.IsIcmp(record.Protocol) && icmpType >= 0)
        {
            record.SrcPort = 0;
            record.DstPort = Protocols.IcmpPort((byte)icmpType, (byte)icmpCode);
            record.NatSrcPort = 0;
            record.NatDstPort = record.DstPort;
        }

        if (haveReply != 2)
        {
            // Without both reply addresses the post-NAT tuple is unknown; enrichment takes the original one.
            record.NatSrcIp = record.NatDstIp = UInt128.Zero;
            record.NatSrcPort = record.NatDstPort = 0;
        }

        if (!haveEvent)
        {
            // Without an event type the record is read as a complete flow, the way ulogd2 logs DESTROY-only stacks.
            record.Event = FlowEvent.Destroy;
        }

        record.StartMs = (start * 1000) + (startUsec / 1000);
        record.EndMs = endSec < 0 ? 0 : (endSec * 1000) + (endUsec / 1000);
        // conntrack ids identify a live connection on its host; with the original tuple they identify it across
        // its records. Not every record carries the start (ulogd2's DESTROY often has only flow.end), so the
        // start joins the key only when there is no conntrack id.
        record.ConnectionId = ConnectionKey.Compute(ctId, ctId == 0 ? start : 0, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
        reason = null;
        return DecodeStatus.Ok;
    }

    /// <summary>Parses <c>yyyy-MM-ddTHH:mm:ss</c> (ulogd2's form) without allocating; other forms the slow way.</summary>
    internal static bool TryParseWallClock(ReadOnlySpan<byte> text, out long unixSeconds)
    {
        unixSeconds = 0;
        if (text.IsEmpty)
        {
            return false;
        }

        if (text.Length == 19 && text[4] == (byte)'-' && text[7] == (byte)'-' && text[10] == (byte)'T' && text[13] == (byte)':' && text[16] == (byte)':' &&
            TextParsing.TryDigits(text[..4], out var year) && TextParsing.TryDigits(text.Slice(5, 2), out var month) && TextParsing.TryDigits(text.Slice(8, 2), out var day) &&
            TextParsing.TryDigits(text.Slice(11, 2), out var hour) && TextParsing.TryDigits(text.Slice(14, 2), out var minute) && TextParsing.TryDigits(text.Slice(17, 2), out var second) &&
            month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(Math.Max(year, 1), month) && hour < 24 && minute < 60 && second < 60 && year >= 1)
        {
            unixSeconds = new DateTimeOffset(year, month, day, hour, minute, second, TimeSpan.Zero).ToUnixTimeSeconds();
            return true;
        }

        if (DateTime.TryParse(Encoding.UTF8.GetString(text), CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var wall))
        {
            unixSeconds = new DateTimeOffset(wall, TimeSpan.Zero).ToUnixTimeSeconds();
            return true;
        }

        return false;
    }

    private static bool Address(ReadOnlySpan<byte> value, FlatJsonValueKind kind, out UInt128 address, Ulogd2Field field, out string? reason)
    {
        if (kind == FlatJsonValueKind.String && IpAddressKey.TryParse(value, out address))
        {
            reason = null;
            return true;
        }

        address = default;
        reason = Ulogd2Fields.TypeReason(field);
        return false;
    }
}
