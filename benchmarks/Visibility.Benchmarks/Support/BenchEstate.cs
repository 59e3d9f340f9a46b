using System.Globalization;
using Visibility.Flows.Labels;

namespace Visibility.Benchmarks.Support;

/// <summary>
/// A synthetic labelled estate for the throughput benchmarks: a few thousand workloads, most of them one IPv4
/// address each (hosts, VMs, pods with extra labels), some IPv6 ones, and some that own a /24 (networks and
/// service pools), spread over four environments, 80 apps, six roles and three locations. Deterministic for a
/// given size, so every run and every benchmark sees the same estate.
/// </summary>
public sealed class BenchEstate
{
    private static readonly string[] Envs = ["prod", "prod", "prod", "prod", "staging", "staging", "dev", "dev", "dev", "test"];
    private static readonly string[] Roles = ["frontend", "backend", "database", "cache", "queue", "worker"];
    private static readonly string[] Locations = ["eu-west-1", "eu-central-1", "us-east-1"];
    private static readonly string[] Kinds = ["host", "vm", "vm", "pod", "pod", "pod"];

    private BenchEstate(IReadOnlyList<WorkloadSpec> workloads, uint[] v4Hosts, string[] v6Hosts, uint[] subnets)
    {
        Workloads = workloads;
        V4Hosts = v4Hosts;
        V6Hosts = v6Hosts;
        Subnets = subnets;
    }

    public IReadOnlyList<WorkloadSpec> Workloads { get; }

    /// <summary>Addresses of the single-address IPv4 workloads (host byte order).</summary>
    internal uint[] V4Hosts { get; }

    /// <summary>Addresses of the IPv6 workloads, as text.</summary>
    internal string[] V6Hosts { get; }

    /// <summary>Network addresses of the /24 workloads (host byte order).</summary>
    internal uint[] Subnets { get; }

    /// <summary>80 % single IPv4 addresses, 10 % IPv6 addresses, 10 % IPv4 /24 prefixes.</summary>
    public static BenchEstate Create(int workloads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workloads, 30);
        var v6Count = workloads / 10;
        var subnetCount = workloads / 10;
        var v4Count = workloads - v6Count - subnetCount;
        var specs = new List<WorkloadSpec>(workloads);
        var v4 = new uint[v4Count];
        var v6 = new string[v6Count];
        var subnets = new uint[subnetCount];
        for (var i = 0; i < v4Count; i++)
        {
            // 10.20.0.10, 10.20.1.10, …: one address per workload, unique for up to 47,000 workloads.
            v4[i] = (10u << 24) | ((uint)(20 + (i / 200)) << 16) | ((uint)(i % 200) << 8) | 10u;
            specs.Add(Spec(i, Kinds[i % Kinds.Length], Format(v4[i])));
        }

        for (var i = 0; i < v6Count; i++)
        {
            v6[i] = string.Create(CultureInfo.InvariantCulture, $"fd00:0:{i >> 16:x}:{i & 0xffff:x}::10");
            specs.Add(Spec(v4Count + i, "pod", v6[i]));
        }

        for (var i = 0; i < subnetCount; i++)
        {
            subnets[i] = (10u << 24) | ((uint)(100 + (i / 250)) << 16) | ((uint)(i % 250) << 8);
            specs.Add(Spec(v4Count + v6Count + i, i % 2 == 0 ? "network" : "service", Format(subnets[i]) + "/24"));
        }

        return new BenchEstate(specs, v4, v6, subnets);
    }

    internal static string Format(uint address) =>
        string.Create(CultureInfo.InvariantCulture, $"{address >> 24}.{(address >> 16) & 0xff}.{(address >> 8) & 0xff}.{address & 0xff}");

    private static WorkloadSpec Spec(int i, string kind, string address)
    {
        var env = Envs[i % Envs.Length];
        var app = string.Create(CultureInfo.InvariantCulture, $"app-{i % 80:00}");
        var role = Roles[i / 80 % Roles.Length];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [LabelKeys.App] = app,
            [LabelKeys.Env] = env,
            [LabelKeys.Role] = role,
            [LabelKeys.Loc] = Locations[i % Locations.Length],
        };
        if (kind == "pod")
        {
            // Free-form keys land in the store's label maps.
            labels["namespace"] = env + "-" + app;
            labels["team"] = string.Create(CultureInfo.InvariantCulture, $"team-{i % 12}");
        }

        return new WorkloadSpec
        {
            Name = string.Create(CultureInfo.InvariantCulture, $"{env}-{app}-{role}-{i}"),
            Kind = kind,
            Addresses = [address],
            Labels = labels,
        };
    }
}
