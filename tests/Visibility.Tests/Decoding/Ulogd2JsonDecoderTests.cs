using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Demo;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

public sealed class Ulogd2JsonDecoderTests
{
    private static readonly Ulogd2JsonDecoder Decoder = new();

    private static (DecodeStatus Status, FlowRecord Record, string? Reason) Decode(string json) => DecoderRun.Decode(Decoder, json);

    [Theory]
    [InlineData("ulogd2-nfct.json")]
    [InlineData("ulogd2/nat-ipv6-icmp-udp.json")]
    public void Decode_RealSample_MatchesGolden(string sample) => Golden.Verify(sample, Decoder);

    [Fact]
    public void Decode_RealSample_EveryLineDecodes()
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Samples", "ulogd2-nfct.json"));
        Assert.Equal(6, lines.Length);
        foreach (var line in lines)
        {
            var (status, record, reason) = Decode(line);
            Assert.True(status == DecodeStatus.Ok, reason);
            Assert.Equal("10.10.1.10", IpAddressKey.Format(record.SrcIp));
            Assert.Equal("10.20.1.20", IpAddressKey.Format(record.DstIp));
            Assert.NotEqual(0UL, record.ConnectionId);
        }
    }

    [Fact]
    public void Decode_RealDestroyEvent_CarriesCountersAndTimes()
    {
        var line = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Samples", "ulogd2-nfct.json"))
            .Single(l => l.Contains("\"ct.event\": 4", StringComparison.Ordinal));
        var (status, r, _) = Decode(line);
        Assert.Equal(DecodeStatus.Ok, status);
        Assert.Equal(FlowEvent.Destroy, r.Event);
        Assert.Equal(6, r.Protocol);
        Assert.Equal(45268, r.SrcPort);
        Assert.Equal(8443, r.DstPort);
        Assert.Equal(60UL, r.BytesOut);
        Assert.Equal(1UL, r.PacketsOut);
        Assert.Equal(40UL, r.BytesIn);
        Assert.Equal(1UL, r.PacketsIn);
        Assert.Equal((1795724492L * 1000) + 53, r.StartMs);
        Assert.Equal((1795724492L * 1000) + 53, r.EndMs);
    }

    [Fact]
    public void Decode_NewAndDestroyOfOneConnection_ShareConnectionId()
    {
        var start = DateTimeOffset.FromUnixTimeSeconds(1_795_724_000);
        var c = new Ulogd2Writer.Connection(77, "10.0.0.1", "10.0.0.2", 6, 40000, 443, start, start.AddSeconds(3), 500, 5, 7000, 6);
        var other = c with { SrcPort = 40001 };
        var (_, created, _) = Decode(Ulogd2Writer.New(c));
        var (_, destroyed, _) = Decode(Ulogd2Writer.Destroy(c));
        var (_, unrelated, _) = Decode(Ulogd2Writer.Destroy(other));
        Assert.Equal(FlowEvent.New, created.Event);
        Assert.Equal(FlowEvent.Destroy, destroyed.Event);
        Assert.Equal(created.ConnectionId, destroyed.ConnectionId);
        Assert.NotEqual(created.ConnectionId, unrelated.ConnectionId);
        Assert.Equal(0UL, created.BytesOut);
        Assert.Equal(7000UL, destroyed.BytesIn);
    }

    [Fact]
    public void Decode_RealCaptureWithoutStartOnDestroy_PairsEveryNewWithItsDestroy()
    {
        var records = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Samples", "ulogd2", "nat-ipv6-icmp-udp.json"))
            .Select(line => Decode(line)).ToList();
        Assert.All(records, r => Assert.True(r.Status == DecodeStatus.Ok, r.Reason));
        var byConnection = records.GroupBy(r => r.Record.ConnectionId).ToList();
        Assert.Equal(10, byConnection.Count);
        Assert.All(byConnection, g => Assert.Equal([FlowEvent.New, FlowEvent.Destroy], g.Select(r => r.Record.Event)));

        var icmp = records.Single(r => r.Record.Protocol == 1 && r.Record.Event == FlowEvent.Destroy).Record;
        Assert.Equal((0, 8 << 8), (icmp.SrcPort, icmp.DstPort));
        Assert.Equal((168UL, 168UL), (icmp.BytesOut, icmp.BytesIn));

        var dnat = records.Single(r => IpAddressKey.Format(r.Record.DstIp) == "10.99.3.10" && r.Record.Event == FlowEvent.Destroy).Record;
        Assert.Equal(("10.99.2.2", 8080), (IpAddressKey.Format(dnat.NatDstIp), (int)dnat.NatDstPort));

        var masqueraded = records.Where(r => IpAddressKey.Format(r.Record.NatSrcIp) == "10.99.2.1").Select(r => r.Record).ToList();
        Assert.Equal(4, masqueraded.Count);
        Assert.All(masqueraded, r => Assert.Equal("10.99.1.2", IpAddressKey.Format(r.SrcIp)));
    }

    [Fact]
    public void Decode_IPv6Connection_KeepsAddresses()
    {
        var start = DateTimeOffset.FromUnixTimeSeconds(1_795_724_000);
        var c = new Ulogd2Writer.Connection(5, "fd00::1", "fd00::2", 17, 5353, 53, start, start, 80, 1, 120, 1);
        var (status, r, reason) = Decode(Ulogd2Writer.Destroy(c));
        Assert.True(status == DecodeStatus.Ok, reason);
        Assert.Equal("fd00::1", IpAddressKey.Format(r.SrcIp));
        Assert.Equal("fd00::2", IpAddressKey.Format(r.DstIp));
        Assert.Equal(17, r.Protocol);
    }

    [Theory]
    [InlineData("", "malformed JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("{\"src_ip\": \"10.0.0.1\", \"dest_ip\": \"10.0.0.2\", \"flow.start.sec\": 17", "malformed JSON")]
    [InlineData("{\"dest_ip\": \"10.0.0.2\", \"flow.start.sec\": 1}", "src_ip or dest_ip is missing")]
    [InlineData("{\"src_ip\": \"10.0.0.300\", \"dest_ip\": \"10.0.0.2\", \"flow.start.sec\": 1}", "src_ip is not an IP address")]
    [InlineData("{\"src_ip\": \"10.0.0.1\", \"dest_ip\": 7, \"flow.start.sec\": 1}", "dest_ip is not an IP address")]
    [InlineData("{\"src_ip\": \"10.0.0.1\", \"dest_ip\": \"10.0.0.2\", \"orig.l4.dport\": 70000, \"flow.start.sec\": 1}", "a numeric field is not a number in range")]
    [InlineData("{\"src_ip\": \"10.0.0.1\", \"dest_ip\": \"10.0.0.2\", \"orig.l4.dport\": \"x\", \"flow.start.sec\": 1}", "a numeric field is not a number in range")]
    [InlineData("{\"src_ip\": \"10.0.0.1\", \"dest_ip\": \"10.0.0.2\"}", "neither flow.start.sec nor timestamp is present")]
    public void Decode_MalformedInput_IsInvalidWithReason(string json, string expectedReason)
    {
        var (status, _, reason) = Decode(json);
        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Equal(expectedReason, reason);
    }

    [Theory]
    [InlineData(new byte[] { 0xF4 })]
    [InlineData(new byte[] { 0xC0, 0xAF })]
    [InlineData(new byte[] { (byte)'\\', (byte)'u', (byte)'d', (byte)'8', (byte)'0', (byte)'0' })]
    public void Decode_EscapedStringWithInvalidText_IsInvalidNotThrown(byte[] bad)
    {
        // Found by DecoderPropertyTests: the escape sends the record to the general reader, whose unescaping threw.
        byte[] json = [.. "{\"src_ip\": \"10.0.0.1\\n"u8, .. bad, .. "\", \"dest_ip\": \"10.0.0.2\", \"flow.start.sec\": 1}"u8];
        var record = default(FlowRecord);
        var status = Decoder.Decode(json, ref record, out var reason);
        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Equal("a string is not valid UTF-8 or escapes half a surrogate pair", reason);
    }

    [Theory]
    [InlineData(new byte[] { 0xF4 })]
    [InlineData(new byte[] { 0xC0, 0xAF })]
    public void Decode_EscapedKeyWithInvalidText_IsAnUnknownKeyNotAThrow(byte[] bad)
    {
        // Found by DecoderPropertyTests in CI: an escaped property name holding invalid UTF-8 threw while unescaping.
        byte[] json = [.. "{\"x\\n"u8, .. bad, .. "\": 1, \"src_ip\": \"10.0.0.1\", \"dest_ip\": \"10.0.0.2\", \"flow.start.sec\": 1}"u8];
        var record = default(FlowRecord);
        var status = Decoder.Decode(json, ref record, out var reason);
        // It returns (no exception), and an unknown key changes nothing: the same record without it decodes alike.
        byte[] plain = [.. "{\"src_ip\": \"10.0.0.1\", \"dest_ip\": \"10.0.0.2\", \"flow.start.sec\": 1}"u8];
        var expected = default(FlowRecord);
        Assert.Equal(Decoder.Decode(plain, ref expected, out var expectedReason), status);
        Assert.Equal(expectedReason, reason);
    }

    [Fact]
    public void Decode_RecordNeedingTheGeneralReader_DecodesLikeTheFastScanner()
    {
        foreach (var line in File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Samples", "ulogd2-nfct.json")))
        {
            var (fastStatus, fast, _) = Decode(line);
            // A nested value and an escaped key are outside the flat shape the scanner reads.
            var general = line.Replace("{\"timestamp\"", "{\"nested\": {\"a\": [1, 2]}, \"\\u0074imestamp\"", StringComparison.Ordinal);
            Assert.NotEqual(line, general);
            var (generalStatus, slow, reason) = Decode(general);
            Assert.True(generalStatus == DecodeStatus.Ok, reason);
            Assert.Equal(fastStatus, generalStatus);
            Assert.Equal(fast, slow);
        }
    }

    [Fact]
    public void Decode_DnatReplyTuple_KeepsPostNatDestination()
    {
        const string json = """
            {"orig.ip.protocol": 6, "orig.l4.sport": 40000, "orig.l4.dport": 80, "reply.l4.sport": 8080, "reply.l4.dport": 40000,
             "orig.raw.pktlen": 500, "orig.raw.pktcount": 5, "reply.raw.pktlen": 9000, "reply.raw.pktcount": 7,
             "ct.id": 9, "ct.event": 4, "flow.start.sec": 1795724000, "flow.end.sec": 1795724003,
             "src_ip": "10.0.0.1", "dest_ip": "10.96.0.10", "reply.ip.saddr.str": "10.244.1.5", "reply.ip.daddr.str": "10.0.0.1"}
            """;
        var (status, r, reason) = Decode(json);
        Assert.True(status == DecodeStatus.Ok, reason);
        Assert.Equal("10.96.0.10", IpAddressKey.Format(r.DstIp));
        Assert.Equal(80, r.DstPort);
        Assert.Equal("10.244.1.5", IpAddressKey.Format(r.NatDstIp));
        Assert.Equal(8080, r.NatDstPort);
        Assert.Equal("10.0.0.1", IpAddressKey.Format(r.NatSrcIp));
        Assert.Equal(40000, r.NatSrcPort);
    }

    [Fact]
    public void DecodeAndEnrich_Allocate_NothingPerRecordInSteadyState()
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Samples", "ulogd2", "nat-ipv6-icmp-udp.json")).Select(Encoding.UTF8.GetBytes).ToArray();
        var index = Visibility.Flows.Labels.WorkloadIndex.Build([
            new() { Name = "client", Addresses = ["10.99.1.0/24", "fd99:1::/64"] },
            new() { Name = "server", Addresses = ["10.99.2.2", "fd99:2::2"], ValidFrom = DateTimeOffset.UnixEpoch },
        ]);
        var record = default(FlowRecord);
        void Run(int n)
        {
            for (var i = 0; i < n; i++)
            {
                Decoder.Decode(lines[i % lines.Length], ref record, out _);
                Visibility.Ingest.Enrichment.FlowEnricher.Enrich(ref record, index);
            }
        }

        Run(2_000);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Run(20_000);

        // Any allocation per record would be at least 24 bytes each (480,000 in all); what the JIT allocates
        // while it recompiles hot code is a few hundred bytes once.
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 20_000);
    }

    [Fact]
    public void Decode_EveryTruncationOfARealRecord_NeverThrows()
    {
        var line = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Samples", "ulogd2-nfct.json"))[0];
        DecoderRun.AssertEveryPrefixInvalid(Decoder, line);
    }
}
