using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

/// <summary>
/// A sample in the shape <c>hubble observe -o json</c> prints (no cluster is reachable here): a TCP connection
/// in both directions, DNS, ICMP and ICMPv6 echo, a dropped packet from the internet, an unidentified IPv6
/// packet, bare flow objects, an L7 record and non-flow responses.
/// </summary>
public sealed class HubbleJsonDecoderTests
{
    private static string[] Sample => Golden.SampleLines("hubble-json/observe.jsonl");

    private static (DecodeStatus Status, FlowRecord Record, string? Reason) Decode(HubbleJsonDecoder decoder, string line) => DecoderRun.Decode(decoder, line);

    private static FlowRecord DecodeOk(HubbleJsonDecoder decoder, string line) => DecoderRun.DecodeOk(decoder, line);

    [Fact]
    public void Decode_Sample_MatchesGolden() => Golden.Verify("hubble-json/observe.jsonl", new HubbleJsonDecoder());

    [Fact]
    public void Decode_RequestAndReplies_FoldIntoOneConnectionFromTheInitiator()
    {
        var decoder = new HubbleJsonDecoder();
        var records = Sample[..5].Select(l => DecodeOk(decoder, l)).ToList();
        Assert.Single(records.Select(r => r.ConnectionId).Distinct());
        foreach (var r in records)
        {
            Assert.Equal(("10.244.1.23", (ushort)43512), (IpAddressKey.Format(r.SrcIp), r.SrcPort));
            Assert.Equal(("10.244.2.31", (ushort)8080), (IpAddressKey.Format(r.DstIp), r.DstPort));
            Assert.Equal("shop/frontend-7d9c5b7f6d-x2x7q", r.Src!.Workload);
            Assert.Equal("shop/cart-5f8b9c6d47-q8r2m", r.Dst!.Workload);
            Assert.Equal(0UL, r.BytesOut + r.BytesIn);
            Assert.Equal(1UL, r.PacketsOut + r.PacketsIn);
        }

        Assert.Equal([1UL, 0UL, 1UL, 1UL, 0UL], records.Select(r => r.PacketsOut));
        Assert.Equal([0UL, 1UL, 0UL, 0UL, 1UL], records.Select(r => r.PacketsIn));
        Assert.Equal([FlowEvent.New, FlowEvent.Update, FlowEvent.Update, FlowEvent.Destroy, FlowEvent.Destroy], records.Select(r => r.Event));
        Assert.Equal(0L, records[0].EndMs);
        Assert.Equal(records[3].StartMs, records[3].EndMs);
    }

    [Fact]
    public void Decode_FlowTime_IsTheStartToTheMillisecond()
    {
        var r = DecodeOk(new HubbleJsonDecoder(), Sample[0]);
        Assert.Equal(new DateTimeOffset(2026, 11, 26, 21, 45, 0, 101, TimeSpan.Zero).ToUnixTimeMilliseconds(), r.StartMs);
        Assert.Equal(UInt128.Zero, r.NatSrcIp);
    }

    [Fact]
    public void Decode_PodEnds_BecomeLabelledWorkloadsThroughTheProfile()
    {
        var r = DecodeOk(new HubbleJsonDecoder(), Sample[0]);
        var frontend = r.Src!;
        Assert.Equal("pod", frontend.Kind);
        Assert.Equal("frontend", frontend.App);
        Assert.Equal("web", frontend.Role);
        Assert.Equal("prod", frontend.Env);
        Assert.Equal("shop", frontend.Labels["namespace"]);
        Assert.Equal("storefront", frontend.Labels["team"]);
        Assert.DoesNotContain(frontend.Labels.Keys, k => k.StartsWith("io.", StringComparison.Ordinal));

        var cart = r.Dst!;
        Assert.Equal(("cart", "backend", "prod"), (cart.App, cart.Role, cart.Env));
    }

