using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

/// <summary>
/// Real captures from private namespaces (Samples/capture-conntrack.sh): a router with DNAT and masquerade,
/// TCP, UDP, ICMP, IPv6, a zone and a mark, <c>conntrack -E -o timestamp,extended,id</c> and <c>conntrack -L</c>.
/// </summary>
public sealed class ConntrackTextDecoderTests
{
    private static readonly ConntrackTextDecoder Decoder = new();

    private static (DecodeStatus Status, FlowRecord Record, string? Reason) Decode(string line) => DecoderRun.Decode(Decoder, line);

    private static FlowRecord DecodeOk(string line) => DecoderRun.DecodeOk(Decoder, line);

    private static string[] Events => Golden.SampleLines("conntrack-text/events.txt");

    private static string Line(string[] lines, string eventTag, string conntrackId) =>
        lines.Single(l => l.Contains(eventTag, StringComparison.Ordinal) && l.Contains($" id={conntrackId}", StringComparison.Ordinal));

    [Theory]
    [InlineData("conntrack-text/events.txt")]
    [InlineData("conntrack-text/list.txt")]
    [InlineData("conntrack-text/events-ktimestamp.txt")]
    [InlineData("conntrack-text/zone-mark.txt")]
    [InlineData("conntrack-events.txt")]
    public void Decode_RealSample_MatchesGolden(string sample) => Golden.Verify(sample, Decoder);

    [Fact]
    public void Decode_RealSample_EveryFlowLineDecodes()
    {
        foreach (var line in Events.Where(l => l.StartsWith('[')))
        {
            var record = DecodeOk(line);
            Assert.NotEqual(0UL, record.ConnectionId);
            Assert.NotEqual(0L, record.StartMs);
        }
    }

    [Fact]
    public void Decode_NewUpdateAndDestroyOfOneConnection_ShareConnectionId()
    {
        var byConntrackId = Events.Where(l => l.StartsWith('['))
            .GroupBy(l => l[(l.LastIndexOf(" id=", StringComparison.Ordinal) + 4)..].Split(' ')[0])
            .ToList();
        Assert.Equal(10, byConntrackId.Count);
        var ids = new HashSet<ulong>();
        foreach (var connection in byConntrackId)
        {
            var records = connection.Select(DecodeOk).ToList();
            Assert.Contains(records, r => r.Event == FlowEvent.New);
            Assert.Contains(records, r => r.Event == FlowEvent.Destroy);
            Assert.Single(records.Select(r => r.ConnectionId).Distinct());
            Assert.True(ids.Add(records[0].ConnectionId), "two connections share an id");
        }
    }

    [Fact]
    public void Decode_TableEntryAndEventsOfOneConnection_ShareConnectionId()
    {
        var listed = DecodeOk(Line(Golden.SampleLines("conntrack-text/list.txt"), "ESTABLISHED", "2157891076"));
        var destroyed = DecodeOk(Line(Events, "[DESTROY]", "2157891076"));
        Assert.Equal(FlowEvent.Update, listed.Event);
        Assert.Equal(0L, listed.StartMs);
        Assert.Equal(destroyed.ConnectionId, listed.ConnectionId);
        Assert.Equal(112UL, listed.BytesOut);
    }

    [Fact]
    public void Decode_DestroyEvent_CarriesFinalCountersAndEnd()
    {
        var r = DecodeOk(Line(Events, "[DESTROY]", "3422726970"));
        Assert.Equal(FlowEvent.Destroy, r.Event);
        Assert.Equal(6, r.Protocol);
        Assert.Equal("10.99.1.2", IpAddressKey.Format(r.SrcIp));
        Assert.Equal(40154, r.SrcPort);
        Assert.Equal("10.99.2.2", IpAddressKey.Format(r.DstIp));
        Assert.Equal(8080, r.DstPort);
        Assert.Equal((6UL, 398UL, 6UL, 1579UL), (r.PacketsOut, r.BytesOut, r.PacketsIn, r.BytesIn));
        Assert.Equal(1_795_728_869_343L, r.EndMs);
        Assert.Equal(1_795_728_869_343L, r.StartMs);
    }

    [Fact]
    public void Decode_NewEvent_StartsAtItsTimestampWithoutCounters()
    {
        var r = DecodeOk(Line(Events, "[NEW]", "3422726970"));
        Assert.Equal(FlowEvent.New, r.Event);
        Assert.Equal(1_795_728_865_979L, r.StartMs);
        Assert.Equal(0L, r.EndMs);
        Assert.Equal(0UL, r.BytesOut + r.BytesIn + r.PacketsOut + r.PacketsIn);
    }

