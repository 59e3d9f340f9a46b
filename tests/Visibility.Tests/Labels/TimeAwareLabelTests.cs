using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Ingest.Enrichment;

namespace Visibility.Tests.Labels;

public sealed class TimeAwareLabelTests
{
    private static readonly DateTimeOffset Switch = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    private static UInt128 Ip(string text) => IpAddressKey.TryParse(text.AsSpan(), out var key) ? key : throw new ArgumentException(text);

    private static WorkloadSpec Pod(string name, string app, DateTimeOffset? from, DateTimeOffset? to) => new()
    {
        Name = name,
        Kind = "pod",
        Addresses = ["10.244.1.5"],
        Labels = new Dictionary<string, string> { ["app"] = app, ["env"] = "prod" },
        ValidFrom = from,
        ValidTo = to,
    };

    private static readonly WorkloadSpec PodNetwork = new()
    {
        Name = "pod-network",
        Kind = "network",
        Addresses = ["10.244.0.0/16"],
        Labels = new Dictionary<string, string> { ["env"] = "prod" },
    };

    [Fact]
    public void Lookup_PodIpReusedBySecondWorkload_AttributesEachFlowByItsTime()
    {
        var index = WorkloadIndex.Build([
            PodNetwork,
            Pod("payments/api-7f9c", "payments", Switch.AddHours(-2), Switch),
            Pod("ledger/worker-5d2a", "ledger", Switch, null),
        ]);
        var ip = Ip("10.244.1.5");

        Assert.Equal("payments/api-7f9c", index.Lookup(ip, Switch.AddMinutes(-1).ToUnixTimeMilliseconds()).Workload);
        Assert.Equal("ledger/worker-5d2a", index.Lookup(ip, Switch.ToUnixTimeMilliseconds()).Workload);
        Assert.Equal("ledger/worker-5d2a", index.Lookup(ip, Switch.AddDays(3).ToUnixTimeMilliseconds()).Workload);
        // Before the first pod existed, the address belongs to the pod network only.
        Assert.Equal("pod-network", index.Lookup(ip, Switch.AddHours(-3).ToUnixTimeMilliseconds()).Workload);
    }

    [Fact]
    public void Enrich_RecordsBeforeAndAfterPodSwitch_GetTheRightWorkload()
    {
        var index = WorkloadIndex.Build([
            Pod("payments/api-7f9c", "payments", null, Switch),
            Pod("ledger/worker-5d2a", "ledger", Switch, null),
        ]);
        var before = new FlowRecord { SrcIp = Ip("10.244.1.5"), DstIp = Ip("10.0.0.9"), StartMs = Switch.AddSeconds(-1).ToUnixTimeMilliseconds() };
        var after = before with { StartMs = Switch.AddSeconds(1).ToUnixTimeMilliseconds() };

        FlowEnricher.Enrich(ref before, index);
        FlowEnricher.Enrich(ref after, index);

        Assert.Equal("payments", before.Src!.App);
        Assert.Equal("ledger", after.Src!.App);
    }

    [Fact]
    public void Enrich_Dnat_IdentifiesDestinationByBackendAndSourceByClient()
    {
        var index = WorkloadIndex.Build([
            new WorkloadSpec { Name = "client", Addresses = ["10.0.0.1"], Labels = new Dictionary<string, string> { ["app"] = "web" } },
            new WorkloadSpec { Name = "backend", Kind = "pod", Addresses = ["10.244.1.5"], Labels = new Dictionary<string, string> { ["app"] = "api" } },
        ]);
        var record = new FlowRecord
        {
            SrcIp = Ip("10.0.0.1"), SrcPort = 40000, DstIp = Ip("10.96.0.10"), DstPort = 80,
            NatSrcIp = Ip("10.0.0.1"), NatSrcPort = 40000, NatDstIp = Ip("10.244.1.5"), NatDstPort = 8080,
        };

        FlowEnricher.Enrich(ref record, index);

        Assert.Equal("client", record.Src!.Workload);
        Assert.Equal("backend", record.Dst!.Workload);
    }