    [Fact]
    public void Decode_CustomProfile_ChangesTheMapping()
    {
        var profile = new KubernetesProfileOptions();
        profile.PodLabels["app"] = ["team"];
        var r = DecodeOk(new HubbleJsonDecoder(profile), Sample[0]);
        Assert.Equal("storefront", r.Src!.App);
    }

    [Fact]
    public void Decode_RepeatedPods_ReuseCachedEndpoints()
    {
        var endpoints = new KubernetesEndpointResolver();
        var decoder = new HubbleJsonDecoder(endpoints);
        var first = DecodeOk(decoder, Sample[0]);
        var reply = DecodeOk(decoder, Sample[1]);
        Assert.Same(first.Src, reply.Src);
        Assert.Same(first.Dst, reply.Dst);
        Assert.Equal(2, endpoints.Cached);
        var dns = DecodeOk(decoder, Sample[5]);
        Assert.Same(first.Src, dns.Src);
        Assert.Equal(3, endpoints.Cached);
    }

    [Fact]
    public void Decode_PodWithChangedLabels_GetsANewEndpoint()
    {
        var decoder = new HubbleJsonDecoder();
        var before = DecodeOk(decoder, Sample[0]);
        var after = DecodeOk(decoder, Sample[0].Replace("k8s:team=storefront", "k8s:team=checkout", StringComparison.Ordinal));
        Assert.NotSame(before.Src, after.Src);
        Assert.Equal("checkout", after.Src!.Labels["team"]);
    }

    [Fact]
    public void Decode_UdpAnswer_IsFoldedIntoTheQuery()
    {
        var decoder = new HubbleJsonDecoder();
        var query = DecodeOk(decoder, Sample[5]);
        var answer = DecodeOk(decoder, Sample[6]);
        Assert.Equal(query.ConnectionId, answer.ConnectionId);
        Assert.Equal((17, (ushort)53), (answer.Protocol, answer.DstPort));
        Assert.Equal("kube-system/coredns-76f75df574-7qk2h", answer.Dst!.Workload);
        Assert.Equal("kube-dns", answer.Dst.App);
        Assert.Equal(1UL, answer.PacketsIn);
    }

    [Fact]
    public void Decode_IcmpEchoAndReply_ShareConnectionAndRequestType()
    {
        var decoder = new HubbleJsonDecoder();
        var request = DecodeOk(decoder, Sample[7]);
        var reply = DecodeOk(decoder, Sample[8]);
        Assert.Equal((1, (ushort)0, (ushort)0x0800), (request.Protocol, request.SrcPort, request.DstPort));
        Assert.Equal(request.ConnectionId, reply.ConnectionId);
        Assert.Equal(1UL, reply.PacketsIn);
    }

    [Fact]
    public void Decode_Icmpv6ReplyWithoutIsReply_IsKnownByItsType()
    {
        var decoder = new HubbleJsonDecoder();
        var request = DecodeOk(decoder, Sample[12]);
        var reply = DecodeOk(decoder, Sample[13]);
        Assert.Equal((58, (ushort)0x8000), (request.Protocol, request.DstPort));
        Assert.Equal(request.ConnectionId, reply.ConnectionId);
        Assert.Equal("fd00:10:244:1::23", IpAddressKey.Format(reply.SrcIp));
        Assert.Equal((0UL, 1UL), (reply.PacketsOut, reply.PacketsIn));
    }

    [Fact]
    public void Decode_WorldSource_IsLeftForEnrichment()
    {
        var r = DecodeOk(new HubbleJsonDecoder(), Sample[9]);
        Assert.Null(r.Src);
        Assert.Equal("shop/frontend-7d9c5b7f6d-x2x7q", r.Dst!.Workload);
        Assert.Equal(FlowEvent.New, r.Event);
    }

    [Fact]
    public void Decode_EndsWithoutIdentity_AreNull()
    {
        var r = DecodeOk(new HubbleJsonDecoder(), Sample[10]);
        Assert.Null(r.Src);
        Assert.Null(r.Dst);
        Assert.Equal((58, (ushort)(133 << 8)), (r.Protocol, r.DstPort));
        Assert.Equal("ff02::2", IpAddressKey.Format(r.DstIp));
    }

