using System.Text;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;

namespace Visibility.Tests.Decoding;

/// <summary>
/// Samples written to the documented format (no AWS account is reachable here): the default version 2 format,
/// a version 5 custom format with its S3 header line (NAT gateway and EKS pod records), and a configured
/// custom format that does not start with the version.
/// </summary>
public sealed class AwsVpcFlowLogDecoderTests
{
    private static readonly string[] NoVersionOrder =
        ["${account-id}", "${interface-id}", "${srcaddr}", "${dstaddr}", "${srcport}", "${dstport}", "${protocol}", "${bytes}", "${start}", "${end}", "${flow-direction}"];

    private static string[] DefaultSample => Golden.SampleLines("aws-vpc/default-v2.log");

    private static string[] CustomSample => Golden.SampleLines("aws-vpc/custom-v5.log");

    private static (DecodeStatus Status, FlowRecord Record, string? Reason) Decode(IFlowDecoder decoder, string line) => DecoderRun.Decode(decoder, line);

    private static FlowRecord DecodeOk(IFlowDecoder decoder, string line) => DecoderRun.DecodeOk(decoder, line);

    /// <summary>A decoder that has read the custom sample's header line.</summary>
    private static AwsVpcFlowLogDecoder CustomDecoder()
    {
        var decoder = new AwsVpcFlowLogDecoder();
        Assert.Equal(DecodeStatus.Skipped, Decode(decoder, CustomSample[0]).Status);
        return decoder;
    }

    [Fact]
    public void Decode_DefaultFormatSample_MatchesGolden() => Golden.Verify("aws-vpc/default-v2.log", new AwsVpcFlowLogDecoder());

    [Fact]
    public void Decode_CustomFormatWithHeaderSample_MatchesGolden() => Golden.Verify("aws-vpc/custom-v5.log", new AwsVpcFlowLogDecoder());

    [Fact]
    public void Decode_ConfiguredCustomFormatSample_MatchesGolden() =>
        Golden.Verify("aws-vpc/custom-no-version.log", new AwsVpcFlowLogDecoder(NoVersionOrder));

    [Fact]
    public void Decode_DefaultRecord_IsOneFinishedDirection()
    {
        var r = DecodeOk(new AwsVpcFlowLogDecoder(), DefaultSample[0]);
        Assert.Equal(FlowEvent.Destroy, r.Event);
        Assert.Equal(("172.31.16.139", (ushort)20641), (IpAddressKey.Format(r.SrcIp), r.SrcPort));
        Assert.Equal(("172.31.16.21", (ushort)22), (IpAddressKey.Format(r.DstIp), r.DstPort));
        Assert.Equal((4249UL, 20UL, 0UL, 0UL), (r.BytesOut, r.PacketsOut, r.BytesIn, r.PacketsIn));
        Assert.Equal((1_795_729_200_000L, 1_795_729_260_000L), (r.StartMs, r.EndMs));
        Assert.Equal(UInt128.Zero, r.NatSrcIp);
        Assert.Equal(0u, r.Connections);
    }

    [Fact]
    public void Decode_Reject_IsABlockedAttemptApartFromAcceptedTraffic()
    {
        var decoder = new AwsVpcFlowLogDecoder();
        var rejected = DecodeOk(decoder, DefaultSample[3]);
        Assert.Equal((FlowVerdict.Blocked, true, FlowEvent.New), (rejected.Verdict, rejected.IsAttempt, rejected.Event));
        Assert.Equal(("172.31.9.69", "172.31.16.21", (ushort)3389), (IpAddressKey.Format(rejected.SrcIp), IpAddressKey.Format(rejected.DstIp), rejected.DstPort));
        Assert.Null(rejected.VerdictReason);
        var accepted = DecodeOk(decoder, DefaultSample[3].Replace("REJECT", "ACCEPT", StringComparison.Ordinal));
        Assert.Equal((FlowVerdict.Allowed, false, FlowEvent.Destroy), (accepted.Verdict, accepted.IsAttempt, accepted.Event));
        Assert.NotEqual(accepted.ConnectionId, rejected.ConnectionId);
        Assert.Equal(FlowVerdict.Allowed, DecodeOk(decoder, DefaultSample[0]).Verdict);
    }

    [Fact]
    public void Decode_RejectReason_IsTheVerdictReason()
    {
        var decoder = new AwsVpcFlowLogDecoder(["srcaddr", "dstaddr", "srcport", "dstport", "protocol", "start", "action", "reject-reason"]);
        var r = DecodeOk(decoder, "10.0.0.1 10.0.0.2 40000 443 6 1795729200 REJECT BPA");
        Assert.Equal((FlowVerdict.Blocked, "BPA"), (r.Verdict, r.VerdictReason));
        Assert.Null(DecodeOk(decoder, "10.0.0.1 10.0.0.2 40000 443 6 1795729200 REJECT -").VerdictReason);
        Assert.Null(DecodeOk(decoder, "10.0.0.1 10.0.0.2 40000 443 6 1795729200 ACCEPT -").VerdictReason);
        var (status, _, reason) = Decode(decoder, "10.0.0.1 10.0.0.2 40000 443 6 1795729200 DENY -");
        Assert.Equal((DecodeStatus.Invalid, "action is not ACCEPT or REJECT"), (status, reason));
    }