    [Fact]
    public void Enrich_ServiceAddressKnownBackendUnknown_FallsBackToPreNatDestination()
    {
        var index = WorkloadIndex.Build([
            new WorkloadSpec { Name = "svc/api", Kind = "service", Addresses = ["10.96.0.10"], Labels = new Dictionary<string, string> { ["app"] = "api" } },
        ]);
        var record = new FlowRecord { SrcIp = Ip("10.0.0.1"), DstIp = Ip("10.96.0.10"), NatSrcIp = Ip("203.0.113.1"), NatDstIp = Ip("10.244.9.9") };

        FlowEnricher.Enrich(ref record, index);

        Assert.Equal("svc/api", record.Dst!.Workload);
        Assert.Equal(Endpoint.UnknownKind, record.Src!.Kind);
    }

    [Fact]
    public void NoNatTuple_IsFilledFromOriginal()
    {
        var record = new FlowRecord { SrcIp = Ip("10.0.0.1"), SrcPort = 1, DstIp = Ip("10.0.0.2"), DstPort = 2 };
        FlowEnricher.Enrich(ref record, WorkloadIndex.Empty);
        Assert.Equal(record.SrcIp, record.NatSrcIp);
        Assert.Equal(record.DstIp, record.NatDstIp);
        Assert.Equal(2, record.NatDstPort);
    }

    [Fact]
    public void Rules_FillMissingLabels_FromCidrAndNamePattern_WithoutOverriding()
    {
        Assert.True(Prefix.TryParse("10.20.0.0/16", out var dev, out _));
        var settings = new LabelSettings
        {
            Rules =
            [
                new LabelRule(dev, null, new Dictionary<string, string> { ["env"] = "dev", ["loc"] = "lab" }),
                new LabelRule(null, new System.Text.RegularExpressions.Regex("^(?<app>[a-z]+)-(?<role>web|db)-\\d+$"),
                    new Dictionary<string, string> { ["app"] = "${app}", ["role"] = "${role}" }),
            ],
        };
        var index = WorkloadIndex.Build([
            new WorkloadSpec { Name = "shop-web-1", Addresses = ["10.20.1.1"] },
            new WorkloadSpec { Name = "shop-db-1", Addresses = ["10.30.1.1"], Labels = new Dictionary<string, string> { ["role"] = "primary" } },
        ], settings);

        var web = index.Lookup(Ip("10.20.1.1"), 0);
        Assert.Equal(("shop", "web", "dev", "lab"), (web.App, web.Role, web.Env, web.Loc));
        var db = index.Lookup(Ip("10.30.1.1"), 0);
        Assert.Equal(("shop", "primary", ""), (db.App, db.Role, db.Env));
    }

    [Fact]
    public void NamedNetwork_ClassifiesUnownedPeers_ButWorkloadsWin()
    {
        Assert.True(Prefix.TryParse("192.168.50.0/24", out var vpn, out _));
        var settings = new LabelSettings
        {
            Networks = [new NamedNetwork("corp-vpn", [vpn], new Dictionary<string, string> { ["env"] = "corp" })],
        };
        var index = WorkloadIndex.Build([new WorkloadSpec { Name = "jump", Addresses = ["192.168.50.10"] }], settings);

        var peer = index.Lookup(Ip("192.168.50.77"), 0);
        Assert.False(peer.IsWorkload);
        Assert.Equal("corp-vpn", peer.Kind);
        Assert.Equal("corp", peer.Env);
        Assert.Equal("jump", index.Lookup(Ip("192.168.50.10"), 0).Workload);
        Assert.Equal(Endpoint.UnknownKind, index.Lookup(Ip("192.168.51.1"), 0).Kind);
    }

    [Fact]
    public void PrefixTable_NestedAndAdjacentPrefixes_LongestWinsEverywhere()
    {
        var specs = new[] { "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.3.0/24", "10.1.2.128/25", "10.2.0.0/15", "11.0.0.0/8", "::/0" }
            .Select((p, i) => new WorkloadSpec { Name = p, Addresses = [p] }).ToList();
        var index = WorkloadIndex.Build(specs);
        var random = new Random(7);
        var prefixes = specs.Select(s => Prefix.TryParse(s.Name, out var p, out _) ? p : default).ToList();
        for (var n = 0; n < 20_000; n++)
        {
            var address = n % 2 == 0
                ? IpAddressKey.FromIPv4((uint)random.NextInt64(0x09000000, 0x0C000000))
                : ((UInt128)(ulong)random.NextInt64() << 64) | (ulong)random.NextInt64();
            var matching = prefixes.Where(p => p.Contains(address)).ToList();
            var expected = matching.Count == 0 ? null : matching.MaxBy(p => p.Length).ToString();
            Assert.Equal(expected, index.FindWorkload(address, 0)?.Workload);
        }
    }
}