    [Fact]
    public void Decode_BareFlowObject_DecodesLikeAWrappedOne()
    {
        var decoder = new HubbleJsonDecoder();
        var bare = DecodeOk(decoder, Sample[11]);
        Assert.Equal("fd00:10:244:2::31", IpAddressKey.Format(bare.DstIp));
        Assert.Equal("shop/cart-5f8b9c6d47-q8r2m", bare.Dst!.Workload);
        var wrapped = $"{{\"flow\":{Sample[11]},\"node_name\":\"default/kind-worker\",\"time\":\"2026-11-26T21:45:05Z\"}}";
        Assert.Equal(Golden.Render(DecodeStatus.Ok, null, bare), Golden.Decode(decoder, wrapped));
    }

    [Fact]
    public void Decode_PodWithoutName_IsNamedByItsWorkload()
    {
        var r = DecodeOk(new HubbleJsonDecoder(), Sample[17]);
        Assert.Equal("shop/cart", r.Dst!.Workload);
        Assert.Equal("cart", r.Dst.App);
    }

    [Theory]
    [InlineData(14, "not an L3/L4 flow")]
    [InlineData(15, "not a flow event")]
    [InlineData(16, "not a flow event")]
    public void Decode_NonFlowOrL7_IsSkipped(int line, string expectedReason)
    {
        var (status, _, reason) = Decode(new HubbleJsonDecoder(), Sample[line]);
        Assert.Equal((DecodeStatus.Skipped, expectedReason), (status, reason));
    }

    [Theory]
    [InlineData("{\"flow\":{\"time\":\"2026-11-26T21:45:00Z\",\"verdict\":\"FORWARDED\",\"Type\":\"L3_L4\"}}", "flow has no IP layer")]
    [InlineData("{\"flow\":{\"time\":\"2026-11-26T21:45:00Z\",\"IP\":{\"source\":\"10.0.0.1\",\"destination\":\"10.0.0.2\"},\"l4\":{\"IGMP\":{\"type\":22}}}}", "flow has no TCP, UDP, SCTP or ICMP layer")]
    public void Decode_FlowWithoutUsableLayers_IsSkipped(string json, string expectedReason)
    {
        var (status, _, reason) = Decode(new HubbleJsonDecoder(), json);
        Assert.Equal((DecodeStatus.Skipped, expectedReason), (status, reason));
    }

    [Theory]
    [InlineData("", "malformed JSON")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("{\"hello\":1}", "not a Hubble flow")]
    [InlineData("{\"flow\":3}", "flow is not an object")]
    [InlineData("{\"flow\":{\"IP\":{\"source\":\"10.0.0.1\",\"destination\":\"10.0.0.2\"},\"l4\":{\"UDP\":{}}}}", "time is missing")]
    [InlineData("{\"flow\":{\"time\":\"yesterday\"}}", "time is not an RFC 3339 time")]
    [InlineData("{\"flow\":{\"IP\":[]}}", "IP is not an object")]
    [InlineData("{\"flow\":{\"IP\":{\"source\":\"10.0.0.x\"}}}", "IP.source is not an IP address")]
    [InlineData("{\"flow\":{\"IP\":{\"destination\":5}}}", "IP.destination is not an IP address")]
    [InlineData("{\"flow\":{\"l4\":\"TCP\"}}", "l4 is not an object")]
    [InlineData("{\"flow\":{\"l4\":{\"TCP\":[]}}}", "an l4 layer is not an object")]
    [InlineData("{\"flow\":{\"l4\":{\"TCP\":{\"source_port\":70000}}}}", "a port is not a number 0-65535")]
    [InlineData("{\"flow\":{\"l4\":{\"ICMPv4\":{\"type\":300}}}}", "an ICMP type or code is not a number 0-255")]
    [InlineData("{\"flow\":{\"l4\":{\"TCP\":{\"flags\":[\"SYN\"]}}}}", "TCP flags are not an object")]
    [InlineData("{\"flow\":{\"source\":\"pod\"}}", "source and destination must be objects")]
    [InlineData("{\"flow\":{\"is_reply\":\"yes\"}}", "is_reply is not a boolean")]
    [InlineData("{\"flow\":{\"time\":\"2026-11-26T21:45:00Z\",\"IP\":{\"source\":\"10.0.0.1\",\"destination\":\"10.0.0.2\"},\"l4\":{\"UDP\":{}},\"source\":{\"namespace\":5,\"pod_name\":\"a\"}}}", "an endpoint field has the wrong JSON type")]
    public void Decode_MalformedInput_IsInvalidWithReason(string json, string expectedReason)
    {
        var (status, _, reason) = Decode(new HubbleJsonDecoder(), json);
        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Equal(expectedReason, reason);
    }

