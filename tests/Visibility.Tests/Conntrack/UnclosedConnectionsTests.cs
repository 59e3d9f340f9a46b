using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Conntrack;
using Visibility.Ingest.Pipeline;
using Visibility.Tests.Support;

namespace Visibility.Tests.Conntrack;

/// <summary>
/// <see cref="UnclosedConnections"/> against chDB: connections whose NEW record arrived and whose DESTROY never did,
/// counted once their protocol's conntrack timeout has passed.
/// </summary>
public sealed class UnclosedConnectionsTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build([]);
    private static readonly FindingRules Rules = new(new FindingsOptions());

    [Fact]
    public async Task CountAsync_OpenedNeverClosedPastTimeout_CountedPerProtocol()
    {
        var now = DateTimeOffset.UtcNow;
        var store = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        var id = 0L;
        void Add(byte protocol, DateTimeOffset start, params FlowEvent[] events)
        {
            id++;
            foreach (var e in events)
            {
                batch.Add(TestFlows.Connection(Index, Rules, id, "10.1.0.1", "10.2.0.1", 443, start) with
                {
                    Protocol = protocol,
                    Event = e,
                    EndMs = e == FlowEvent.New ? 0 : start.ToUnixTimeMilliseconds() + 1000,
                });
            }
        }

        Add(6, now.AddDays(-6), FlowEvent.New);                      // TCP opened 6 days ago, never closed: counted
        Add(6, now.AddDays(-6), FlowEvent.New, FlowEvent.Destroy);   // closed: not counted
        Add(6, now.AddDays(-1), FlowEvent.New);                      // TCP open 1 day: within 5 days, not counted
        Add(17, now.AddMinutes(-10), FlowEvent.New);                 // UDP past 120 s: counted
        Add(17, now.AddMinutes(-10), FlowEvent.New);                 // another one
        Add(17, now.AddSeconds(-20), FlowEvent.New);                 // UDP within its timeout
        Add(1, now.AddMinutes(-2), FlowEvent.New);                   // ICMP past 30 s: counted
        Add(6, now.AddDays(-9), FlowEvent.New);                      // before the 7-day lookback: not looked at
        Add(17, now.AddHours(-1), FlowEvent.None);                   // an event-less record (flow logs) is closed
        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);

        var counts = await UnclosedConnections.CountAsync(store, new ConntrackOptions(), now, CancellationToken.None);

        Assert.Equal(new Dictionary<string, long> { ["tcp"] = 1, ["udp"] = 2, ["icmp"] = 1 }, counts.OrderBy(kv => kv.Key).ToDictionary());
        var shorter = await UnclosedConnections.CountAsync(store, new ConntrackOptions { TcpEstablished = TimeSpan.FromHours(12) }, now, CancellationToken.None);
        Assert.Equal(2, shorter["tcp"]);
    }

    [Fact]
    public void Options_Defaults_AreTheKernelsAndValid()
    {
        var options = new ConntrackOptions();
        Assert.Equal(TimeSpan.FromSeconds(432_000), options.TcpEstablished);
        Assert.Empty(options.Problems());
        Assert.Contains("Visibility:Conntrack:TcpEstablished (8.00:00:00) must be shorter than Visibility:Conntrack:Lookback (7.00:00:00)",
            new ConntrackOptions { TcpEstablished = TimeSpan.FromDays(8) }.Problems());
    }
}
