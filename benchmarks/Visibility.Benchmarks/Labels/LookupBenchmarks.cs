using BenchmarkDotNet.Attributes;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Benchmarks.Labels;

/// <summary>
/// Label lookup over an inventory of 100,000 workloads with exact addresses and 10,000 CIDR workloads
/// (/16 to /28, nested), for addresses that hit an exact address, hit only a prefix, or miss (classified).
/// Baseline: the per-prefix-length hash probing the first version used, measured on the same inventory.
/// A lookup's job is to find the endpoint; the benchmarks do not read the endpoint's fields.
/// </summary>
[MemoryDiagnoser]
public class LookupBenchmarks
{
    private const int Batch = 4096;
    private WorkloadIndex index = WorkloadIndex.Empty;
    private HashProbeIndex baseline = null!;
    private UInt128[] exactHits = [];
    private UInt128[] prefixHits = [];
    private UInt128[] misses = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        var workloads = new List<WorkloadSpec>(110_000);
        for (var i = 0; i < 100_000; i++)
        {
            // 10.0.0.0/12 and beyond, one address each.
            workloads.Add(Workload($"host-{i}", IpAddressKey.Format(IpAddressKey.FromIPv4(0x0A000000u + (uint)(i * 7) + 1)), i));
        }

        var lengths = new[] { 16, 20, 24, 26, 28 };
        for (var i = 0; i < 10_000; i++)
        {
            var length = lengths[i % lengths.Length];
            var network = (0xAC000000u + ((uint)random.Next(0, 1 << 20) << 8)) & (uint.MaxValue << (32 - length));
            workloads.Add(Workload($"net-{i}", $"{IpAddressKey.Format(IpAddressKey.FromIPv4(network))}/{length}", i));
        }

        index = WorkloadIndex.Build(workloads);
        baseline = new HashProbeIndex(workloads);
        exactHits = Enumerable.Range(0, Batch).Select(_ => IpAddressKey.FromIPv4(0x0A000000u + (uint)(random.Next(100_000) * 7) + 1)).ToArray();
        prefixHits = Enumerable.Range(0, Batch).Select(n =>
        {
            var spec = workloads[100_000 + random.Next(10_000)];
            var p = Parse(spec.Addresses[0]);
            return p.Network + (UInt128)random.Next(0, 1 << (128 - p.Length));
        }).ToArray();
        misses = Enumerable.Range(0, Batch).Select(_ => IpAddressKey.FromIPv4(0xC0A80000u + (uint)random.Next(1 << 16))).ToArray();

        foreach (var set in new[] { exactHits, prefixHits, misses })
        {
            foreach (var address in set)
            {
                if (!ReferenceEquals(index.Lookup(address, 0), baseline.Lookup(address)) &&
                    index.Lookup(address, 0).Workload != baseline.Lookup(address).Workload)
                {
                    throw new InvalidOperationException($"variants disagree on {IpAddressKey.Format(address)}");
                }
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int ExactHit() => Run(exactHits);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int PrefixHit() => Run(prefixHits);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int Miss() => Run(misses);

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public int HashProbePrefixHit()
    {
        var n = 0;
        foreach (var address in prefixHits)
        {
            n += ReferenceEquals(baseline.Lookup(address), Endpoint.Internet) ? 0 : 1;
        }

        return n;
    }

    private int Run(UInt128[] addresses)
    {
        var n = 0;
        foreach (var address in addresses)
        {
            n += ReferenceEquals(index.Lookup(address, 1_800_000_000_000), Endpoint.Internet) ? 0 : 1;
        }

        return n;
    }

    private static Prefix Parse(string text) =>
        Prefix.TryParse(text, out var prefix, out var error) ? prefix : throw new InvalidOperationException(error);

    private static WorkloadSpec Workload(string name, string address, int i) => new()
    {
        Name = name,
        Addresses = [address],
        Labels = new Dictionary<string, string> { ["app"] = $"app{i % 500}", ["env"] = (i % 3) switch { 0 => "prod", 1 => "dev", _ => "test" } },
    };

    /// <summary>The first version's structure: exact dictionary, then one dictionary per prefix length, longest first.</summary>
    private sealed class HashProbeIndex
    {
        private readonly Dictionary<UInt128, Endpoint> exact = [];
        private readonly List<(UInt128 Mask, Dictionary<UInt128, Endpoint> Networks)> prefixes = [];

        public HashProbeIndex(List<WorkloadSpec> workloads)
        {
            var byLength = new SortedDictionary<int, Dictionary<UInt128, Endpoint>>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
            foreach (var w in workloads)
            {
                var endpoint = Endpoint.ForWorkload(w);
                var p = Parse(w.Addresses[0]);
                if (p.IsSingleAddress)
                {
                    exact[p.Network] = endpoint;
                }
                else
                {
                    if (!byLength.TryGetValue(p.Length, out var d))
                    {
                        byLength[p.Length] = d = [];
                    }

                    d[p.Network] = endpoint;
                }
            }

            prefixes.AddRange(byLength.Select(kv => (IpAddressKey.Mask(kv.Key), kv.Value)));
        }

        public Endpoint Lookup(UInt128 address)
        {
            if (exact.TryGetValue(address, out var e))
            {
                return e;
            }

            foreach (var (mask, networks) in prefixes)
            {
                if (networks.TryGetValue(address & mask, out e))
                {
                    return e;
                }
            }

            return Endpoint.Unknown;
        }
    }
}
