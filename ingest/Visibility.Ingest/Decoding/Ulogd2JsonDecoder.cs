using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// ulogd2's JSON output for the NFCT (conntrack) stack: one object per event with flat dotted keys
/// (<c>orig.l4.sport</c>, <c>reply.raw.pktlen</c>, <c>ct.id</c>, <c>ct.event</c>, <c>flow.start.sec</c>, …).
/// A connection usually appears twice, as NEW and as DESTROY with its final counters; both records get the same
/// <see cref="FlowRecord.ConnectionId"/> (from <c>ct.id</c>, the start second and the original tuple), so the
/// store counts the connection once. Counters are cumulative: the latest record of a connection is its total,
/// so interim UPDATE records of a long-lived connection refine its counters and are never added twice.
/// The reply tuple (<c>reply.ip.saddr.str</c>, <c>reply.l4.sport</c>, …) gives the post-NAT addresses.
/// </summary>
/// <remarks>
/// ulogd2 writes flat objects of numbers and plain strings. A scanner for exactly that shape reads a record in
/// a fraction of what a general JSON reader needs; anything else (nesting, escaped keys) goes to
/// <see cref="Utf8JsonReader"/>, and both feed the same field handling, so they agree on every input.
/// </remarks>
public sealed class Ulogd2JsonDecoder : IFlowDecoder
{
    public const string FormatName = "ulogd2-json";

    private const string Malformed = "malformed JSON";
    private const string InvalidString = "a string is not valid UTF-8 or escapes half a surrogate pair";

    // ulogd2's records have about 60 quotes; a record with more is read by the general reader.
    private const int MaxQuotes = 256;


    private enum Field
    {
        Other,
        Src,
        Dst,
        SrcPort,
        DstPort,
        Protocol,
        BytesOut,
        PacketsOut,
        BytesIn,
        PacketsIn,
        ConntrackId,
        Event,
        StartSec,
        StartUsec,
        EndSec,
        EndUsec,
        Timestamp,
        ReplySrc,
        ReplyDst,
        ReplySrcPort,
        ReplyDstPort,
        IcmpType,
        IcmpCode,
    }

    private enum ValueKind
    {
        String,

        /// <summary>An unsigned integer, already parsed.</summary>
        Integer,

        /// <summary>Any other JSON number (negative, fractional, out of range).</summary>
        Number,
        Other,
    }

    private enum Scan
    {
        Done,
        Invalid,
        Unsupported,
    }

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        var state = default(State);
        state.Reset(ref record);
        var scan = ScanFlat(message, ref state, ref record, out reason);
        if (scan == Scan.Unsupported)
        {
            state.Reset(ref record);
            scan = ReadGeneral(message, ref state, ref record, out reason);
        }

        if (scan == Scan.Done)
        {
            return state.Finish(ref record, out reason);
        }

