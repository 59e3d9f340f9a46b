using System.Text.Json;
using System.Text.Json.Nodes;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

public sealed class CanonicalJsonDecoderTests
{
    private static readonly CanonicalJsonDecoder Decoder = new();

    private static string[] Sample => Golden.SampleLines("canonical-json/flows.jsonl");

    private static (DecodeStatus Status, FlowRecord Record, string? Reason) Decode(string json) => DecoderRun.Decode(Decoder, json);

    private static FlowRecord DecodeOk(string json) => DecoderRun.DecodeOk(Decoder, json);

    [Fact]
    public void Decode_Sample_MatchesGolden() => Golden.Verify("canonical-json/flows.jsonl", Decoder);

    [Fact]
    public void Decode_RecordsWithTheSameId_ShareConnectionId()
    {
        var created = DecodeOk(Sample[0]);
        var destroyed = DecodeOk(Sample[1]);
        Assert.Equal(FlowEvent.New, created.Event);
        Assert.Equal(FlowEvent.Destroy, destroyed.Event);
        Assert.Equal(created.ConnectionId, destroyed.ConnectionId);
        Assert.Equal(998877UL, destroyed.BytesIn);
        Assert.Equal(DateTimeOffset.Parse("2026-11-26T21:41:30.500Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), destroyed.EndMs);
        var otherId = DecodeOk(Sample[0].Replace("000001", "000002", StringComparison.Ordinal));
        Assert.NotEqual(created.ConnectionId, otherId.ConnectionId);
    }

    [Fact]
    public void Decode_AggregatedRecord_KeepsConnectionCountAndEpochTimes()
    {
        var r = DecodeOk(Sample[2]);
        Assert.Equal(42u, r.Connections);
        Assert.Equal(1_795_729_200_000L, r.StartMs);
        Assert.Equal(1_795_729_260_000L, r.EndMs);
        Assert.Equal(6, r.Protocol);
        Assert.Equal(0, r.SrcPort);
        Assert.Equal(UInt128.Zero, r.NatSrcIp);
        Assert.Equal(FlowEvent.Destroy, r.Event);
    }

    [Fact]
    public void Decode_SameRecordWithoutIdSentTwice_HasOneConnectionId()
    {
        Assert.Equal(DecodeOk(Sample[2]).ConnectionId, DecodeOk(Sample[2]).ConnectionId);
        var later = JsonNode.Parse(Sample[2])!;
        later["start"] = 1_795_729_260_000L;
        Assert.NotEqual(DecodeOk(Sample[2]).ConnectionId, DecodeOk(later.ToJsonString()).ConnectionId);
    }

    [Fact]
    public void Decode_DnatRecord_KeepsUntranslatedSource()
    {
        var r = DecodeOk(Sample[3]);
        Assert.Equal(1_795_729_201_000L, r.StartMs);
        Assert.Equal(("10.96.0.10", (ushort)53), (IpAddressKey.Format(r.DstIp), r.DstPort));
        Assert.Equal(("10.244.1.7", (ushort)53), (IpAddressKey.Format(r.NatDstIp), r.NatDstPort));
        Assert.Equal((r.SrcIp, r.SrcPort), (r.NatSrcIp, r.NatSrcPort));
    }

    [Fact]
    public void Decode_SnatRecord_KeepsUntranslatedDestination()
    {
        var r = DecodeOk(Sample[4]);
        Assert.Equal(("198.51.100.7", (ushort)61000), (IpAddressKey.Format(r.NatSrcIp), r.NatSrcPort));
        Assert.Equal((r.DstIp, r.DstPort), (r.NatDstIp, r.NatDstPort));
    }

    [Fact]
    public void Decode_Icmp_TypeAndCodeInDestinationPort()
    {
        var v4 = DecodeOk(Sample[5]);
        Assert.Equal((1, (ushort)0, (ushort)0x0800), (v4.Protocol, v4.SrcPort, v4.DstPort));
        var v6 = DecodeOk(Sample[6]);
        Assert.Equal((58, (ushort)0x8000), (v6.Protocol, v6.DstPort));
        Assert.Equal("fd20::5", IpAddressKey.Format(v6.SrcIp));
        Assert.Equal(0L, v6.EndMs);
    }

    [Fact]
    public void Decode_Ipv6WithUnknownMembersAndUpperCaseProto_Decodes()
    {
        var r = DecodeOk(Sample[7]);
        Assert.Equal(FlowEvent.Update, r.Event);
        Assert.Equal(6, r.Protocol);
        Assert.Equal("fd20:0:0:2::8", IpAddressKey.Format(r.DstIp));
    }

    [Fact]
    public void Decode_RequiredMembersOfTheSchema_AreRequiredByTheDecoder()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "docs", "flow-schema.json")));
        Assert.Equal(CanonicalJsonDecoder.SchemaVersion, schema.RootElement.GetProperty("properties").GetProperty("version").GetProperty("const").GetInt32());
        var required = schema.RootElement.GetProperty("required").EnumerateArray().Select(e => e.GetString()!).ToList();
        var optional = schema.RootElement.GetProperty("properties").EnumerateObject().Select(p => p.Name).Except(required).ToList();
        Assert.Equal(["version", "start", "proto", "src", "dst"], required);
        Assert.Equal(["end", "event", "nat", "icmp", "bytes_out", "packets_out", "bytes_in", "packets_in", "connections", "id", "verdict", "attempt", "audited", "reason", "policies"], optional);

        var full = JsonNode.Parse(Sample[1])!.AsObject();
        full["nat"] = JsonNode.Parse("""{"src": {"ip": "10.0.0.9", "port": 1}}""");
        full["connections"] = 1;
        full["verdict"] = "blocked";
        full["attempt"] = true;
        full["audited"] = false;
        full["reason"] = "POLICY_DENIED";
        full["policies"] = new JsonArray("prod/deny-dev");
        foreach (var name in optional.Where(n => n != "icmp"))
        {
            Assert.True(full.ContainsKey(name), name);
        }

        foreach (var name in required)
        {
            var without = full.DeepClone().AsObject();
            without.Remove(name);
            Assert.Equal(DecodeStatus.Invalid, Decode(without.ToJsonString()).Status);
        }

        foreach (var name in optional)
        {
            var without = full.DeepClone().AsObject();
            without.Remove(name);
            Assert.Equal(DecodeStatus.Ok, Decode(without.ToJsonString()).Status);
        }
    }

    [Theory]
    [InlineData("", "malformed JSON")]
    [InlineData("[1]", "not a JSON object")]
    [InlineData("{\"version\":1,\"start\":1,\"proto\":6,\"src\":{\"ip\":\"10.0.0.1\"},\"dst\":{\"ip\":\"10.0.0.2\"}", "malformed JSON")]
    [InlineData("{\"start\":1,\"proto\":6,\"src\":{\"ip\":\"10.0.0.1\"},\"dst\":{\"ip\":\"10.0.0.2\"}}", "version is missing")]
    [InlineData("{\"version\":\"1\"}", "version is not a number")]
    [InlineData("{\"version\":2}", "unsupported version")]
    [InlineData("{\"version\":1,\"proto\":6,\"src\":{\"ip\":\"10.0.0.1\"},\"dst\":{\"ip\":\"10.0.0.2\"}}", "start is missing")]
    [InlineData("{\"version\":1,\"start\":\"yesterday\"}", "start is not an RFC 3339 time or Unix milliseconds")]
    [InlineData("{\"version\":1,\"start\":\"2026-02-30T00:00:00Z\"}", "start is not an RFC 3339 time or Unix milliseconds")]
    [InlineData("{\"version\":1,\"start\":\"2026-11-26T21:40:00\"}", "start is not an RFC 3339 time or Unix milliseconds")]
    [InlineData("{\"version\":1,\"start\":-5}", "start is not an RFC 3339 time or Unix milliseconds")]
    [InlineData("{\"version\":1,\"start\":5,\"end\":true}", "end is not an RFC 3339 time, Unix milliseconds or null")]
    [InlineData("{\"version\":1,\"start\":5,\"end\":4,\"proto\":6,\"src\":{\"ip\":\"10.0.0.1\"},\"dst\":{\"ip\":\"10.0.0.2\"}}", "end is before start")]
    [InlineData("{\"version\":1,\"event\":\"open\"}", "event is not new, update or destroy")]
    [InlineData("{\"version\":1,\"proto\":\"ospf\"}", "proto is not a known name or a number 0-255")]
    [InlineData("{\"version\":1,\"proto\":300}", "proto is not a known name or a number 0-255")]
    [InlineData("{\"version\":1,\"start\":5}", "proto is missing")]
    [InlineData("{\"version\":1,\"start\":5,\"proto\":6,\"dst\":{\"ip\":\"10.0.0.2\"}}", "src.ip is missing")]
    [InlineData("{\"version\":1,\"start\":5,\"proto\":6,\"src\":{\"port\":1},\"dst\":{\"ip\":\"10.0.0.2\"}}", "src.ip is missing")]
    [InlineData("{\"version\":1,\"start\":5,\"proto\":6,\"src\":{\"ip\":\"10.0.0.1\"}}", "dst.ip is missing")]
    [InlineData("{\"version\":1,\"src\":{\"ip\":\"10.0.0.256\"}}", "src.ip is not an IP address")]
    [InlineData("{\"version\":1,\"dst\":{\"ip\":7}}", "dst.ip is not an IP address")]
    [InlineData("{\"version\":1,\"src\":\"10.0.0.1\"}", "src, dst and nat ends must be objects with ip and port")]
    [InlineData("{\"version\":1,\"src\":{\"ip\":\"10.0.0.1\",\"port\":65536}}", "a port is not a number 0-65535")]
    [InlineData("{\"version\":1,\"nat\":[]}", "nat is not an object")]
    [InlineData("{\"version\":1,\"nat\":{\"dst\":{\"ip\":\"x\"}}}", "nat.dst.ip is not an IP address")]
    [InlineData("{\"version\":1,\"icmp\":{\"type\":256}}", "icmp type or code is not a number 0-255")]
    [InlineData("{\"version\":1,\"bytes_out\":-1}", "a counter is not a whole number from 0")]
    [InlineData("{\"version\":1,\"packets_in\":1.5}", "a counter is not a whole number from 0")]
    [InlineData("{\"version\":1,\"connections\":0}", "connections is not a whole number from 1")]
    [InlineData("{\"version\":1,\"id\":\"\"}", "id is not a string of 1 to 256 bytes")]
    [InlineData("{\"version\":1,\"id\":42}", "id is not a string of 1 to 256 bytes")]
    [InlineData("{\"version\":1,\"verdict\":\"dropped\"}", "verdict is not allowed or blocked")]
    [InlineData("{\"version\":1,\"verdict\":{\"a\":1}}", "verdict is not allowed or blocked")]
    [InlineData("{\"version\":1,\"attempt\":1}", "attempt and audited are true or false")]
    [InlineData("{\"version\":1,\"reason\":[]}", "reason is not a string of at most 253 bytes")]
    [InlineData("{\"version\":1,\"policies\":\"a\"}", "policies is not an array of names")]
    [InlineData("{\"version\":1,\"policies\":[\"\"]}", "policies is not an array of names (1-253 bytes, no commas)")]
    [InlineData("{\"version\":1,\"policies\":[\"a,b\"]}", "policies is not an array of names (1-253 bytes, no commas)")]
    [InlineData("{\"version\":1,\"policies\":[{}]}", "policies is not an array of names (1-253 bytes, no commas)")]
    [InlineData("{\"version\":1,\"start\":5,\"proto\":6,\"src\":{\"ip\":\"10.0.0.1\"},\"dst\":{\"ip\":\"10.0.0.2\"},\"verdict\":\"allowed\",\"attempt\":true}", "an attempt is refused: its verdict is blocked")]
    public void Decode_MalformedInput_IsInvalidWithReason(string json, string expectedReason)
    {
        var (status, _, reason) = Decode(json);
        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Equal(expectedReason, reason);
    }

    [Fact]
    public void Decode_VerdictSample_MatchesGolden() => Golden.Verify("canonical-json/verdicts.jsonl", Decoder);

    [Fact]
    public void Decode_Verdicts_RefusedAttemptBlockedWithReasonAndPolicies_OthersAllowed()
    {
        var verdicts = Golden.SampleLines("canonical-json/verdicts.jsonl");
        var attempt = DecodeOk(verdicts[0]);
        var retransmission = DecodeOk(verdicts[1]);
        Assert.Equal((FlowVerdict.Blocked, true, false), (attempt.Verdict, attempt.IsAttempt, attempt.Audited));
        Assert.Equal(("POLICY_DENIED", "prod/deny-dev,fw/drop-all"), (attempt.VerdictReason!, attempt.Policies!));
        Assert.Equal((FlowVerdict.Blocked, FlowEvent.Update, attempt.ConnectionId), (retransmission.Verdict, retransmission.Event, retransmission.ConnectionId));

        // Shared strings: the same reason and list decoded again are the same instances (no allocation per record).
        Assert.Same(attempt.Policies, retransmission.Policies);
        Assert.Same(attempt.VerdictReason, retransmission.VerdictReason);

        var allowed = DecodeOk(verdicts[2]);
        Assert.Equal((FlowVerdict.Allowed, false, "shop/allow-web"), (allowed.Verdict, allowed.IsAttempt, allowed.Policies!));
        var audited = DecodeOk(verdicts[3]);
        Assert.Equal((FlowVerdict.Allowed, true, "kube-system/dns-audit"), (audited.Verdict, audited.Audited, audited.Policies!));
        var plain = DecodeOk(Sample[2]);
        Assert.Equal((FlowVerdict.Allowed, false, false), (plain.Verdict, plain.IsAttempt, plain.Audited));
        Assert.Null(plain.VerdictReason);
        Assert.Null(plain.Policies);
    }

    [Fact]
    public void Decode_LongId_IsInvalid()
    {
        var line = Sample[0].Replace("agent-7/conn/000001", new string('x', CanonicalJsonDecoder.MaxIdLength + 1), StringComparison.Ordinal);
        Assert.Equal("id is not a string of 1 to 256 bytes", Decode(line).Reason);
        var escaped = Sample[0].Replace("agent-7/conn/000001", string.Concat(Enumerable.Repeat("\\u0041", 300)), StringComparison.Ordinal);
        Assert.Equal("id is not a string of 1 to 256 bytes", Decode(escaped).Reason);
    }

    [Fact]
    public void Decode_EscapedIdAndTime_ReadLikeTheirPlainForms()
    {
        var plain = DecodeOk(Sample[1]);
        var escaped = DecodeOk(Sample[1].Replace("agent-7/", "agent\\u002d7\\/", StringComparison.Ordinal).Replace("\"2026-11-26T21:40:00.125Z\"", "\"2026-11-26T21:40:00.125\\u005a\"", StringComparison.Ordinal));
        Assert.Equal(plain.ConnectionId, escaped.ConnectionId);
        Assert.Equal(plain.StartMs, escaped.StartMs);
    }

    [Fact]
    public void Decode_EveryTruncationOfARecord_IsInvalid()
    {
        DecoderRun.AssertEveryPrefixInvalid(Decoder, Sample[4]);
    }
}
