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
        string? timestamp = null;

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

                if (reader.ValueTextEquals("src_ip"u8) || reader.ValueTextEquals("orig.ip.saddr.str"u8))
                {
                    if (!ReadAddress(ref reader, out record.SrcIp))
                    {
                        reason = "src_ip is not an IP address";
                        return DecodeStatus.Invalid;
                    }

                    haveSrc = true;
                }
                else if (reader.ValueTextEquals("dest_ip"u8) || reader.ValueTextEquals("orig.ip.daddr.str"u8))
                {
                    if (!ReadAddress(ref reader, out record.DstIp))
                    {
                        reason = "dest_ip is not an IP address";
                        return DecodeStatus.Invalid;
                    }

                    haveDst = true;
                }
                else if (reader.ValueTextEquals("orig.l4.sport"u8))
                {
                    record.SrcPort = (ushort)ReadNumber(ref reader, ushort.MaxValue);
                }
                else if (reader.ValueTextEquals("orig.l4.dport"u8))
                {
                    record.DstPort = (ushort)ReadNumber(ref reader, ushort.MaxValue);
                }
                else if (reader.ValueTextEquals("orig.ip.protocol"u8))
                {
                    record.Protocol = (byte)ReadNumber(ref reader, byte.MaxValue);
                }
                else if (reader.ValueTextEquals("orig.raw.pktlen"u8))
                {
                    record.BytesOut = ReadNumber(ref reader, ulong.MaxValue);
                }
                else if (reader.ValueTextEquals("orig.raw.pktcount"u8))
                {
                    record.PacketsOut = ReadNumber(ref reader, ulong.MaxValue);
                }
                else if (reader.ValueTextEquals("reply.raw.pktlen"u8))
                {
                    record.BytesIn = ReadNumber(ref reader, ulong.MaxValue);
                }
                else if (reader.ValueTextEquals("reply.raw.pktcount"u8))
                {
                    record.PacketsIn = ReadNumber(ref reader, ulong.MaxValue);
                }
                else if (reader.ValueTextEquals("ct.id"u8))
                {
                    ctId = ReadNumber(ref reader, uint.MaxValue);
                }
                else if (reader.ValueTextEquals("ct.event"u8))
                {
                    record.Event = (FlowEvent)ReadNumber(ref reader, 7);
                    haveEvent = true;
                }
                else if (reader.ValueTextEquals("flow.start.sec"u8))
                {
                    startSec = (long)ReadNumber(ref reader, uint.MaxValue);
                }
                else if (reader.ValueTextEquals("flow.start.usec"u8))
                {
                    startUsec = (long)ReadNumber(ref reader, 999_999);
                }
                else if (reader.ValueTextEquals("flow.end.sec"u8))
                {
                    endSec = (long)ReadNumber(ref reader, uint.MaxValue);
                }
                else if (reader.ValueTextEquals("flow.end.usec"u8))
                {
                    endUsec = (long)ReadNumber(ref reader, 999_999);
                }
                else if (reader.ValueTextEquals("timestamp"u8))
                {
                    reader.Read();
                    timestamp = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else
                {
                    reader.Skip();
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
            if (timestamp is null || !DateTime.TryParse(timestamp, CultureInfo.InvariantCulture,
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
