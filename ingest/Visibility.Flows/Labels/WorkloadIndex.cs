using System.Collections.Frozen;
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

    private readonly FrozenDictionary<uint, Slot> exactV4;
    private readonly FrozenDictionary<UInt128, Slot> exactV6;
    private readonly PrefixTable<Slot> prefixes;
    private readonly PrefixTable<Endpoint> classes;

    private WorkloadIndex(
        IReadOnlyList<WorkloadSpec> specs, FrozenDictionary<uint, Slot> exactV4, FrozenDictionary<UInt128, Slot> exactV6,
        PrefixTable<Slot> prefixes, PrefixTable<Endpoint> classes)
    {
        Workloads = specs;
        this.exactV4 = exactV4;
        this.exactV6 = exactV6;
        this.prefixes = prefixes;
        this.classes = classes;
    }

    public static WorkloadIndex Empty { get; } = Build([]);

    /// <summary>The workloads this index was built from, in input order.</summary>
    public IReadOnlyList<WorkloadSpec> Workloads { get; }

    /// <summary>
    /// Builds an index from valid workloads (<see cref="WorkloadValidation"/>). Without validity intervals, when
    /// two workloads claim the same address or prefix the later one in the list wins.
    /// </summary>
    public static WorkloadIndex Build(IReadOnlyList<WorkloadSpec> specs, LabelSettings? settings = null)
    {
        settings ??= LabelSettings.Default;
        var claims = new Dictionary<Prefix, Slot>();
        foreach (var spec in specs)
        {
            var parsed = spec.Addresses.Select(text => Prefix.TryParse(text, out var p, out var error)
                ? p
                : throw new ArgumentException($"workload '{spec.Name}': {error}", nameof(specs))).ToList();
            var endpoint = Endpoint.ForWorkload(spec, EffectiveLabels(spec, parsed, settings.Rules));
            var from = spec.ValidFrom?.ToUnixTimeMilliseconds() ?? long.MinValue;
            var to = spec.ValidTo?.ToUnixTimeMilliseconds() ?? long.MaxValue;
            foreach (var prefix in parsed)
            {
                claims[prefix] = claims.GetValueOrDefault(prefix).With(from, to, endpoint);
            }
        }

        var exactV4 = claims.Where(c => c.Key.IsSingleAddress && IpAddressKey.IsIPv4(c.Key.Network))
            .ToFrozenDictionary(c => (uint)c.Key.Network, c => c.Value);
        var exactV6 = claims.Where(c => c.Key.IsSingleAddress && !IpAddressKey.IsIPv4(c.Key.Network))
            .ToFrozenDictionary(c => c.Key.Network, c => c.Value);
        var prefixTable = PrefixTable<Slot>.Build(
            claims.Where(c => !c.Key.IsSingleAddress).Select(c => (c.Key, c.Value)),
            static (child, parent) => child.Timed?.SetParent(parent));

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

        return new WorkloadIndex(specs, exactV4, exactV6, prefixTable, PrefixTable<Endpoint>.Build(classified.Select(kv => (kv.Key, kv.Value))));
    }

    /// <summary>The endpoint for <paramref name="address"/> now.</summary>
    public Endpoint Lookup(UInt128 address) => Lookup(address, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    /// <summary>The endpoint for <paramref name="address"/> at <paramref name="timeMs"/> (Unix milliseconds).</summary>
    public Endpoint Lookup(UInt128 address, long timeMs) =>
        FindWorkload(address, timeMs) ?? (classes.TryFind(address, out var endpoint) ? endpoint : Endpoint.Internet);

    /// <summary>The workload holding <paramref name="address"/> at <paramref name="timeMs"/>, or null.</summary>
    public Endpoint? FindWorkload(UInt128 address, long timeMs)
    {
        Slot slot;
        var found = IpAddressKey.IsIPv4(address)
            ? exactV4.TryGetValue((uint)address, out slot)
            : exactV6.TryGetValue(address, out slot);
        if (found && slot.Resolve(timeMs) is { } endpoint)
        {
            return endpoint;
        }

        return prefixes.TryFind(address, out slot) ? slot.Resolve(timeMs) : null;
    }

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
    /// Who holds one address or prefix: one endpoint for good (the common case, no indirection), or holders
    /// for intervals of time.
    /// </summary>
    private readonly record struct Slot(Endpoint? Always, Timed? Timed)
    {
        public Slot With(long from, long to, Endpoint endpoint)
        {
            if (from == long.MinValue && to == long.MaxValue)
            {
                Timed?.SetAlways(endpoint);
                return this with { Always = Timed is null ? endpoint : null };
            }

            var timed = Timed ?? new Timed(Always);
            timed.Add(from, to, endpoint);
            return new Slot(null, timed);
        }

        public Endpoint? Resolve(long timeMs) => Always ?? Timed?.Resolve(timeMs);
    }

    /// <summary>Holders of one address over time, then the holder without an interval, then the enclosing prefix.</summary>
    private sealed class Timed(Endpoint? always)
    {
        private (long From, long To, Endpoint Endpoint)[] intervals = [];
        private Endpoint? always = always;
        private Slot parent;

        public void Add(long from, long to, Endpoint endpoint) => intervals = [.. intervals, (from, to, endpoint)];

        public void SetAlways(Endpoint endpoint) => always = endpoint;

        public void SetParent(Slot enclosing) => parent = enclosing;

        public Endpoint? Resolve(long timeMs)
        {
            foreach (var (from, to, endpoint) in intervals)
            {
                if (timeMs >= from && timeMs < to)
                {
                    return endpoint;
                }
            }

            return always ?? parent.Resolve(timeMs);
        }
    }
}