    [Fact]
    public void Decode_EscapedLabels_MatchTheirPlainForm()
    {
        var decoder = new HubbleJsonDecoder();
        var plain = DecodeOk(decoder, Sample[0]);
        var escaped = DecodeOk(decoder, Sample[0].Replace("k8s:team=storefront", "k8s:team=store\\u0066ront", StringComparison.Ordinal));
        Assert.Equal("storefront", escaped.Src!.Labels["team"]);
        Assert.Equal(plain.Src!.Labels, escaped.Src.Labels);
    }

    [Fact]
    public void Decode_EveryTruncationOfARealRecord_IsInvalid()
    {
        DecoderRun.AssertEveryPrefixInvalid(new HubbleJsonDecoder(), Sample[1]);
    }

    [Fact]
    public void Decode_ManyThreadsOnOneDecoder_AgreeOnEndpoints()
    {
        var decoder = new HubbleJsonDecoder();
        var lines = Sample.Select(Encoding.UTF8.GetBytes).ToArray();
        var expected = Sample.Select(l => AnyEvent(Golden.Decode(new HubbleJsonDecoder(), l))).ToArray();
        Parallel.For(0, 8, worker =>
        {
            for (var i = 0; i < 200; i++)
            {
                var line = (i + worker) % lines.Length;
                var record = default(FlowRecord);
                var status = decoder.Decode(lines[line], ref record, out var reason);
                Assert.Equal(expected[line], AnyEvent(Golden.Render(status, reason, record)));
            }
        });
    }

    [Fact]
    public void Decode_VerdictSample_MatchesGolden() => Golden.Verify("hubble-json/verdicts.jsonl", new HubbleJsonDecoder());

    [Fact]
    public void Decode_Forwarded_IsAllowedWithThePoliciesThatAllowedIt()
    {
        var decoder = new HubbleJsonDecoder();
        var request = DecodeOk(decoder, Verdicts[0]);
        Assert.Equal((FlowVerdict.Allowed, false, false), (request.Verdict, request.IsAttempt, request.Audited));
        Assert.Equal("shop/cart-ingress,shop/allow-monitoring,shop/frontend-egress", request.Policies);
        Assert.Null(request.VerdictReason);
        var reply = DecodeOk(decoder, Verdicts[1]);
        Assert.Equal((FlowVerdict.Allowed, false, (string?)null), (reply.Verdict, reply.IsAttempt, reply.Policies));
        Assert.Equal(request.ConnectionId, reply.ConnectionId);
    }

