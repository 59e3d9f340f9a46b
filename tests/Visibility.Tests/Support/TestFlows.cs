using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Tests.Support;

/// <summary>Flow records for store tests: a closed TCP connection between two addresses, enriched and classified.</summary>
public static class TestFlows
{
    public static FlowRecord Connection(WorkloadIndex index, FindingRules rules, long id, string src, string dst, ushort port, DateTimeOffset at, long durationMs = 1000)
    {
        Assert.True(IpAddressKey.TryParse(src.AsSpan(), out var s));
        Assert.True(IpAddressKey.TryParse(dst.AsSpan(), out var d));
        var (from, to) = (index.Lookup(s), index.Lookup(d));
        return new FlowRecord
        {
            StartMs = at.ToUnixTimeMilliseconds(),
            EndMs = at.ToUnixTimeMilliseconds() + durationMs,
            ConnectionId = (ulong)id,
            Event = FlowEvent.Destroy,
            Protocol = 6,
            SrcIp = s,
            DstIp = d,
            SrcPort = 40000,
            DstPort = port,
            BytesOut = 100,
            BytesIn = 200,
            PacketsOut = 1,
            PacketsIn = 2,
            Connections = 1,
            Src = from,
            Dst = to,
            Findings = rules.Classify(from, to),
            SourceTopic = "t",
            SourcePartition = 0,
            SourceOffset = id,
        };
    }
}