    [Fact]
    public void Decode_DnatConnection_NatDestinationIsTheBackend()
    {
        var r = DecodeOk(Line(Events, "[DESTROY]", "2240340153"));
        Assert.Equal("10.99.3.10", IpAddressKey.Format(r.DstIp));
        Assert.Equal(80, r.DstPort);
        Assert.Equal("10.99.2.2", IpAddressKey.Format(r.NatDstIp));
        Assert.Equal(8080, r.NatDstPort);
        Assert.Equal(r.SrcIp, r.NatSrcIp);
        Assert.Equal(r.SrcPort, r.NatSrcPort);
    }

    [Fact]
    public void Decode_MasqueradedConnection_NatSourceIsTheRouter()
    {
        var r = DecodeOk(Line(Events, "[DESTROY]", "2157891076"));
        Assert.Equal("10.99.1.2", IpAddressKey.Format(r.SrcIp));
        Assert.Equal("10.99.2.1", IpAddressKey.Format(r.NatSrcIp));
        Assert.Equal(43700, r.NatSrcPort);
        Assert.Equal(r.DstIp, r.NatDstIp);
        Assert.Equal(9090, r.NatDstPort);
    }

    [Fact]
    public void Decode_ConnectionWithoutNat_NatTupleEqualsOriginal()
    {
        var r = DecodeOk(Line(Events, "[DESTROY]", "1969846506"));
        Assert.Equal((r.SrcIp, r.SrcPort, r.DstIp, r.DstPort), (r.NatSrcIp, r.NatSrcPort, r.NatDstIp, r.NatDstPort));
    }

    [Fact]
    public void Decode_IcmpEcho_TypeAndCodeInDestinationPort()
    {
        var r = DecodeOk(Line(Events, "[DESTROY]", "4211281704"));
        Assert.Equal(1, r.Protocol);
        Assert.Equal(0, r.SrcPort);
        Assert.Equal(8 << 8, r.DstPort);
        Assert.Equal((2UL, 168UL, 2UL, 168UL), (r.PacketsOut, r.BytesOut, r.PacketsIn, r.BytesIn));
        Assert.Equal((r.SrcIp, r.SrcPort, r.DstIp, r.DstPort), (r.NatSrcIp, r.NatSrcPort, r.NatDstIp, r.NatDstPort));
    }

    [Fact]
    public void Decode_Icmpv6Echo_TypeAndCodeInDestinationPort()
    {
        var r = DecodeOk(Line(Events, "[DESTROY]", "2879923217"));
        Assert.Equal(58, r.Protocol);
        Assert.Equal(128 << 8, r.DstPort);
        Assert.Equal("fd99:1::2", IpAddressKey.Format(r.SrcIp));
    }

    [Fact]
    public void Decode_Ipv6Tcp_KeepsAddressesAndCounters()
    {
        var r = DecodeOk(Line(Events, "[DESTROY]", "1295272231"));
        Assert.Equal("fd99:1::2", IpAddressKey.Format(r.SrcIp));
        Assert.Equal("fd99:2::2", IpAddressKey.Format(r.DstIp));
        Assert.Equal(520UL, r.BytesOut);
        Assert.Equal(1699UL, r.BytesIn);
    }

    [Fact]
    public void Decode_UnrepliedUdp_HasNoReplyCounters()
    {
        var r = DecodeOk(Line(Events, "[DESTROY]", "1630907696"));
        Assert.Equal(17, r.Protocol);
        Assert.Equal(5999, r.DstPort);
        Assert.Equal((1UL, 35UL, 0UL, 0UL), (r.PacketsOut, r.BytesOut, r.PacketsIn, r.BytesIn));
    }

