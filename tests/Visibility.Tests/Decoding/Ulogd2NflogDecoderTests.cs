using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

/// <summary>
/// ulogd2 NFLOG JSON: the real capture (<c>ulogd2-nflog-drops.json</c>, made with nftables' <c>log group 5 prefix
/// "visibility-drop: " drop</c> in a gateway namespace) holds two refused attempts, a TCP SYN to 5432 sent twice and
/// a UDP datagram to 53.
/// </summary>
public sealed class Ulogd2NflogDecoderTests
{
    private const string Sample = "ulogd2-nflog-drops.json";

    private static string[] Lines => Golden.SampleLines(Sample);

    [Fact]
    public void Decode_RealSample_MatchesGolden() => Golden.Verify(Sample, new Ulogd2NflogDecoder());

    [Fact]
    public void Decode_RealSample_IsTwoRefusedAttempts_TheRetransmittedSynOnce()
    {
        var decoder = new Ulogd2NflogDecoder();
        var records = Lines.Select(l => DecoderRun.DecodeOk(decoder, l)).ToList();
        Assert.Equal(3, records.Count);
        Assert.All(records, r =>
        {
            Assert.Equal(FlowVerdict.Blocked, r.Verdict);
            Assert.True(r.IsAttempt);
            Assert.False(r.Audited);
            Assert.Equal("visibility-drop", r.Policies);
            Assert.Equal("10.10.1.10", IpAddressKey.Format(r.SrcIp));
            Assert.Equal("10.20.2.11", IpAddressKey.Format(r.DstIp));
        });

        // An attempt counts once: on its one record that opens it; its records share the id.
        var attempts = records.GroupBy(r => r.ConnectionId).ToList();
        Assert.Equal(2, attempts.Count);
        Assert.Equal(2, records.Count(r => r.Event == FlowEvent.New));
        var tcp = Assert.Single(attempts, a => a.First().Protocol == (byte)6);
        Assert.Equal([(ushort)5432, (ushort)5432], tcp.Select(r => r.DstPort));
        Assert.Equal([FlowEvent.New, FlowEvent.Update], tcp.Select(r => r.Event));
        Assert.Equal([(1_796_608_884L * 1000) + 121, (1_796_608_884L * 1000) + 121], tcp.Select(r => r.StartMs));
        var udp = Assert.Single(attempts, a => a.First().Protocol == (byte)17);
        Assert.Equal(53, Assert.Single(udp).DstPort);
        Assert.Equal(FlowEvent.New, udp.Single().Event);
        Assert.Equal([60UL, 60UL, 30UL], records.Select(r => r.BytesOut));
        Assert.All(records, r => Assert.Equal((1UL, true), (r.PacketsOut, r.CountersAreDeltas)));
    }

    [Fact]
    public void Decode_EveryTruncationOfTheSample_IsInvalid_NeverAnException()
    {
        foreach (var decoder in new IFlowDecoder[] { new Ulogd2NflogDecoder(), new AutoDetectDecoder() })
        {
            foreach (var line in Lines)
            {
                // auto reads an empty message as a blank line (Skipped); every other cut is Invalid for both.
                DecoderRun.AssertEveryPrefixInvalid(decoder, line, shortest: decoder is AutoDetectDecoder ? 1 : 0);
            }
        }
    }

    [Fact]
    public void Decode_SameTupleAfterAQuietWindow_IsANewAttempt()
    {
        var decoder = new Ulogd2NflogDecoder(attempts: new AttemptTracker(TimeSpan.FromSeconds(5)));
        var first = DecoderRun.DecodeOk(decoder, Packet(1_796_608_884, "visibility-drop: "));
        var retry = DecoderRun.DecodeOk(decoder, Packet(1_796_608_888, "visibility-drop: "));
        var later = DecoderRun.DecodeOk(decoder, Packet(1_796_608_894, "visibility-drop: "));
        Assert.Equal(first.ConnectionId, retry.ConnectionId);
        Assert.NotEqual(first.ConnectionId, later.ConnectionId);
        Assert.Equal([FlowEvent.New, FlowEvent.Update, FlowEvent.New], new[] { first.Event, retry.Event, later.Event });
        Assert.Equal(1_796_608_894_000L, later.StartMs);
    }

    [Theory]
    [InlineData("visibility-drop: ", FlowVerdict.Blocked, "visibility-drop")]
    [InlineData("FW REJECT in ", FlowVerdict.Blocked, "FW REJECT in")]
    [InlineData("prod/r3 accept: ", FlowVerdict.Allowed, "prod/r3 accept")]
    [InlineData("allow-then-deny", FlowVerdict.Blocked, "allow-then-deny")]
    [InlineData("ssh-in", FlowVerdict.Blocked, "ssh-in")]
    [InlineData("", FlowVerdict.Blocked, null)]
    public void Decode_Prefix_GivesVerdictAndRule_ByTheDefaultWords(string prefix, FlowVerdict verdict, string? rule)
    {
        var r = DecoderRun.DecodeOk(new Ulogd2NflogDecoder(), Packet(1_796_608_884, prefix));
        Assert.Equal(verdict, r.Verdict);
        Assert.Equal(verdict == FlowVerdict.Blocked, r.IsAttempt);
        Assert.Equal(rule, r.Policies);
    }

