using System.Collections.Frozen;
using Visibility.Flows.Model;

namespace Visibility.Flows.Labels;

/// <summary>
/// An immutable address → workload index: exact addresses first, then the longest matching prefix. Lookups
/// are a handful of dictionary probes on 128-bit keys and allocate nothing. Peers no workload owns are
/// classified as <c>unknown</c> (private and configured internal ranges) or <c>internet</c>.
/// </summary>
public sealed class WorkloadIndex
{
    private static readonly Prefix[] DefaultInternal =
    [
        Parse("10.0.0.0/8"), Parse("172.16.0.0/12"), Parse("192.168.0.0/16"), Parse("100.64.0.0/10"),
        Parse("127.0.0.0/8"), Parse("169.254.0.0/16"), Parse("fc00::/7"), Parse("fe80::/10"), Parse("::1"),
    ];

    private readonly FrozenDictionary<UInt128, Endpoint> exact;
    private readonly (UInt128 Mask, FrozenDictionary<UInt128, Endpoint> Networks)[] prefixes;
    private readonly Prefix[] internalNetworks;

    private WorkloadIndex(
        IReadOnlyList<WorkloadSpec> workloads,
        FrozenDictionary<UInt128, Endpoint> exact,
        (UInt128, FrozenDictionary<UInt128, Endpoint>)[] prefixes,
        Prefix[] internalNetworks)
    {
        Workloads = workloads;
        this.exact = exact;
        this.prefixes = prefixes;
        this.internalNetworks = internalNetworks;
    }

    public static WorkloadIndex Empty { get; } = Build([]);

    /// <summary>The workloads this index was built from, in input order.</summary>
    public IReadOnlyList<WorkloadSpec> Workloads { get; }

    /// <summary>
    /// Builds an index. Workloads must be valid (<see cref="WorkloadValidation"/>); when two claim the same
    /// address or prefix, the later one in the list wins.
    /// </summary>
    public static WorkloadIndex Build(IReadOnlyList<WorkloadSpec> workloads, IReadOnlyList<Prefix>? internalNetworks = null)
    {
        var exact = new Dictionary<UInt128, Endpoint>();
        var byLength = new SortedDictionary<int, Dictionary<UInt128, Endpoint>>(Comparer<int>.Create((a, b) => b.CompareTo(a)));
        foreach (var spec in workloads)
        {
            var endpoint = Endpoint.ForWorkload(spec);
            foreach (var text in spec.Addresses)
            {
                if (!Prefix.TryParse(text, out var prefix, out var error))
                {
                    throw new ArgumentException($"workload '{spec.Name}': {error}", nameof(workloads));
                }

                if (prefix.IsSingleAddress)
                {
                    exact[prefix.Network] = endpoint;
                }
                else
                {
                    if (!byLength.TryGetValue(prefix.Length, out var networks))
                    {
                        byLength[prefix.Length] = networks = [];
                    }

                    networks[prefix.Network] = endpoint;
                }
            }
        }

        var prefixTable = byLength.Select(kv => (IpAddressKey.Mask(kv.Key), kv.Value.ToFrozenDictionary())).ToArray();
        var internals = internalNetworks is null ? DefaultInternal : [.. DefaultInternal, .. internalNetworks];
        return new WorkloadIndex(workloads, exact.ToFrozenDictionary(), prefixTable, internals);
    }

    /// <summary>The endpoint for <paramref name="address"/>: its workload, or its class when it has none.</summary>
    public Endpoint Lookup(UInt128 address)
    {
        if (exact.TryGetValue(address, out var endpoint))
        {
            return endpoint;
        }

        foreach (var (mask, networks) in prefixes)
        {
            if (networks.TryGetValue(address & mask, out endpoint))
            {
                return endpoint;
            }
        }

        foreach (var network in internalNetworks)
        {
            if (network.Contains(address))
            {
                return Endpoint.Unknown;
            }
        }

        return Endpoint.Internet;
    }

    private static Prefix Parse(string text) =>
        Prefix.TryParse(text, out var prefix, out var error) ? prefix : throw new InvalidOperationException(error);
}
