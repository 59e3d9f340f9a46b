using Visibility.Flows.Model;

namespace Visibility.Flows.Labels;

/// <summary>
/// An immutable, time-aware address → endpoint index. Workload addresses and prefixes resolve by longest prefix;
/// an address held by several workloads over time (reused pod IPs) resolves by the flow's time, falling back to
/// the enclosing prefix when no holder covers that time. Peers no workload owns are classified by a second
/// table: a configured named network, <c>unknown</c> (private and configured internal ranges) or
/// <c>internet</c>. A lookup is one or two binary searches and allocates nothing.
/// </summary>
public sealed class WorkloadIndex
{
    private static readonly string[] DefaultInternal =
    [
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "fc00::/7", "fe80::/10", "::1",
    ];

    private readonly PrefixTable<Holder> workloads;
    private readonly PrefixTable<Endpoint> classes;

    private WorkloadIndex(IReadOnlyList<WorkloadSpec> specs, PrefixTable<Holder> workloads, PrefixTable<Endpoint> classes)
    {
        Workloads = specs;
        this.workloads = workloads;
        this.classes = classes;
    }

    public static WorkloadIndex Empty { get; } = Build([]);

    /// <summary>The workloads this index was built from, in input order.</summary>
    public IReadOnlyList<WorkloadSpec> Workloads { get; }

    /// <summary>Distinct address ranges in the workload table (for diagnostics and benchmarks).</summary>
    public int RangeCount => workloads.Count;

    /// <summary>
    /// Builds an index from valid workloads (<see cref="WorkloadValidation"/>). Without validity intervals, when
    /// two workloads claim the same address or prefix the later one in the list wins.
    /// </summary>
    public static WorkloadIndex Build(IReadOnlyList<WorkloadSpec> specs, LabelSettings? settings = null)
    {
        settings ??= LabelSettings.Default;
        var holders = new Dictionary<Prefix, Holder>();
        foreach (var spec in specs)
        {
            var prefixes = spec.Addresses.Select(text => Prefix.TryParse(text, out var p, out var error)
                ? p
                : throw new ArgumentException($"workload '{spec.Name}': {error}", nameof(specs))).ToList();
            var endpoint = Endpoint.ForWorkload(spec, EffectiveLabels(spec, prefixes, settings.Rules));
            var from = spec.ValidFrom?.ToUnixTimeMilliseconds() ?? long.MinValue;
            var to = spec.ValidTo?.ToUnixTimeMilliseconds() ?? long.MaxValue;
            foreach (var prefix in prefixes)
            {
                if (!holders.TryGetValue(prefix, out var holder))
                {
                    holders[prefix] = holder = new Holder();
                }

                holder.Add(from, to, endpoint);
            }
        }

        var table = PrefixTable<Holder>.Build(holders.Select(kv => (kv.Key, kv.Value)), static (child, parent) => child.Parent = parent);

        var classified = new Dictionary<Prefix, Endpoint>();
        foreach (var text in DefaultInternal)
        {
            classified[Parse(text)] = Endpoint.Unknown;
        }

        foreach (var prefix in settings.InternalNetworks)
        {
            classified[prefix] = Endpoint.Unknown;
        }

        foreach (var network in settings.Networks)
        {
            var endpoint = Endpoint.Unclassified(network.Name, network.Labels);
            foreach (var prefix in network.Prefixes)
            {
                classified[prefix] = endpoint;
            }
        }

        return new WorkloadIndex(specs, table, PrefixTable<Endpoint>.Build(classified.Select(kv => (kv.Key, kv.Value))));
    }

    /// <summary>The endpoint for <paramref name="address"/> now.</summary>
    public Endpoint Lookup(UInt128 address) => Lookup(address, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    /// <summary>The endpoint for <paramref name="address"/> at <paramref name="timeMs"/> (Unix milliseconds).</summary>
    public Endpoint Lookup(UInt128 address, long timeMs) =>
        workloads.Find(address)?.Resolve(timeMs) ?? classes.Find(address) ?? Endpoint.Internet;

    /// <summary>The workload holding <paramref name="address"/> at <paramref name="timeMs"/>, or null.</summary>
    public Endpoint? FindWorkload(UInt128 address, long timeMs) => workloads.Find(address)?.Resolve(timeMs);

    private static Dictionary<string, string> EffectiveLabels(WorkloadSpec spec, List<Prefix> prefixes, IReadOnlyList<LabelRule> rules)
    {
        var labels = new Dictionary<string, string>(spec.Labels, StringComparer.Ordinal);
        foreach (var rule in rules)
        {
            if (rule.Apply(spec, prefixes) is { } extra)
            {
                foreach (var (key, value) in extra)
                {
                    labels.TryAdd(key, value);
                }
            }
        }

        return labels;
    }

    private static Prefix Parse(string text) =>
        Prefix.TryParse(text, out var prefix, out var error) ? prefix : throw new InvalidOperationException(error);

    /// <summary>
    /// Who holds one prefix: one endpoint for good (the common case), or several, each for an interval.
    /// </summary>
    private sealed class Holder
    {
        private Endpoint? always;
        private (long From, long To, Endpoint Endpoint)[] intervals = [];

        public Holder? Parent { get; set; }

        public void Add(long from, long to, Endpoint endpoint)
        {
            if (from == long.MinValue && to == long.MaxValue)
            {
                always = endpoint;
            }
            else
            {
                intervals = [.. intervals, (from, to, endpoint)];
            }
        }

        public Endpoint? Resolve(long timeMs)
        {
            // A holder for a known interval is more specific than one without.
            foreach (var (from, to, endpoint) in intervals)
            {
                if (timeMs >= from && timeMs < to)
                {
                    return endpoint;
                }
            }

            return always ?? Parent?.Resolve(timeMs);
        }
    }
}