        reason ??= Malformed;
        return DecodeStatus.Invalid;
    }

    /// <summary>Reads a flat object of numbers, plain strings and literals; defers anything else.</summary>
    private static Scan ScanFlat(ReadOnlySpan<byte> s, ref State state, ref FlowRecord record, out string? reason)
    {
        reason = Malformed;
        var i = SkipSpace(s, 0);
        if (i >= s.Length)
        {
            return Scan.Invalid;
        }

        if (s[i] != (byte)'{')
        {
            reason = "not a JSON object";
            return s[i] is (byte)'[' or (byte)'"' or (byte)'-' or (>= (byte)'0' and <= (byte)'9') or (byte)'t' or (byte)'f' or (byte)'n'
                ? Scan.Invalid
                : Scan.Unsupported;
        }

        i = SkipSpace(s, i + 1);
        if (i < s.Length && s[i] == (byte)'}')
        {
            return SkipSpace(s, i + 1) == s.Length ? Scan.Done : Scan.Invalid;
        }

        // Every quote's position, found with vector compares in one pass; keys and strings then end where the next
        // quote is, with no per-byte loop. Escapes (and unusually many strings) go to the general reader.
        Span<int> quotes = stackalloc int[MaxQuotes];
        var quoteCount = IndexQuotes(s, quotes);
        if (quoteCount < 0)
        {
            return Scan.Unsupported;
        }

        var q = 0;
        while (true)
        {
            if (i >= s.Length || s[i] != (byte)'"')
            {
                return Scan.Invalid;
            }

            if (q + 1 >= quoteCount || quotes[q] != i)
            {
                return Scan.Invalid;
            }

            var key = s[(i + 1)..quotes[q + 1]];
            i = quotes[q + 1];
            q += 2;
            if (i + 2 < s.Length && s[i + 1] == (byte)':' && s[i + 2] == (byte)' ')
            {
                // ulogd2's own separator.
                i += 3;
            }
            else
            {
                i = SkipSpace(s, i + 1);
                if (i >= s.Length || s[i] != (byte)':')
                {
                    return Scan.Invalid;
                }

                i = SkipSpace(s, i + 1);
            }

            if (i >= s.Length)
            {
                return Scan.Invalid;
            }

            ReadOnlySpan<byte> value;
            ValueKind kind;
            ulong integer = 0;
            var c = s[i];
            if (c == (byte)'"')
            {
                if (q + 1 >= quoteCount || quotes[q] != i)
                {
                    return Scan.Invalid;
                }

                value = s[(i + 1)..quotes[q + 1]];
                kind = ValueKind.String;
                i = quotes[q + 1] + 1;
                q += 2;
            }
            else if (c >= (byte)'0' && c <= (byte)'9')
            {
                // Unsigned integers, the common case, are parsed in the same pass; anything else is handed over as text.
                var start = i;
                ulong acc = 0;
                var overflow = false;
                while (i < s.Length && s[i] - (uint)'0' <= 9)
                {
                    var digit = (uint)(s[i] - '0');
                    overflow |= acc > (ulong.MaxValue - digit) / 10;
                    acc = (acc * 10) + digit;
                    i++;
                }

                if (i < s.Length && s[i] is (byte)'.' or (byte)'e' or (byte)'E')
                {
                    while (i < s.Length && s[i] is (>= (byte)'0' and <= (byte)'9') or (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-')
                    {
                        i++;
                    }

                    overflow = true;
                }

                value = s[start..i];
                kind = overflow ? ValueKind.Number : ValueKind.Integer;
                integer = acc;
            }
            else if (c == (byte)'-')
            {
                var start = i;
                i++;
                while (i < s.Length && s[i] is (>= (byte)'0' and <= (byte)'9') or (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-')
                {
                    i++;
                }

                value = s[start..i];
                kind = ValueKind.Number;
            }
            else if (s[i..].StartsWith("true"u8) || s[i..].StartsWith("null"u8))
            {
                value = default;
                kind = ValueKind.Other;
                i += 4;
            }
            else if (s[i..].StartsWith("false"u8))
            {
                value = default;
                kind = ValueKind.Other;
                i += 5;
            }
            else if (c is (byte)'{' or (byte)'[')
            {
                return Scan.Unsupported;
            }
            else
            {
                return Scan.Invalid;
            }

            if (FieldOf(key) is var field && field != Field.Other && !state.Apply(field, value, kind, integer, ref record, out reason))
            {
                return Scan.Invalid;
            }

            i = SkipSpace(s, i);
            if (i >= s.Length)
            {
                reason = Malformed;
                return Scan.Invalid;
            }

            if (s[i] == (byte)',')
            {
                i = i + 1 < s.Length && s[i + 1] == (byte)' ' ? i + 2 : SkipSpace(s, i + 1);
                continue;
            }

            reason = Malformed;
            if (s[i] != (byte)'}')
            {
                return Scan.Invalid;
            }

            return SkipSpace(s, i + 1) == s.Length ? Scan.Done : Scan.Invalid;
        }
    }

    /// <summary>The general path: any valid JSON object, through <see cref="Utf8JsonReader"/>.</summary>
    private static Scan ReadGeneral(ReadOnlySpan<byte> message, ref State state, ref FlowRecord record, out string? reason)
    {
        var reader = new Utf8JsonReader(message, new JsonReaderOptions { MaxDepth = 16 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                reason = "not a JSON object";
                return Scan.Invalid;
            }

            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    // Nothing may follow the object.
                    while (reader.Read())
                    {
                    }

                    reason = null;
                    return Scan.Done;
                }

                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                var field = FieldOf(ref reader);
                reader.Read();
                if (field == Field.Other || reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    if (field != Field.Other)
                    {
                        reason = FieldTypeReason(field);
                        return Scan.Invalid;
                    }

                    reader.Skip();
                    continue;
                }

                ReadOnlySpan<byte> value = default;
                var kind = ValueKind.Other;
                byte[]? unescaped = null;
                if (reader.TokenType == JsonTokenType.String)
                {
                    kind = ValueKind.String;
                    if (reader.ValueIsEscaped && !TryUnescape(ref reader, out unescaped))
                    {
                        reason = InvalidString;
                        return Scan.Invalid;
                    }

                    value = reader.ValueSpan;
                }
                else if (reader.TokenType == JsonTokenType.Number)
                {
                    kind = ValueKind.Number;
                    value = reader.ValueSpan;
                }

                ulong integer = 0;
                if (kind == ValueKind.Number && reader.TryGetUInt64(out integer))
                {
                    kind = ValueKind.Integer;
                }

                if (!state.Apply(field, unescaped is null ? value : unescaped.AsSpan(), kind, integer, ref record, out reason))
                {
                    return Scan.Invalid;
                }
            }
        }
        catch (JsonException)
        {
            reason = Malformed;
            return Scan.Invalid;
        }

        reason = Malformed;
        return Scan.Invalid;
    }

    /// <summary>
    /// An escaped string's value as UTF-8. The reader passes invalid UTF-8 and unpaired surrogate escapes
    /// (<c>\ud800</c>) inside strings; they surface only here, as an <see cref="InvalidOperationException"/>.
    /// </summary>
    private static bool TryUnescape(ref Utf8JsonReader reader, out byte[]? unescaped)
    {
        try
        {
            unescaped = Encoding.UTF8.GetBytes(reader.GetString()!);
            return true;
        }
        catch (InvalidOperationException)
        {
            unescaped = null;
            return false;
        }
    }

    /// <summary>
    /// Writes the position of every <c>"</c> in <paramref name="s"/> to <paramref name="positions"/> and returns
    /// how many there are; -1 when the text has a backslash or more quotes than fit.
    /// </summary>
    private static int IndexQuotes(ReadOnlySpan<byte> s, Span<int> positions)
    {
        var count = 0;
        var i = 0;
        ref var start = ref MemoryMarshal.GetReference(s);
        if (Vector256.IsHardwareAccelerated)
        {
            var quote = Vector256.Create((byte)'"');
            var backslash = Vector256.Create((byte)'\\');
            for (; i + Vector256<byte>.Count <= s.Length; i += Vector256<byte>.Count)
            {
                var chunk = Vector256.LoadUnsafe(ref start, (nuint)i);
                if (Vector256.EqualsAny(chunk, backslash))
                {
                    return -1;
                }

                var mask = Vector256.Equals(chunk, quote).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    if (count == positions.Length)
                    {
                        return -1;
                    }

                    positions[count++] = i + BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                }
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var quote = Vector128.Create((byte)'"');
            var backslash = Vector128.Create((byte)'\\');
            for (; i + Vector128<byte>.Count <= s.Length; i += Vector128<byte>.Count)
            {
                var chunk = Vector128.LoadUnsafe(ref start, (nuint)i);
                if (Vector128.EqualsAny(chunk, backslash))
                {
                    return -1;
                }

                var mask = Vector128.Equals(chunk, quote).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    if (count == positions.Length)
                    {
                        return -1;
                    }

                    positions[count++] = i + BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                }
            }
        }

        for (; i < s.Length; i++)
        {
            if (s[i] == (byte)'\\')
            {
                return -1;
            }

            if (s[i] == (byte)'"')
            {
                if (count == positions.Length)
                {
                    return -1;
                }

                positions[count++] = i;
            }
        }

        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SkipSpace(ReadOnlySpan<byte> s, int i)
    {
        // ulogd2 separates with exactly one space; check that first.
        if ((uint)i < (uint)s.Length && s[i] > (byte)' ')
        {
            return i;
        }

        while (i < s.Length && s[i] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
        {
            i++;
        }

        return i;
    }

    // The names ulogd2 writes for the NFCT stack, by length; comparisons with constants the JIT unrolls.
    private static Field FieldOf(ReadOnlySpan<byte> name) => name.Length switch
    {
        5 => name.SequenceEqual("ct.id"u8) ? Field.ConntrackId : Field.Other,
        6 => name.SequenceEqual("src_ip"u8) ? Field.Src : Field.Other,
        7 => name.SequenceEqual("dest_ip"u8) ? Field.Dst : Field.Other,
        8 => name.SequenceEqual("ct.event"u8) ? Field.Event : Field.Other,
        9 => name.SequenceEqual("timestamp"u8) ? Field.Timestamp
            : name.SequenceEqual("icmp.type"u8) ? Field.IcmpType
            : name.SequenceEqual("icmp.code"u8) ? Field.IcmpCode : Field.Other,
        11 => name.SequenceEqual("icmpv6.type"u8) ? Field.IcmpType
            : name.SequenceEqual("icmpv6.code"u8) ? Field.IcmpCode : Field.Other,
        12 => name.SequenceEqual("flow.end.sec"u8) ? Field.EndSec : Field.Other,
        13 => name.SequenceEqual("orig.l4.sport"u8) ? Field.SrcPort
            : name.SequenceEqual("orig.l4.dport"u8) ? Field.DstPort
            : name.SequenceEqual("flow.end.usec"u8) ? Field.EndUsec : Field.Other,
        14 => name.SequenceEqual("flow.start.sec"u8) ? Field.StartSec
            : name.SequenceEqual("reply.l4.sport"u8) ? Field.ReplySrcPort
            : name.SequenceEqual("reply.l4.dport"u8) ? Field.ReplyDstPort : Field.Other,
        15 => name.SequenceEqual("orig.raw.pktlen"u8) ? Field.BytesOut
            : name.SequenceEqual("flow.start.usec"u8) ? Field.StartUsec : Field.Other,
        16 => name.SequenceEqual("orig.ip.protocol"u8) ? Field.Protocol
            : name.SequenceEqual("reply.raw.pktlen"u8) ? Field.BytesIn : Field.Other,
        17 => name.SequenceEqual("orig.raw.pktcount"u8) ? Field.PacketsOut
            : name.SequenceEqual("orig.ip.saddr.str"u8) ? Field.Src
            : name.SequenceEqual("orig.ip.daddr.str"u8) ? Field.Dst : Field.Other,
        18 => name.SequenceEqual("reply.raw.pktcount"u8) ? Field.PacketsIn
            : name.SequenceEqual("reply.ip.saddr.str"u8) ? Field.ReplySrc
            : name.SequenceEqual("reply.ip.daddr.str"u8) ? Field.ReplyDst : Field.Other,
        _ => Field.Other,
    };

    private static Field FieldOf(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            return FieldOf(reader.ValueSpan);
        }

        // Known names are short; an escaped or split name is unescaped into a small buffer first.
        Span<byte> name = stackalloc byte[32];
        return TryCopy(ref reader, name, out var length) ? FieldOf(name[..length]) : Field.Other;
    }

    private static bool TryCopy(ref Utf8JsonReader reader, scoped Span<byte> buffer, out int length)
    {
        try
        {
            length = reader.CopyString(buffer);
            return true;
        }
        catch (ArgumentException)
        {
            // Longer than any known name.
            length = 0;
            return false;
        }
        catch (InvalidOperationException)
        {
            // Invalid UTF-8 or half a surrogate pair in the escaped name: no known name is like that.
            length = 0;
            return false;
        }
    }

    private static string FieldTypeReason(Field field) => field switch
    {
        Field.Src => "src_ip is not an IP address",
        Field.Dst => "dest_ip is not an IP address",
        Field.ReplySrc => "reply.ip.saddr.str is not an IP address",
        Field.ReplyDst => "reply.ip.daddr.str is not an IP address",
        Field.Timestamp => "timestamp is not a string",
        _ => "a numeric field is not a number in range",
    };

    /// <summary>What has been read of one record so far, and the checks made when it is complete.</summary>
    private ref struct State
    {
        private ulong ctId;
        private long startSec;
        private long startUsec;
        private long endSec;
        private long endUsec;
        private bool haveSrc;
        private bool haveDst;
        private bool haveEvent;
        private int haveReply;
        private int icmpType;
        private int icmpCode;
        private ReadOnlySpan<byte> timestamp;

        public void Reset(ref FlowRecord record)
        {
            this = default;
            startSec = -1;
            icmpType = -1;
            endSec = -1;
            record = FlowRecord.Blank;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Apply(Field field, ReadOnlySpan<byte> value, ValueKind kind, ulong number, ref FlowRecord record, out string? reason)
        {
            reason = null;
            switch (field)
            {
                case Field.Src:
                    haveSrc = true;
                    return Address(value, kind, out record.SrcIp, field, out reason);
                case Field.Dst:
                    haveDst = true;
                    return Address(value, kind, out record.DstIp, field, out reason);
                case Field.ReplySrc:
                    haveReply++;
                    return Address(value, kind, out record.NatDstIp, field, out reason);
                case Field.ReplyDst:
                    haveReply++;
                    return Address(value, kind, out record.NatSrcIp, field, out reason);
                case Field.Timestamp:
                    timestamp = kind == ValueKind.String ? value : default;
                    return true;
            }

            if (kind != ValueKind.Integer)
            {
                reason = FieldTypeReason(field);
                return false;
            }

            var max = field switch
            {
                Field.SrcPort or Field.DstPort or Field.ReplySrcPort or Field.ReplyDstPort => ushort.MaxValue,
                Field.Protocol or Field.IcmpType or Field.IcmpCode => byte.MaxValue,
                Field.Event => 7UL,
                Field.ConntrackId or Field.StartSec or Field.EndSec => uint.MaxValue,
                Field.StartUsec or Field.EndUsec => 999_999UL,
                _ => ulong.MaxValue,
            };
            if (number > max)
            {
                reason = FieldTypeReason(field);
                return false;
            }

            switch (field)
            {
                case Field.SrcPort: record.SrcPort = (ushort)number; break;
                case Field.DstPort: record.DstPort = (ushort)number; break;
                case Field.ReplySrcPort: record.NatDstPort = (ushort)number; break;
                case Field.ReplyDstPort: record.NatSrcPort = (ushort)number; break;
                case Field.Protocol: record.Protocol = (byte)number; break;
                case Field.BytesOut: record.BytesOut = number; break;
                case Field.PacketsOut: record.PacketsOut = number; break;
                case Field.BytesIn: record.BytesIn = number; break;
                case Field.PacketsIn: record.PacketsIn = number; break;
                case Field.ConntrackId: ctId = number; break;
                case Field.Event: record.Event = (FlowEvent)number; haveEvent = true; break;
                case Field.StartSec: startSec = (long)number; break;
                case Field.StartUsec: startUsec = (long)number; break;
                case Field.EndSec: endSec = (long)number; break;
                case Field.EndUsec: endUsec = (long)number; break;
                case Field.IcmpType: icmpType = (int)number; break;
                case Field.IcmpCode: icmpCode = (int)number; break;
            }

            return true;
        }

        public readonly DecodeStatus Finish(ref FlowRecord record, out string? reason)
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

            if (record.Protocol is 1 or 58 && icmpType >= 0)
            {
                // ICMP has no ports; like NetFlow, the destination port carries type and code.
                record.SrcPort = 0;
                record.DstPort = (ushort)((icmpType << 8) | icmpCode);
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
        private static bool TryParseWallClock(ReadOnlySpan<byte> text, out long unixSeconds)
        {
            unixSeconds = 0;
            if (text.IsEmpty)
            {
                return false;
            }

            if (text.Length == 19 && text[4] == (byte)'-' && text[7] == (byte)'-' && text[10] == (byte)'T' && text[13] == (byte)':' && text[16] == (byte)':' &&
                Digits(text[..4], out var year) && Digits(text.Slice(5, 2), out var month) && Digits(text.Slice(8, 2), out var day) &&
                Digits(text.Slice(11, 2), out var hour) && Digits(text.Slice(14, 2), out var minute) && Digits(text.Slice(17, 2), out var second) &&
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

        private static bool Digits(ReadOnlySpan<byte> text, out int value)
        {
            value = 0;
            foreach (var c in text)
            {
                if (c is < (byte)'0' or > (byte)'9')
                {
                    return false;
                }

                value = (value * 10) + (c - '0');
            }

            return true;
        }

        private static bool Address(ReadOnlySpan<byte> value, ValueKind kind, out UInt128 address, Field field, out string? reason)
        {
            if (kind == ValueKind.String && IpAddressKey.TryParse(value, out address))
            {
                reason = null;
                return true;
            }

            address = default;
            reason = FieldTypeReason(field);
            return false;
        }
    }
}
