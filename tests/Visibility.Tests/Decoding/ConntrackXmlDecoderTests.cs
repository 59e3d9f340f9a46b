using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

/// <summary>
/// Real captures (Samples/capture-conntrack.sh): <c>conntrack -E -o xml,timestamp</c> ran beside the text
/// listener on the same traffic, so both formats describe the same connections.
/// </summary>
public sealed class ConntrackXmlDecoderTests
{
    private static readonly ConntrackXmlDecoder Decoder = new();

    private static (DecodeStatus Status, FlowRecord Record, string? Reason) Decode(string line) => DecoderRun.Decode(Decoder, line);

    private static FlowRecord DecodeOk(string line) => DecoderRun.DecodeOk(Decoder, line);

    private static string[] Events => Golden.SampleLines("conntrack-xml/events.xml");

    private static string Flow(string[] lines, string type, string conntrackId) =>
        lines.Single(l => l.Contains($"<flow type=\"{type}\">", StringComparison.Ordinal) && l.Contains($"<id>{conntrackId}</id>", StringComparison.Ordinal));

    private static string ConntrackId(string line)
    {
        var start = line.IndexOf("<id>", StringComparison.Ordinal) + 4;
        return line[start..line.IndexOf("</id>", start, StringComparison.Ordinal)];
    }

    [Theory]
    [InlineData("conntrack-xml/events.xml")]
    [InlineData("conntrack-xml/list.xml")]
    [InlineData("conntrack-xml/events-ktimestamp.xml")]
    [InlineData("conntrack-xml/zone-mark.xml")]
    public void Decode_RealSample_MatchesGolden(string sample) => Golden.Verify(sample, Decoder);