    [Fact]
    public void Decode_DroppedByPolicy_IsOneBlockedAttemptWithReasonAndPolicy_RetransmissionFolded()
    {
        var decoder = new HubbleJsonDecoder();
        var first = DecodeOk(decoder, Verdicts[2]);
        var retransmission = DecodeOk(decoder, Verdicts[3]);
        foreach (var r in new[] { first, retransmission })
        {
            Assert.Equal((FlowVerdict.Blocked, true, false), (r.Verdict, r.IsAttempt, r.Audited));
            Assert.Equal("POLICY_DENIED", r.VerdictReason);
            Assert.Equal("shop/deny-dev-to-prod", r.Policies);
            Assert.Equal(first.StartMs, r.StartMs);
        }

        Assert.Equal((FlowEvent.New, FlowEvent.Update), (first.Event, retransmission.Event));
        Assert.Equal(first.ConnectionId, retransmission.ConnectionId);
        // An attempt never shares its id with a connection of the same tuple.
        Assert.NotEqual(first.ConnectionId, DecodeOk(decoder, Verdicts[2].Replace("DROPPED", "FORWARDED", StringComparison.Ordinal)).ConnectionId);

        var defaultDeny = DecodeOk(decoder, Verdicts[4]);
        Assert.Equal((FlowVerdict.Blocked, true, "POLICY_DENIED", (string?)null), (defaultDeny.Verdict, defaultDeny.IsAttempt, defaultDeny.VerdictReason, defaultDeny.Policies));
    }

    [Fact]
    public void Decode_Audit_IsAllowedAndAudited_NamingTheAuditedDenyPolicy()
    {
        var decoder = new HubbleJsonDecoder();
        var named = DecodeOk(decoder, Verdicts[5]);
        Assert.Equal((FlowVerdict.Allowed, true, false, "shop/deny-dev-to-prod"), (named.Verdict, named.Audited, named.IsAttempt, named.Policies));
        var unnamed = DecodeOk(decoder, Verdicts[6]);
        Assert.Equal((FlowVerdict.Allowed, true, (string?)null), (unnamed.Verdict, unnamed.Audited, unnamed.Policies));
        Assert.Equal(FlowEvent.New, unnamed.Event);
    }

    [Fact]
    public void Decode_Error_IsBlockedWithItsReason()
    {
        var r = DecodeOk(new HubbleJsonDecoder(), Verdicts[7]);
        Assert.Equal((FlowVerdict.Blocked, true, "CT_MAP_INSERTION_FAILED"), (r.Verdict, r.IsAttempt, r.VerdictReason));
    }

    [Theory]
    [InlineData("\"egress_denied_by\":{}", "a policy list is not an array")]
    [InlineData("\"egress_denied_by\":[1]", "a policy list holds something other than policies")]
    [InlineData("\"egress_denied_by\":[{\"name\":5}]", "a policy's name or namespace is not a string")]
    public void Decode_MalformedPolicyList_IsInvalid(string member, string reason)
    {
        var line = Verdicts[2].Replace("\"drop_reason_desc\"", member + ",\"x\"", StringComparison.Ordinal);
        var (status, _, why) = Decode(new HubbleJsonDecoder(), line);
        Assert.Equal((DecodeStatus.Invalid, reason), (status, why));
    }

    [Fact]
    public void Decode_EscapedAndOverlongPolicyNames_AreUnescapedOrLeftOut()
    {
        var longName = new string('p', 300);
        var line = Verdicts[0]
            .Replace("\"name\":\"frontend-egress\"", "\"name\":\"front\\u0065nd-egress\"", StringComparison.Ordinal)
            .Replace("\"name\":\"allow-monitoring\"", $"\"name\":\"{longName}\"", StringComparison.Ordinal);
        var r = DecodeOk(new HubbleJsonDecoder(), line);
        Assert.Equal("shop/cart-ingress,shop/frontend-egress", r.Policies);
    }

    private static string[] Verdicts => Golden.SampleLines("hubble-json/verdicts.jsonl");

    // An attempt's first record opens it and later ones update it, so which a record is depends on the order of decoding.
    private static string AnyEvent(string rendered) =>
        rendered.Contains(" attempt", StringComparison.Ordinal) ? rendered.Replace(" event=New ", " event=Update ", StringComparison.Ordinal) : rendered;
}