    [Fact]
    public void Decode_SameTrafficLoggedByTwoInterfaces_SharesConnectionId()
    {
        var decoder = new AwsVpcFlowLogDecoder();
        var atDestination = DecodeOk(decoder, DefaultSample[0]);
        var atSource = DecodeOk(decoder, DefaultSample[2]);
        var answer = DecodeOk(decoder, DefaultSample[1]);
        Assert.Equal(atDestination.ConnectionId, atSource.ConnectionId);
        Assert.NotEqual(atDestination.ConnectionId, answer.ConnectionId);
    }

    [Theory]
    [InlineData(4, "NODATA: no traffic in the capture window")]
    [InlineData(5, "SKIPDATA: records skipped in the capture window")]
    public void Decode_NoDataOrSkipData_IsSkipped(int line, string expectedReason)
    {
        var (status, _, reason) = Decode(new AwsVpcFlowLogDecoder(), DefaultSample[line]);
        Assert.Equal(DecodeStatus.Skipped, status);
        Assert.Equal(expectedReason, reason);
    }

    [Fact]
    public void Decode_IcmpAndIpv6Records_Decode()
    {
        var decoder = new AwsVpcFlowLogDecoder();
        var icmp = DecodeOk(decoder, DefaultSample[8]);
        Assert.Equal((1, (ushort)0, (ushort)0), (icmp.Protocol, icmp.SrcPort, icmp.DstPort));
        var v6 = DecodeOk(decoder, DefaultSample[9]);
        Assert.Equal("2001:db8:1234:a100:8d6e:3477:df66:f105", IpAddressKey.Format(v6.SrcIp));
        Assert.Equal(8855UL, v6.BytesOut);
    }

    [Fact]
    public void Decode_HeaderLine_SetsFieldOrderForLaterRecords()
    {
        var fresh = new AwsVpcFlowLogDecoder();
        Assert.Equal("fewer fields than the field order", Decode(fresh, "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2").Reason);
        Assert.Equal("more fields than the field order", Decode(fresh, CustomSample[1]).Reason);
        var (status, _, reason) = Decode(fresh, CustomSample[0]);
        Assert.Equal((DecodeStatus.Skipped, "header line"), (status, reason));
        DecodeOk(fresh, CustomSample[1]);
        Assert.Equal("fewer fields than the field order", Decode(fresh, DefaultSample[0]).Reason);
    }

    [Fact]
    public void Decode_NatGatewayRecords_PacketAddressesArePeersAndInterfaceAddressesTheNatTuple()
    {
        var decoder = CustomDecoder();
        var toGateway = DecodeOk(decoder, CustomSample[1]);
        Assert.Equal(("10.0.1.5", "203.0.113.5"), (IpAddressKey.Format(toGateway.SrcIp), IpAddressKey.Format(toGateway.DstIp)));
        Assert.Equal(("10.0.1.5", "10.0.0.220"), (IpAddressKey.Format(toGateway.NatSrcIp), IpAddressKey.Format(toGateway.NatDstIp)));
        Assert.Equal(((ushort)49152, (ushort)443), (toGateway.NatSrcPort, toGateway.NatDstPort));

        var backToInstance = DecodeOk(decoder, CustomSample[4]);
        Assert.Equal(("203.0.113.5", "10.0.1.5"), (IpAddressKey.Format(backToInstance.SrcIp), IpAddressKey.Format(backToInstance.DstIp)));
        Assert.Equal("10.0.0.220", IpAddressKey.Format(backToInstance.NatSrcIp));
    }

    [Fact]
    public void Decode_EksPodOnSecondaryAddress_PodIsTheSource()
    {
        var r = DecodeOk(CustomDecoder(), CustomSample[5]);
        Assert.Equal("10.0.2.77", IpAddressKey.Format(r.SrcIp));
        Assert.Equal("10.0.2.10", IpAddressKey.Format(r.NatSrcIp));
        Assert.Equal(r.DstIp, r.NatDstIp);
    }

    [Fact]
    public void Decode_PacketAddressesEqualToInterfaceAddresses_NatTupleEqualsOriginal()
    {
        var r = DecodeOk(CustomDecoder(), CustomSample[6]);
        Assert.Equal((r.SrcIp, r.SrcPort, r.DstIp, r.DstPort), (r.NatSrcIp, r.NatSrcPort, r.NatDstIp, r.NatDstPort));
    }

