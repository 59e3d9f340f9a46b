using Visibility.Flows.Labels;
using Visibility.Query.Policy;

namespace Visibility.Tests.Policy;

/// <summary>A realistic drafted ruleset and the inventory it was drafted against, shared by the renderer tests.</summary>
public static class PolicySamples
{
    public static PolicyPeer Workload(params (string Key, string Value)[] labels) =>
        new(PolicyPeer.Workload, labels.ToDictionary(l => l.Key, l => l.Value, StringComparer.Ordinal));

    public static PolicyRule Rule(PolicyPeer source, PolicyPeer destination, params PortRange[] ports) =>
        new($"{source.Key} -> {destination.Key}", source, destination, ports) { Flows = 10 };

    public static PortRange Tcp(int from, int? to = null) => new("tcp", from, to ?? from);

    public static PolicyRuleset Ruleset()
    {
        var apiProd = Workload(("app", "api"), ("env", "prod"), ("namespace", "shop"));
        var db = Workload(("app", "db"), ("env", "prod"), ("namespace", "shop"));
        var web = Workload(("app", "web"), ("env", "prod"), ("namespace", "shop"));
        var metrics = Workload(("app.kubernetes.io/name", "prometheus"), ("team", "sre_ops.v2"));
        var dns = Workload(("app", "dns"));
        var vpn = new PolicyPeer(PolicyPeer.NamedNetwork, new Dictionary<string, string>()) { Network = "corp-vpn", Cidrs = ["10.8.0.0/16", "fd10:8::/48"] };
        var internet = new PolicyPeer(PolicyPeer.Internet, new Dictionary<string, string>());
        var unknown = new PolicyPeer(PolicyPeer.Unknown, new Dictionary<string, string>());
        return new PolicyRuleset("shop-prod draft", ["app", "env"],
        [
            Rule(apiProd, db, Tcp(5432)),
            Rule(web, apiProd, Tcp(8080), Tcp(8000, 8100), new PortRange("icmp", 0, 0)),
            Rule(internet, web, Tcp(443), new PortRange("udp", 443, 443)),
            Rule(vpn, web, Tcp(22), new PortRange("icmpv6", 0, 0)),
            Rule(metrics, apiProd, Tcp(9100, 9102)),
            Rule(apiProd, dns, new PortRange("udp", 53, 53), Tcp(53)),
            Rule(unknown, db, Tcp(5432)),
            Rule(apiProd, internet, Tcp(443)),
            Rule(web, metrics, new PortRange("icmp", 0, 0)),
        ]);
    }

    public static IReadOnlyList<WorkloadSpec> Inventory() =>
    [
        Spec("api-1", ["10.1.0.10", "fd00:1::10"], ("app", "api"), ("env", "prod"), ("namespace", "shop")),
        Spec("api-2", ["10.1.0.11", "fd00:1::11"], ("app", "api"), ("env", "prod"), ("namespace", "shop")),
        Spec("api-dev", ["10.2.0.10"], ("app", "api"), ("env", "dev"), ("namespace", "shop-dev")),
        Spec("db-1", ["10.1.1.5"], ("app", "db"), ("env", "prod"), ("namespace", "shop")),
        Spec("web-pool", ["10.1.2.0/26", "10.1.2.64/26", "fd00:1:2::/64"], ("app", "web"), ("env", "prod"), ("namespace", "shop")),
        Spec("prometheus", ["10.9.0.3"], ("app.kubernetes.io/name", "prometheus"), ("team", "sre_ops.v2")),
        Spec("dns", ["10.0.0.53", "10.0.0.54"], ("app", "dns")),
        Spec("old-db", ["10.1.1.6"], ("app", "db"), ("env", "prod"), ("namespace", "shop")) with { ValidTo = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero) },
    ];

    public static WorkloadSpec Spec(string name, string[] addresses, params (string Key, string Value)[] labels) => new()
    {
        Name = name,
        Addresses = addresses,
        Labels = labels.ToDictionary(l => l.Key, l => l.Value, StringComparer.Ordinal),
    };
}
