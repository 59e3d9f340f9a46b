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
/// ulogd2 writes flat objects of numbers and plain strings, which <see cref="FlatJsonScanner"/> reads in a
/// fraction of what a general JSON reader needs; anything else (nesting, escaped keys) goes to
/// <see cref="Utf8JsonReader"/>. Both look keys up in <see cref="Ulogd2Fields"/> and feed the same
/// <see cref="Ulogd2RecordBuilder"/>, so they agree on every input.
/// </remarks>
public sealed class Ulogd2JsonDecoder : IFlowDecoder
{
    public const string FormatName = "ulogd2-json";

    private const string InvalidString = "a string is not valid UTF-8 or escapes half a surrogate pair";

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        var builder = new Ulogd2RecordBuilder(ref record);
        var scan = FlatJsonScanner.Scan(message, ref builder, out reason);
        if (scan == FlatJsonScan.Unsupported)
        {
            builder = new Ulogd2RecordBuilder(ref record);
            scan = ReadGeneral(message, ref builder, out reason);
        }

        if (scan == FlatJsonScan.Done)
        {
            return builder.Finish(out reason);
        }

        reason ??= FlatJsonScanner.Malformed;
        return DecodeStatus.Invalid;
    }

    /// <summary>The general path: any valid JSON object, through <see cref="Utf8JsonReader"/>.</summary>
    private static FlatJsonScan ReadGeneral(ReadOnlySpan<byte> message, ref Ulogd2RecordBuilder builder, out string? reason)
    {
        var reader = new Utf8JsonReader(message, new JsonReaderOptions { MaxDepth = 16 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                reason = FlatJsonScanner.NotAnObject;
                return FlatJsonScan.Invalid;
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
                    return FlatJsonScan.Done;
                }

                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                var field = FieldOf(ref reader);
                reader.Read();
                if (field == Ulogd2Field.Other || reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    if (field != Ulogd2Field.Other)
                    {
                        reason = Ulogd2Fields.TypeReason(field);
                        return FlatJsonScan.Invalid;
                    }

                    reader.Skip();
                    continue;
                }

                ReadOnlySpan<byte> value = default;
                var kind = FlatJsonValueKind.Other;
                byte[]? unescaped = null;
                if (reader.TokenType == JsonTokenType.String)
                {
                    kind = FlatJsonValueKind.String;
                    if (reader.ValueIsEscaped && !TryUnescape(ref reader, out unescaped))
                    {
                        reason = InvalidString;
                        return FlatJsonScan.Invalid;
                    }

                    value = reader.ValueSpan;
                }
                else if (reader.TokenType == JsonTokenType.Number)
                {
                    kind = FlatJsonValueKind.Number;
                    value = reader.ValueSpan;
                }

                ulong integer = 0;
                if (kind == FlatJsonValueKind.Number && reader.TryGetUInt64(out integer))
                {
                    kind = FlatJsonValueKind.Integer;
                }

                if (!builder.Apply(field, unescaped is null ? value : unescaped.AsSpan(), kind, integer, out reason))
                {
                    return FlatJsonScan.Invalid;
                }
            }
        }
        catch (JsonException)
        {
            reason = FlatJsonScanner.Malformed;
            return FlatJsonScan.Invalid;
        }

        reason = FlatJsonScanner.Malformed;
        return FlatJsonScan.Invalid;
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

    private static Ulogd2Field FieldOf(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            return Ulogd2Fields.Of(reader.ValueSpan);
        }

        // Known names are short; an escaped or split name is unescaped into a small buffer first.
        Span<byte> name = stackalloc byte[32];
        return TryCopy(ref reader, name, out var length) ? Ulogd2Fields.Of(name[..length]) : Ulogd2Field.Other;
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
}
