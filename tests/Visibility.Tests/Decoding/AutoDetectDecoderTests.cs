using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

public sealed class AutoDetectDecoderTests
{
    public static TheoryData<string, string> Samples => new()
    {
        { "ulogd2-nfct.json", Ulogd2JsonDecoder.FormatName },
        { "ulogd2-nflog-drops.json", Ulogd2NflogDecoder.FormatName },
        { "conntrack-events.txt", ConntrackTextDecoder.FormatName },
        { "conntrack-text/events.txt", ConntrackTextDecoder.FormatName },
        { "conntrack-text/list.txt", ConntrackTextDecoder.FormatName },
        { "conntrack-text/events-ktimestamp.txt", ConntrackTextDecoder.FormatName },
        { "conntrack-text/zone-mark.txt", ConntrackTextDecoder.FormatName },
        { "conntrack-xml/events.xml", ConntrackXmlDecoder.FormatName },
        { "conntrack-xml/list.xml", ConntrackXmlDecoder.FormatName },
        { "conntrack-xml/events-ktimestamp.xml", ConntrackXmlDecoder.FormatName },
        { "conntrack-xml/zone-mark.xml", ConntrackXmlDecoder.FormatName },
        { "canonical-json/flows.jsonl", CanonicalJsonDecoder.FormatName },
        { "aws-vpc/default-v2.log", AwsVpcFlowLogDecoder.FormatName },
        { "aws-vpc/custom-v5.log", AwsVpcFlowLogDecoder.FormatName },
        { "hubble-json/observe.jsonl", HubbleJsonDecoder.FormatName },
        { "hubble-json/verdicts.jsonl", HubbleJsonDecoder.FormatName },
    };