    [Fact]
    public void Decode_ConfiguredOrderWithoutEnd_LeavesEndOpen()
    {
        var r = DecodeOk(new AwsVpcFlowLogDecoder(NoVersionOrder), Golden.SampleLines("aws-vpc/custom-no-version.log")[2]);
        Assert.Equal(17, r.Protocol);
        Assert.Equal(0L, r.EndMs);
        Assert.Equal(73UL, r.BytesOut);
        Assert.Equal(0UL, r.PacketsOut);
    }

    [Theory]
    [InlineData("version srcaddr dstaddr")]
    [InlineData("srcaddr dstaddr start srcaddr")]
    public void Create_OrderWithoutRequiredFieldsOrWithRepeats_Throws(string order) =>
        Assert.Throws<ArgumentException>(() => new AwsVpcFlowLogDecoder(order.Split(' ')));

    [Fact]
    public void Create_UnderscoreAndUnknownFieldNames_AreAccepted()
    {
        var decoder = new AwsVpcFlowLogDecoder(["srcaddr", "dstaddr", "start", "some-future-field", "pkt_srcaddr"]);
        var r = DecodeOk(decoder, "10.0.0.1 10.0.0.2 1795729200 whatever 10.0.0.9");
        Assert.Equal("10.0.0.9", IpAddressKey.Format(r.SrcIp));
    }

    [Theory]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1795729200 1795729260 ACCEPT MAYBE", "log-status is not OK, NODATA or SKIPDATA")]
    [InlineData("2 1 eni-1 10.0.0.300 10.0.0.2 1 2 6 1 1 1795729200 1795729260 ACCEPT OK", "srcaddr is not an IP address")]
    [InlineData("2 1 eni-1 10.0.0.1 host 1 2 6 1 1 1795729200 1795729260 ACCEPT OK", "dstaddr is not an IP address")]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 70000 6 1 1 1795729200 1795729260 ACCEPT OK", "a port is not a number 0-65535")]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 tcp 1 1 1795729200 1795729260 ACCEPT OK", "protocol is not a number 0-255")]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 -1 1 1795729200 1795729260 ACCEPT OK", "packets or bytes is not a number")]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 yesterday 1795729260 ACCEPT OK", "start or end is not Unix seconds")]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1795729260 1795729200 ACCEPT OK", "end is before start")]
    [InlineData("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 - 1795729200 ACCEPT OK", "start is missing")]
    [InlineData("2 1 eni-1 10.0.0.1 - 1 2 6 1 1 1795729200 1795729260 ACCEPT OK", "srcaddr or dstaddr is missing")]
    [InlineData("version srcaddr dstaddr", "header line lacks srcaddr, dstaddr or start, or repeats a field")]
    public void Decode_MalformedRecord_IsInvalidWithReason(string line, string expectedReason)
    {
        var (status, _, reason) = Decode(new AwsVpcFlowLogDecoder(), line);
        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Equal(expectedReason, reason);
    }

    [Fact]
    public void Decode_EveryTruncationOfADefaultRecord_IsInvalid()
    {
        var decoder = new AwsVpcFlowLogDecoder();
        var bytes = Encoding.UTF8.GetBytes(DefaultSample[0]);
        for (var n = 0; n < bytes.Length; n++)
        {
            var record = default(FlowRecord);
            var status = decoder.Decode(bytes.AsSpan(0, n), ref record, out var reason);
            Assert.True(status is DecodeStatus.Invalid || (n == 0 && status == DecodeStatus.Skipped), $"prefix of {n} bytes: {status}");
            Assert.False(string.IsNullOrEmpty(reason));
        }
    }

    [Fact]
    public void Decode_HeaderFromOneThreadWhileOthersDecode_EveryRecordSeesOneWholeOrder()
    {
        var decoder = new AwsVpcFlowLogDecoder();
        var defaultLine = Encoding.UTF8.GetBytes(DefaultSample[0]);
        var header = Encoding.UTF8.GetBytes(CustomSample[0]);
        var defaultHeader = Encoding.UTF8.GetBytes(string.Join(' ', AwsVpcFlowLogDecoder.DefaultFields));
        var customLine = Encoding.UTF8.GetBytes(CustomSample[1]);
        Parallel.For(0, 4, worker =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var record = default(FlowRecord);
                if (worker == 0)
                {
                    decoder.Decode(i % 2 == 0 ? header : defaultHeader, ref record, out _);
                    continue;
                }

                var line = i % 2 == 0 ? defaultLine : customLine;
                var status = decoder.Decode(line, ref record, out var reason);
                Assert.True(status == DecodeStatus.Ok || reason is "more fields than the field order" or "fewer fields than the field order", reason);
            }
        });
    }
}