    [Fact]
    public void Decode_WrapperAndSummaryLines_AreSkipped()
    {
        var others = Events.Where(l => !l.StartsWith("<flow", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, others.Count);
        foreach (var line in others)
        {
            Assert.Equal(DecodeStatus.Skipped, Decode(line).Status);
        }
    }

    [Fact]
    public void Decode_NewUpdateAndDestroyOfOneConnection_ShareConnectionId()
    {
        var connections = Events.Where(l => l.StartsWith("<flow", StringComparison.Ordinal)).GroupBy(ConntrackId).ToList();
        Assert.Equal(10, connections.Count);
        var ids = new HashSet<ulong>();
        foreach (var connection in connections)
        {
            var records = connection.Select(DecodeOk).ToList();
            Assert.Equal(FlowEvent.New, records[0].Event);
            Assert.Equal(FlowEvent.Destroy, records[^1].Event);
            Assert.Single(records.Select(r => r.ConnectionId).Distinct());
            Assert.True(ids.Add(records[0].ConnectionId), "two connections share an id");
        }
    }

    [Fact]
    public void Decode_XmlAndTextOfTheSameConnections_AgreeOnIdTupleNatAndCounters()
    {
        var text = new ConntrackTextDecoder();
        var textDestroys = Golden.SampleLines("conntrack-text/events.txt").Where(l => l.Contains("[DESTROY]", StringComparison.Ordinal)).ToList();
        var compared = 0;
        foreach (var line in Events.Where(l => l.StartsWith("<flow type=\"destroy\"", StringComparison.Ordinal)))
        {
            var fromXml = DecodeOk(line);
            var textLine = textDestroys.Single(l => l.Contains($" id={ConntrackId(line)}", StringComparison.Ordinal));
            var fromText = default(FlowRecord);
            Assert.Equal(DecodeStatus.Ok, text.Decode(Encoding.UTF8.GetBytes(textLine), ref fromText, out _));
            Assert.Equal((fromText.PacketsOut, fromText.BytesOut, fromText.PacketsIn, fromText.BytesIn),
                (fromXml.PacketsOut, fromXml.BytesOut, fromXml.PacketsIn, fromXml.BytesIn));
            Assert.Equal((fromText.SrcIp, fromText.DstIp, fromText.NatSrcIp, fromText.NatDstIp),
                (fromXml.SrcIp, fromXml.DstIp, fromXml.NatSrcIp, fromXml.NatDstIp));
            // The XML has no ICMP type or code, so only port protocols can agree on ports and the id.
            if (!Protocols(fromXml.Protocol))
            {
                continue;
            }

            Assert.Equal((fromText.SrcPort, fromText.DstPort, fromText.NatSrcPort, fromText.NatDstPort),
                (fromXml.SrcPort, fromXml.DstPort, fromXml.NatSrcPort, fromXml.NatDstPort));
            Assert.Equal(fromText.ConnectionId, fromXml.ConnectionId);
            compared++;
        }

        Assert.Equal(8, compared);

        static bool Protocols(byte protocol) => protocol is 6 or 17;
    }

    [Fact]
    public void Decode_DestroyEvent_CarriesFinalCountersAndEventTime()
    {
        var r = DecodeOk(Flow(Events, "destroy", "3422726970"));
        Assert.Equal(FlowEvent.Destroy, r.Event);
        Assert.Equal((6UL, 398UL, 6UL, 1579UL), (r.PacketsOut, r.BytesOut, r.PacketsIn, r.BytesIn));
        var when = new DateTimeOffset(2026, 11, 26, 21, 34, 29, TimeSpan.Zero).ToUnixTimeMilliseconds();
        Assert.Equal(when, r.EndMs);
        Assert.Equal(when, r.StartMs);
    }

    [Fact]
    public void Decode_DnatConnection_NatDestinationIsTheBackend()
    {
        var r = DecodeOk(Flow(Events, "destroy", "2240340153"));
        Assert.Equal(("10.99.3.10", (ushort)80), (IpAddressKey.Format(r.DstIp), r.DstPort));
        Assert.Equal(("10.99.2.2", (ushort)8080), (IpAddressKey.Format(r.NatDstIp), r.NatDstPort));
        Assert.Equal((r.SrcIp, r.SrcPort), (r.NatSrcIp, r.NatSrcPort));
    }

    [Fact]
    public void Decode_MasqueradedConnection_NatSourceIsTheRouter()
    {
        var r = DecodeOk(Flow(Events, "destroy", "2157891076"));
        Assert.Equal(("10.99.2.1", (ushort)43700), (IpAddressKey.Format(r.NatSrcIp), r.NatSrcPort));
        Assert.Equal((r.DstIp, r.DstPort), (r.NatDstIp, r.NatDstPort));
    }

    [Fact]
    public void Decode_IcmpWithoutTypeElements_HasNoPorts()
    {
        var r = DecodeOk(Flow(Events, "destroy", "4211281704"));
        Assert.Equal(1, r.Protocol);
        Assert.Equal((0, 0), (r.SrcPort, r.DstPort));
        Assert.Equal((2UL, 168UL), (r.PacketsOut, r.BytesOut));
    }

    [Fact]
    public void Decode_Ipv6Udp_KeepsAddresses()
    {
        var r = DecodeOk(Flow(Events, "destroy", "1969846506"));
        Assert.Equal(17, r.Protocol);
        Assert.Equal("fd99:1::2", IpAddressKey.Format(r.SrcIp));
        Assert.Equal("fd99:2::2", IpAddressKey.Format(r.DstIp));
        Assert.Equal((47868, 5300), (r.SrcPort, r.DstPort));
    }

    [Fact]
    public void Decode_KernelTimestamps_GiveExactStartAndEnd()
    {
        var r = DecodeOk(Flow(Golden.SampleLines("conntrack-xml/events-ktimestamp.xml"), "destroy", "3466375754"));
        Assert.Equal(1_795_728_875_094L, r.StartMs);
        Assert.Equal(1_795_728_876_125L, r.EndMs);
    }

    [Fact]
    public void Decode_TableEntry_IsUpdateWithoutTime()
    {
        var line = Golden.SampleLines("conntrack-xml/list.xml").Single(l => l.Contains("<id>2157891076</id>", StringComparison.Ordinal));
        var r = DecodeOk(line);
        Assert.Equal(FlowEvent.Update, r.Event);
        Assert.Equal(0L, r.StartMs);
        Assert.Equal(DecodeOk(Flow(Events, "destroy", "2157891076")).ConnectionId, r.ConnectionId);
    }

    [Theory]
    [InlineData("<!DOCTYPE flow [<!ENTITY x \"y\">]><flow></flow>", "DTDs, comments and CDATA sections are not accepted")]
    [InlineData("<flow><!-- c --></flow>", "DTDs, comments and CDATA sections are not accepted")]
    [InlineData("hello", "text outside a flow element")]
    [InlineData("<conntrack><foo/></conntrack>", "unexpected element outside a flow")]
    [InlineData("<flow type=\"open\"></flow>", "unknown flow type")]
    [InlineData("<flow><meta direction=\"original\"></layer3></meta></flow>", "mismatched end tag")]
    [InlineData("<flow><a><b><c><d><e><f><g></g></f></e></d></c></b></a></flow>", "elements nested too deep")]
    [InlineData("<flow><meta direction=\"original\"><layer3><src>10.0.0.1&amp;</src></layer3></meta></flow>", "entity references are not accepted")]
    [InlineData("<flow><meta direction=\"original\"><layer3><src>10.0.0.999</src></layer3></meta></flow>", "src is not an IP address")]
    [InlineData("<flow><meta direction=\"original\"><layer4 protoname=\"tcp\"></layer4></meta></flow>", "layer4 protonum is missing or not a number")]
    [InlineData("<flow><meta direction=\"original\"><layer4 protonum=\"6\"><sport>1</sport><dport>99999</dport></layer4></meta></flow>", "a port is not a number in range")]
    [InlineData("<flow><meta direction=\"original\"><layer3><src>10.0.0.1</src><dst>10.0.0.2</dst></layer3><layer4 protonum=\"6\"><sport>1</sport></layer4></meta></flow>", "original tuple is incomplete")]
    [InlineData("<flow><meta direction=\"original\"><layer3><src>10.0.0.1</src><dst>10.0.0.2</dst></layer3><layer4 protonum=\"17\"><sport>1</sport><dport>2</dport></layer4></meta></flow>", "reply tuple is missing or incomplete")]
    [InlineData("<flow><meta direction=\"original\"><layer3><src>10.0.0.1</src><dst>10.0.0.2</dst></layer3><layer4 protonum=\"1\"></layer4></meta><meta direction=\"reply\"><layer3><src>10.0.0.2</src><dst>10.0.0.1</dst></layer3></meta><when><hour>25</hour></when></flow>", "when element is incomplete or out of range")]
    [InlineData("<flow><meta direction=\"independent\"><id>-1</id></meta></flow>", "id is not a number in range")]
    [InlineData("<flow><meta direction=\"original\"><layer3><src>10.0.0.1", "truncated flow element")]
    [InlineData("<flow><meta direction=\"original\"", "malformed XML")]
    [InlineData("<flow><meta direction=\"original\">< layer3>", "malformed XML")]
    public void Decode_MalformedInput_IsInvalidWithReason(string xml, string expectedReason)
    {
        var (status, _, reason) = Decode(xml);
        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Equal(expectedReason, reason);
    }

    [Fact]
    public void Decode_EveryTruncationOfARealRecord_IsInvalid()
    {
        var line = Flow(Events, "destroy", "2157891076");
        var end = line.IndexOf("</flow>", StringComparison.Ordinal) + "</flow>".Length;
        var bytes = Encoding.UTF8.GetBytes(line);
        for (var n = 0; n < bytes.Length; n++)
        {
            var record = default(FlowRecord);
            var status = Decoder.Decode(bytes.AsSpan(0, n), ref record, out var reason);
            var expected = n == 0 ? DecodeStatus.Skipped : n < end ? DecodeStatus.Invalid : DecodeStatus.Ok;
            Assert.True(expected == status, $"prefix of {n} bytes: {status} ({reason})");
        }
    }
}
