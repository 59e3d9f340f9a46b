using System.Globalization;
using System.Text.Json;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// ulogd2's JSON output for the NFCT (conntrack) stack: one object per event with flat dotted keys
/// (<c>orig.l4.sport</c>, <c>reply.raw.pktlen</c>, <c>ct.id</c>, <c>ct.event</c>, <c>flow.start.sec</c>, …).
/// A connection usually appears twice, as NEW and as DESTROY with its final counters; both records get the same
/// <see cref="FlowRecord.ConnectionId"/> (from <c>ct.id</c>, the start second and the original tuple), so the
/// store counts the connection once. Counters are cumulative: the latest record of a connection is its total.
/// </summary>
public sealed class Ulogd2JsonDecoder : IFlowDecoder
{
    public const string FormatName = "ulogd2-json";

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        record = default;
        record.SourcePartition = -1;
        record.SourceOffset = -1;
        ulong ctId = 0;
        long startSec = -1, startUsec = 0, endSec = -1, endUsec = 0;
        var haveSrc = false;
        var haveDst = false;
        var haveEvent = false;
        ReadOnlySpan<byte> timestamp = default;

        var reader = new Utf8JsonReader(message, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                reason = "not a JSON object";
                return DecodeStatus.Invalid;
            }

            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    break;
                }

                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                switch (FieldOf(ref reader))
                {
                    case Field.Src:
                        if (!ReadAddress(ref reader, out record.SrcIp))
                        {
                            reason = "src_ip is not an IP address";
                            return DecodeStatus.Invalid;
                        }

                        haveSrc = true;
                        break;
                    case Field.Dst:
                        if (!ReadAddress(ref reader, out record.DstIp))
                        {
                            reason = "dest_ip is not an IP address";
                            return DecodeStatus.Invalid;
                        }

                        haveDst = true;
                        break;
                    case Field.SrcPort:
                        record.SrcPort = (ushort)ReadNumber(ref reader, ushort.MaxValue);
                        break;
                    case Field.DstPort:
                        record.DstPort = (ushort)ReadNumber(ref reader, ushort.MaxValue);
                        break;
                    case Field.Protocol:
                        record.Protocol = (byte)ReadNumber(ref reader, byte.MaxValue);
                        break;
                    case Field.BytesOut:
                        record.BytesOut = ReadNumber(ref reader, ulong.MaxValue);
                        break;
                    case Field.PacketsOut:
                        record.PacketsOut = ReadNumber(ref reader, ulong.MaxValue);
                        break;
                    case Field.BytesIn:
                        record.BytesIn = ReadNumber(ref reader, ulong.MaxValue);
                        break;
                    case Field.PacketsIn:
                        record.PacketsIn = ReadNumber(ref reader, ulong.MaxValue);
                        break;
                    case Field.ConntrackId:
                        ctId = ReadNumber(ref reader, uint.MaxValue);
                        break;
                    case Field.Event:
                        record.Event = (FlowEvent)ReadNumber(ref reader, 7);
                        haveEvent = true;
                        break;
                    case Field.StartSec:
                        startSec = (long)ReadNumber(ref reader, uint.MaxValue);
                        break;
                    case Field.StartUsec:
                        startUsec = (long)ReadNumber(ref reader, 999_999);
                        break;
                    case Field.EndSec:
                        endSec = (long)ReadNumber(ref reader, uint.MaxValue);
                        break;
                    case Field.EndUsec:
                        endUsec = (long)ReadNumber(ref reader, 999_999);
                        break;
                    case Field.Timestamp:
                        // Kept as a slice of the message; parsed only when flow.start.sec is absent.
                        reader.Read();
                        timestamp = reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped ? reader.ValueSpan : default;
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
        }
        catch (JsonException)
        {
            reason = "malformed JSON";
            return DecodeStatus.Invalid;
        }
        catch (FormatException)
        {
            reason = "a numeric field is not a number in range";
            return DecodeStatus.Invalid;
        }
        catch (InvalidOperationException)
        {
            reason = "a field has the wrong JSON type";
            return DecodeStatus.Invalid;
        }

        if (!haveSrc || !haveDst)
        {
            reason = "src_ip or dest_ip is missing";
            return DecodeStatus.Invalid;
        }

        if (startSec < 0)
        {
            // ulogd2 writes its local wall clock without a zone; hosts shipping flows are expected to run in UTC.
            if (timestamp.IsEmpty || !DateTime.TryParse(System.Text.Encoding.UTF8.GetString(timestamp), CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var wall))
            {
                reason = "neither flow.start.sec nor timestamp is present";
                return DecodeStatus.Invalid;
            }

            startSec = new DateTimeOffset(wall, TimeSpan.Zero).ToUnixTimeSeconds();
        }

        if (!haveEvent)
        {
            // Without an event type the record is read as a complete flow, the way ulogd2 logs DESTROY-only stacks.
            record.Event = FlowEvent.Destroy;
        }

        record.StartMs = (startSec * 1000) + (startUsec / 1000);
        record.EndMs = endSec < 0 ? 0 : (endSec * 1000) + (endUsec / 1000);
        record.ConnectionId = ConnectionKey.Compute(ctId, startSec, record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort);
        reason = null;
        return DecodeStatus.Ok;
    }

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
    }

    // Property names grouped by length, so a name is compared with at most three candidates.
    private static readonly (byte[] Name, Field Field)[][] FieldsByLength = BuildFieldTable();

    private static Field FieldOf(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            return FieldOfSlow(ref reader);
        }

        var name = reader.ValueSpan;
        if (name.Length >= FieldsByLength.Length)
        {
            return Field.Other;
        }

        foreach (var (candidate, field) in FieldsByLength[name.Length])
        {
            if (name.SequenceEqual(candidate))
            {
                return field;
            }
        }

        return Field.Other;
    }

    private static Field FieldOfSlow(ref Utf8JsonReader reader)
    {
        foreach (var group in FieldsByLength)
        {
            foreach (var (candidate, field) in group)
            {
                if (reader.ValueTextEquals(candidate))
                {
                    return field;
                }
            }
        }

        return Field.Other;
    }

    private static (byte[] Name, Field Field)[][] BuildFieldTable()
    {
        (string Name, Field Field)[] fields =
        [
            ("src_ip", Field.Src), ("orig.ip.saddr.str", Field.Src),
            ("dest_ip", Field.Dst), ("orig.ip.daddr.str", Field.Dst),
            ("orig.l4.sport", Field.SrcPort), ("orig.l4.dport", Field.DstPort),
            ("orig.ip.protocol", Field.Protocol),
            ("orig.raw.pktlen", Field.BytesOut), ("orig.raw.pktcount", Field.PacketsOut),
            ("reply.raw.pktlen", Field.BytesIn), ("reply.raw.pktcount", Field.PacketsIn),
            ("ct.id", Field.ConntrackId), ("ct.event", Field.Event),
            ("flow.start.sec", Field.StartSec), ("flow.start.usec", Field.StartUsec),
            ("flow.end.sec", Field.EndSec), ("flow.end.usec", Field.EndUsec),
            ("timestamp", Field.Timestamp),
        ];
        var table = new (byte[], Field)[fields.Max(f => f.Name.Length) + 1][];
        for (var length = 0; length < table.Length; length++)
        {
            table[length] = fields.Where(f => f.Name.Length == length)
                .Select(f => (System.Text.Encoding.UTF8.GetBytes(f.Name), f.Field)).ToArray();
        }

        return table;
    }

    private static bool ReadAddress(ref Utf8JsonReader reader, out UInt128 address)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped)
        {
            address = default;
            return false;
        }

        return IpAddressKey.TryParse(reader.ValueSpan, out address);
    }

    private static ulong ReadNumber(ref Utf8JsonReader reader, ulong max)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out var value) || value > max)
        {
            throw new FormatException();
        }

        return value;
    }
}