    private static (DecodeStatus Status, string? Reason) Decode(IFlowDecoder decoder, string line)
    {
        var record = default(FlowRecord);
        var status = decoder.Decode(Encoding.UTF8.GetBytes(line), ref record, out var reason);
        return (status, reason);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Decode_EverySampleLine_SameAsItsOwnDecoder(string sample, string format)
    {
        var auto = new AutoDetectDecoder();
        var own = DecoderRegistry.Create(format, new DecoderSettings());
        var flows = 0;
        foreach (var line in Golden.SampleLines(sample))
        {
            var expected = Golden.Decode(own, line);
            Assert.Equal(expected, Golden.Decode(auto, line));
            if (expected.StartsWith("Ok", StringComparison.Ordinal))
            {
                Assert.Equal(format, AutoDetectDecoder.DetectFormat(Encoding.UTF8.GetBytes(line)));
                flows++;
            }
        }

        Assert.True(flows > 0, "the sample has no flow");
    }

    [Fact]
    public void DetectFormat_CustomAwsFormatWithoutVersion_IsNotRecognised()
    {
        var line = Golden.SampleLines("aws-vpc/custom-no-version.log")[0];
        Assert.Null(AutoDetectDecoder.DetectFormat(Encoding.UTF8.GetBytes(line)));
        Assert.Equal((DecodeStatus.Invalid, "format not recognised"), Decode(new AutoDetectDecoder(), line));
    }

    [Theory]
    [InlineData("{\"version\":1,\"src\":{\"ip\":\"10.0.0.1\"}}", "canonical-json")]
    [InlineData("{\"src\":{\"ip\":\"10.0.0.1\"},\"version\":1}", "canonical-json")]
    [InlineData("{\"version\":1,\"sta", "canonical-json")]
    [InlineData("{\"IP\":{},\"l4\":{}}", "hubble-json")]
    [InlineData("{\"time\":\"2026-11-26T21:45:00Z\",\"l4\":{\"TCP\":{", "hubble-json")]
    [InlineData("{\"lost_events\":{}}", "hubble-json")]
    [InlineData("{\"timestamp\":\"x\",\"orig.ip.protocol\":6}", "ulogd2-json")]
    [InlineData("  <?xml version=\"1.0\" encoding=\"utf-8\"?>", "conntrack-xml")]
    [InlineData("[UPDATE] tcp 6 60 SYN_RECV", "conntrack-text")]
    [InlineData("udp      17 29 src=10.0.0.1", "conntrack-text")]
    [InlineData("unknown  47 599 src=10.0.0.1", "conntrack-text")]
    [InlineData("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", "aws-vpc")]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK", "aws-vpc")]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT", null)]
    [InlineData("9 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK", null)]
    [InlineData("{\"hello\":1}", null)]
    [InlineData("[1,2,3]", null)]
    [InlineData("hello world", null)]
    [InlineData("", null)]
    public void DetectFormat_ByContent_ChoosesTheFormat(string message, string? expected) =>
        Assert.Equal(expected, AutoDetectDecoder.DetectFormat(Encoding.UTF8.GetBytes(message)));

    [Fact]
    public void Decode_BlankOrUnknown_IsSkippedOrInvalid()
    {
        var auto = new AutoDetectDecoder();
        Assert.Equal((DecodeStatus.Skipped, "blank line"), Decode(auto, " \r\n"));
        Assert.Equal((DecodeStatus.Invalid, "format not recognised"), Decode(auto, "hello world"));
        Assert.Equal((DecodeStatus.Invalid, "format not recognised"), Decode(auto, "{\"hello\":1}"));
    }

    [Fact]
    public void Decode_AwsHeaderThroughAuto_SetsTheOrderOfItsAwsDecoder()
    {
        var auto = new AutoDetectDecoder();
        var lines = Golden.SampleLines("aws-vpc/custom-v5.log");
        Assert.Equal(DecodeStatus.Invalid, Decode(auto, lines[1]).Status);
        Assert.Equal((DecodeStatus.Skipped, "header line"), Decode(auto, lines[0]));
        Assert.Equal(DecodeStatus.Ok, Decode(auto, lines[1]).Status);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Decode_EveryTruncationOfASampleLine_NeverThrows(string sample, string format)
    {
        var auto = new AutoDetectDecoder();
        var line = Golden.SampleLines(sample).OrderByDescending(l => l.Length).First();
        var bytes = Encoding.UTF8.GetBytes(line);
        for (var n = 0; n < bytes.Length; n++)
        {
            var record = default(FlowRecord);
            var status = auto.Decode(bytes.AsSpan(0, n), ref record, out var reason);
            Assert.True(status == DecodeStatus.Ok || !string.IsNullOrEmpty(reason), $"{format}, prefix of {n} bytes: {status} without a reason");
        }
    }

    [Fact]
    public void Decode_RandomCorruptionsOfEverySample_NeverThrowAndAlwaysGiveAReason()
    {
        var decoders = DecoderRegistry.Formats.Select(f => DecoderRegistry.Create(f, new DecoderSettings())).ToList();
        var lines = Samples.Select(row => (string)row[0]).SelectMany(Golden.SampleLines).Select(Encoding.UTF8.GetBytes).ToList();
        var random = new Random(20261126);
        ReadOnlySpan<byte> interesting = "<>[]{}\"=:,. -0123456789\n\u00ff"u8;
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = lines[random.Next(lines.Count)].ToList();
            for (var edits = random.Next(1, 4); edits > 0 && bytes.Count > 0; edits--)
            {
                var at = random.Next(bytes.Count);
                switch (random.Next(3))
                {
                    case 0:
                        bytes[at] = random.Next(2) == 0 ? interesting[random.Next(interesting.Length)] : (byte)random.Next(256);
                        break;
                    case 1:
                        bytes.RemoveAt(at);
                        break;
                    default:
                        bytes.Insert(at, interesting[random.Next(interesting.Length)]);
                        break;
                }
            }

            var message = bytes.ToArray();
            foreach (var decoder in decoders)
            {
                var record = default(FlowRecord);
                var status = decoder.Decode(message, ref record, out var reason);
                Assert.True(status == DecodeStatus.Ok || !string.IsNullOrEmpty(reason), $"{decoder.Format}: {status} without a reason");
            }
        }
    }
}