    [Theory]
    [InlineData("vis-drop prod", FlowVerdict.Blocked, "prod", "no rule of ruleset prod allows it")]
    [InlineData("vis-drop prod ", FlowVerdict.Blocked, "prod", "no rule of ruleset prod allows it")]
    [InlineData("vis-drop prod/app=api,env=dev -> app=db", FlowVerdict.Blocked, "prod", "refused by rule app=api,env=dev -> app=db of ruleset prod")]
    [InlineData("vis-accept prod/app=api -> app=db", FlowVerdict.Allowed, "prod", "allowed by rule app=api -> app=db of ruleset prod")]
    [InlineData("vis-drop", FlowVerdict.Blocked, "vis-drop", null)]
    [InlineData("vis-dropped x", FlowVerdict.Blocked, "vis-dropped x", null)]
    public void Decode_RenderedPrefix_NamesTheRulesetAndRule_WithAReason(string prefix, FlowVerdict verdict, string rule, string? reason)
    {
        // Words configured without "drop" or "accept" do not change what a rendered prefix says.
        var settings = new DecoderSettings();
        settings.NflogBlockedWords.Add("nope");
        settings.NflogAllowedWords.Add("fine");
        foreach (var decoder in new[] { new Ulogd2NflogDecoder(), DecoderRegistry.Create("ulogd2-nflog", settings) })
        {
            var r = DecoderRun.DecodeOk(decoder, Packet(1_796_608_884, prefix));
            Assert.Equal(verdict, r.Verdict);
            Assert.Equal(verdict == FlowVerdict.Blocked, r.IsAttempt);
            Assert.Equal(rule, r.Policies);
            Assert.Equal(reason, r.VerdictReason);
        }
    }

    [Fact]
    public void Decode_ConfiguredWords_ReplaceTheDefaults()
    {
        var settings = new DecoderSettings();
        settings.NflogAllowedWords.Add("ssh-in");
        settings.NflogBlockedWords.Add("nope");
        var decoder = DecoderRegistry.Create("ulogd2-nflog", settings);
        Assert.Equal(FlowVerdict.Allowed, DecoderRun.DecodeOk(decoder, Packet(1_796_608_884, "ssh-in")).Verdict);
        Assert.Equal(FlowVerdict.Blocked, DecoderRun.DecodeOk(decoder, Packet(1_796_608_885, "nope ssh-in")).Verdict);
        // "drop" is no longer a blocking word, and "accept" no longer an allowing one: neither decides; refused by default.
        Assert.Equal(FlowVerdict.Blocked, DecoderRun.DecodeOk(decoder, Packet(1_796_608_886, "accept")).Verdict);
    }

    [Fact]
    public void Decode_EscapedRecord_ReadByTheGeneralReader_SameAsFlat()
    {
        var flat = Lines[2];
        var escaped = flat.Replace("\"visibility-drop: \"", "\"visibility\\u002ddrop: \"", StringComparison.Ordinal)
            .Replace("\"dest_port\"", "\"dest\\u005fport\"", StringComparison.Ordinal);
        Assert.NotEqual(flat, escaped);
        Assert.Equal(Golden.Decode(new Ulogd2NflogDecoder(), flat), Golden.Decode(new Ulogd2NflogDecoder(), escaped));
    }

    [Fact]
    public void Decode_Ipv6IcmpWithoutOobTime_TakesTimestampAndIcmpPort()
    {
        const string line = """{"timestamp": "2026-12-07T02:01:30", "oob.prefix": "drop6: ", "oob.family": 10, "ip6.nexthdr": 58, "icmpv6.type": 128, "icmpv6.code": 0, "raw.pktlen": 104, "src_ip": "fd99:1::2", "dest_ip": "fd99:2::2"}""";
        var r = DecoderRun.DecodeOk(new Ulogd2NflogDecoder(), line);
        Assert.Equal(((byte)58, (ushort)0, (ushort)(128 << 8)), (r.Protocol, r.SrcPort, r.DstPort));
        Assert.Equal(DateTimeOffset.Parse("2026-12-07T02:01:30Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), r.StartMs);
        Assert.Equal(FlowVerdict.Blocked, r.Verdict);
    }

    [Theory]
    [InlineData("""{"oob.prefix": "drop", "oob.time.sec": 1, "ip.protocol": 6, "dest_ip": "10.0.0.2"}""", "src_ip or dest_ip is missing")]
    [InlineData("""{"oob.prefix": "drop", "oob.time.sec": 1, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2"}""", "ip.protocol is missing")]
    [InlineData("""{"oob.prefix": "drop", "ip.protocol": 6, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2"}""", "neither oob.time.sec nor timestamp is present")]
    [InlineData("""{"oob.prefix": 5, "oob.time.sec": 1, "ip.protocol": 6, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2"}""", "oob.prefix is not a string")]
    [InlineData("""{"oob.prefix": "drop", "oob.time.sec": 1, "ip.protocol": 6, "src_ip": "10.0.0.1", "dest_ip": "10.0.0.2", "dest_port": 70000}""", "a numeric field is not a number in range")]
    [InlineData("""{"oob.prefix": "drop", "oob.time.sec": 1, "ip.protocol": 6, "src_ip": "nope", "dest_ip": "10.0.0.2"}""", "src_ip is not an IP address")]
    [InlineData("[1]", "not a JSON object")]
    public void Decode_BadRecord_IsInvalidWithItsReason(string line, string reason)
    {
        var (status, _, why) = DecoderRun.Decode(new Ulogd2NflogDecoder(), line);
        Assert.Equal((DecodeStatus.Invalid, reason), (status, why));
    }

    private static string Packet(long seconds, string prefix) =>
        $$"""{"oob.prefix": "{{prefix}}", "oob.time.sec": {{seconds}}, "oob.time.usec": 0, "ip.protocol": 6, "raw.pktlen": 60, "src_port": 51544, "dest_port": 5432, "src_ip": "10.10.1.10", "dest_ip": "10.20.2.11"}""";
}