    [Fact]
    public void Decode_KernelTimestamps_GiveStartAndEnd()
    {
        var lines = Golden.SampleLines("conntrack-text/events-ktimestamp.txt");
        var created = DecodeOk(Line(lines, "[NEW]", "3466375754"));
        var destroyed = DecodeOk(Line(lines, "[DESTROY]", "3466375754"));
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 21, 34, 35, TimeSpan.Zero).ToUnixTimeMilliseconds(), destroyed.StartMs);
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 21, 34, 36, TimeSpan.Zero).ToUnixTimeMilliseconds(), destroyed.EndMs);
        Assert.Equal(created.ConnectionId, destroyed.ConnectionId);
    }

    [Fact]
    public void Decode_DeltaTimeWithoutKernelTimestamps_StartsThatMuchEarlier()
    {
        var line = Line(Golden.SampleLines("conntrack-text/events-ktimestamp.txt"), "[DESTROY]", "1088787353");
        var withoutStartStop = line.Replace("[start=Thu Nov 26 21:34:35 2026] [stop=Thu Nov 26 21:34:36 2026] ", "", StringComparison.Ordinal);
        var r = DecodeOk(withoutStartStop);
        Assert.Equal(1_795_728_876_124L - 1000, r.StartMs);
        Assert.Equal(1_795_728_876_124L, r.EndMs);
    }

    [Fact]
    public void Decode_WithoutExtendedOrTimestampOptions_StillDecodes()
    {
        var r = DecodeOk("    [NEW] tcp      6 120 SYN_SENT src=10.99.0.1 dst=10.99.0.2 sport=51986 dport=8080 [UNREPLIED] src=10.99.0.2 dst=10.99.0.1 sport=8080 dport=51986");
        Assert.Equal(FlowEvent.New, r.Event);
        Assert.Equal(0L, r.StartMs);
        Assert.Equal(8080, r.DstPort);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \r\n")]
    [InlineData("conntrack v1.4.7 (conntrack-tools): 45 flow events have been shown.")]
    [InlineData("conntrack v1.4.7 (conntrack-tools): connection tracking table has been emptied.")]
    public void Decode_SummaryOrBlankLine_IsSkipped(string line)
    {
        var (status, _, reason) = Decode(line);
        Assert.Equal(DecodeStatus.Skipped, status);
        Assert.False(string.IsNullOrEmpty(reason));
    }

    [Theory]
    [InlineData("hello world", "protocol number missing")]
    [InlineData("{\"src_ip\": \"10.0.0.1\"}", "protocol name missing")]
    [InlineData("[1795728865.97x480]\t [NEW] tcp 6 120 src=10.0.0.1", "malformed event timestamp")]
    [InlineData("[1795728865.979480]\t [OPEN] tcp 6 120 src=10.0.0.1", "unknown event type")]
    [InlineData("ipv4 two tcp 6 120", "layer 3 protocol number missing")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.300 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1", "src is not an IP address")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.1 dst=nowhere sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1", "dst is not an IP address")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=70000 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1", "a port, type or code is not a number in range")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 packets=x dport=2", "a counter is not a number")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1", "original tuple is incomplete")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2", "reply tuple is missing or incomplete")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 src=10.0.0.3", "more than two tuples")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [ASSURED", "unterminated flag")]
    [InlineData("tcp 6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 id=99999999999", "id is not a number in range")]
    [InlineData("tcp 6 1 CLOSE src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [start=Thu Nov 26 21:34:35", "malformed start or stop time")]
    [InlineData("tcp 6 1 CLOSE src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 delta-time=-1", "delta-time is not a number")]
    public void Decode_MalformedLine_IsInvalidWithReason(string line, string expectedReason)
    {
        var (status, _, reason) = Decode(line);
        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Equal(expectedReason, reason);
    }

    [Fact]
    public void Decode_EveryTruncationOfARealRecord_IsInvalidUntilTheReplyTupleIsWhole()
    {
        var line = Line(Events, "[DESTROY]", "2157891076");
        var full = DecodeOk(line);
        var replyComplete = line.IndexOf("dport=43700 packets=4", StringComparison.Ordinal) + "dport=4".Length;
        var bytes = Encoding.UTF8.GetBytes(line);
        for (var n = 0; n < bytes.Length; n++)
        {
            var record = default(FlowRecord);
            var status = Decoder.Decode(bytes.AsSpan(0, n), ref record, out var reason);
            if (n < replyComplete)
            {
                Assert.True(status is DecodeStatus.Invalid or DecodeStatus.Skipped, $"prefix of {n} bytes: {status}");
                Assert.False(string.IsNullOrEmpty(reason));
            }
            else if (status == DecodeStatus.Ok)
            {
                // A text line has no terminator: a cut inside its last fields reads as a shorter line, but the
                // original tuple, the one every record of the connection is keyed on, is already whole.
                Assert.Equal((full.SrcIp, full.DstIp, full.SrcPort, full.DstPort), (record.SrcIp, record.DstIp, record.SrcPort, record.DstPort));
            }
        }
    }
}
