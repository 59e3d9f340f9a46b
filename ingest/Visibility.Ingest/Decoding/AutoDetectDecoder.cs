using System.Text.Json;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// Chooses a decoder per message by its content, for topics that carry several formats:
/// <list type="bullet">
/// <item>a JSON object: ulogd2 when it has <c>ct.event</c>, <c>orig.ip.protocol</c> or <c>orig.ip.saddr.str</c>;
/// ulogd2 NFLOG when it has <c>oob.prefix</c>, <c>oob.time.sec</c>, <c>oob.hook</c> or <c>oob.family</c>;
/// Hubble when it has <c>flow</c> (or another observer response such as <c>node_status</c>) or both <c>IP</c> and
/// <c>l4</c>; canonical when it has <c>version</c> and <c>src</c>;</item>
/// <item><c>&lt;</c>: conntrack XML;</item>
/// <item><c>[seconds.micros]</c>, or <c>[NEW]</c>/<c>[UPDATE]</c>/<c>[DESTROY]</c>, or a first word that is
/// <c>ipv4</c>, <c>ipv6</c>, a protocol name or <c>conntrack</c> (the summary line): conntrack text;</item>
/// <item>a first word <c>version</c> (the header line), or a version number 2 to 8 followed by at least 13 more
/// fields: AWS VPC flow logs.</item>
/// </list>
/// Only the top-level member names of JSON are read to choose, and reading stops as soon as they decide.
/// AWS custom formats that do not start with the version cannot be recognised: configure <c>aws-vpc</c> for them.
/// The AWS decoder inside keeps the field order of the last header line it saw, like a dedicated one.
/// </summary>
public sealed class AutoDetectDecoder : IFlowDecoder
{
    public const string FormatName = "auto";

    private static readonly System.Buffers.SearchValues<byte> TimeChars = System.Buffers.SearchValues.Create("0123456789."u8);

    private readonly Ulogd2JsonDecoder ulogd2 = new();
    private readonly Ulogd2NflogDecoder nflog;
    private readonly ConntrackTextDecoder conntrackText = new();
    private readonly ConntrackXmlDecoder conntrackXml = new();
    private readonly CanonicalJsonDecoder canonical = new();
    private readonly AwsVpcFlowLogDecoder aws;
    private readonly HubbleJsonDecoder hubble;

    public AutoDetectDecoder(DecoderSettings? settings = null)
    {
        settings ??= new DecoderSettings();
        aws = new AwsVpcFlowLogDecoder(settings.AwsFieldOrder);
        var attempts = new AttemptTracker(settings.AttemptWindow);
        hubble = new HubbleJsonDecoder(settings.Kubernetes, attempts);
        nflog = new Ulogd2NflogDecoder(new NflogPrefixes(settings.NflogBlockedWords, settings.NflogAllowedWords), attempts);
    }

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        IFlowDecoder? decoder = Detect(message) switch
        {
            Kind.Ulogd2 => ulogd2,
            Kind.Nflog => nflog,
            Kind.ConntrackText => conntrackText,
            Kind.ConntrackXml => conntrackXml,
            Kind.Canonical => canonical,
            Kind.Aws => aws,
            Kind.Hubble => hubble,
            _ => null,
        };
        if (decoder is not null)
        {
            return decoder.Decode(message, ref record, out reason);
        }

        record = FlowRecord.Blank;
        if (TextParsing.Trim(message).IsEmpty)
        {
            reason = "blank line";
            return DecodeStatus.Skipped;
        }

        reason = "format not recognised";
        return DecodeStatus.Invalid;
    }

    /// <summary>The name of the format <paramref name="message"/> looks like, or null when none fits.</summary>
    public static string? DetectFormat(ReadOnlySpan<byte> message) => Detect(message) switch
    {
        Kind.Ulogd2 => Ulogd2JsonDecoder.FormatName,
        Kind.Nflog => Ulogd2NflogDecoder.FormatName,
        Kind.ConntrackText => ConntrackTextDecoder.FormatName,
        Kind.ConntrackXml => ConntrackXmlDecoder.FormatName,
        Kind.Canonical => CanonicalJsonDecoder.FormatName,
        Kind.Aws => AwsVpcFlowLogDecoder.FormatName,
        Kind.Hubble => HubbleJsonDecoder.FormatName,
        _ => null,
    };

    private static Kind Detect(ReadOnlySpan<byte> message)
    {
        var text = TextParsing.Trim(message);
        if (text.IsEmpty)
        {
            return Kind.None;
        }

        switch (text[0])
        {
            case (byte)'{':
                return DetectJson(text);
            case (byte)'<':
                return Kind.ConntrackXml;
            case (byte)'[':
                return IsEventTime(text) || text.StartsWith("[NEW]"u8) || text.StartsWith("[UPDATE]"u8) || text.StartsWith("[DESTROY]"u8)
                    ? Kind.ConntrackText : Kind.None;
        }

        var position = 0;
        var first = TextParsing.NextToken(text, ref position);
        if (first.SequenceEqual("version"u8))
        {
            return Kind.Aws;
        }

        if (first.SequenceEqual("conntrack"u8) || first.SequenceEqual("ipv4"u8) || first.SequenceEqual("ipv6"u8)
            || first.SequenceEqual("unknown"u8) || Protocols.TryParseName(first, out _))
        {
            return Kind.ConntrackText;
        }

        if (first.Length == 1 && first[0] is >= (byte)'2' and <= (byte)'8')
        {
            var fields = 1;
            while (fields < 14 && !TextParsing.NextToken(text, ref position).IsEmpty)
            {
                fields++;
            }

            return fields == 14 ? Kind.Aws : Kind.None;
        }

        return Kind.None;
    }

    /// <summary><c>[1795724387.311645]</c>, as conntrack's timestamp option starts a line.</summary>
    private static bool IsEventTime(ReadOnlySpan<byte> text)
    {
        var end = text.IndexOf((byte)']');
        return end > 1 && text[1..end].IndexOfAnyExcept(TimeChars) < 0 && char.IsAsciiDigit((char)text[1]);
    }

    /// <summary>Reads top-level member names until they decide; values are skipped unread.</summary>
    private static Kind DetectJson(ReadOnlySpan<byte> json)
    {
        bool version = false, src = false, ip = false, l4 = false;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            reader.Read();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("ct.event"u8) || reader.ValueTextEquals("orig.ip.protocol"u8) || reader.ValueTextEquals("orig.ip.saddr.str"u8))
                {
                    return Kind.Ulogd2;
                }

                if (reader.ValueTextEquals("oob.prefix"u8) || reader.ValueTextEquals("oob.time.sec"u8)
                    || reader.ValueTextEquals("oob.hook"u8) || reader.ValueTextEquals("oob.family"u8))
                {
                    return Kind.Nflog;
                }

                if (reader.ValueTextEquals("flow"u8) || reader.ValueTextEquals("node_status"u8) || reader.ValueTextEquals("lost_events"u8))
                {
                    return Kind.Hubble;
                }

                version |= reader.ValueTextEquals("version"u8);
                src |= reader.ValueTextEquals("src"u8);
                ip |= reader.ValueTextEquals("IP"u8);
                l4 |= reader.ValueTextEquals("l4"u8);
                if (ip && l4)
                {
                    return Kind.Hubble;
                }

                if (version && src)
                {
                    return Kind.Canonical;
                }

                reader.Read();
                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // Malformed or cut short: decide on what was seen, so the chosen decoder names the problem.
        }

        return version ? Kind.Canonical : ip || l4 ? Kind.Hubble : Kind.None;
    }

    private enum Kind
    {
        None,
        Ulogd2,
        Nflog,
        ConntrackText,
        ConntrackXml,
        Canonical,
        Aws,
        Hubble,
    }
}
