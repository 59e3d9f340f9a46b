using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Query.Filtering;
using Visibility.Query.Security;

namespace Visibility.Query.Policy.Rendering;

/// <summary>
/// Resolves peers through the workload inventory, the way enrichment classified the flows a draft was made from:
/// <list type="bullet">
/// <item><c>workload</c>: the addresses of every workload whose labels (completed by the label rules, as in
/// <see cref="WorkloadIndex"/>) include all of the peer's labels (a <c>workload</c> key the labels lack names the
/// workload, as in filters and scopes);</item>
/// <item><c>network</c>: the peer's own CIDRs;</item>
/// <item><c>internet</c>: every address outside the internal ranges (<see cref="AddressRanges.NonPublicIPv4"/>,
/// <see cref="AddressRanges.NonPublicIPv6"/>, the configured internal and named networks) and outside workloads;</item>
/// <item><c>unknown</c>: nothing (internal addresses no workload owns cannot be enumerated).</item>
/// </list>
/// Only workloads holding their addresses at <c>at</c> count (without it: those with no end of validity), so a
/// released pod address does not stay allowed.
/// <para>
/// With a <c>scope</c> (a scoped caller's), only workloads inside it count, for every peer: a workload is inside
/// when its name and its labels (completed by the label rules, as its flows were labelled) match one of the
/// scope's selectors (<see cref="AccessScope.Matches"/>). The book is then exactly the one an inventory holding
/// only those workloads would give, so nothing it answers depends on a workload outside the scope — neither a
/// peer's addresses (a group mixing both gives only its in-scope workloads' addresses; a group with none inside
/// gives none, as a group with no workloads does) nor the holes <c>internet</c> leaves for workload addresses.
/// </para>
/// </summary>
public sealed class InventoryAddressBook : IPolicyAddressBook
{
    private readonly List<(string Name, string Kind, IReadOnlyDictionary<string, string> Labels, List<Prefix> Addresses)> workloads = [];
    private readonly List<AddressRange> notInternet = [];
    private List<string>? internet;

    public InventoryAddressBook(IReadOnlyList<WorkloadSpec> workloads, LabelSettings? settings = null, DateTimeOffset? at = null, AccessScope? scope = null)
    {
        settings ??= LabelSettings.Default;
        Scope = scope ?? AccessScope.Unrestricted;
        foreach (var spec in workloads)
        {
            var current = at is { } time
                ? (spec.ValidFrom is null || spec.ValidFrom <= time) && (spec.ValidTo is null || time < spec.ValidTo)
                : spec.ValidTo is null;
            if (!current)
            {
                continue;
            }

            var prefixes = spec.Addresses.Select(text => Prefix.TryParse(text, out var p, out var error)
                ? p
                : throw new ArgumentException($"workload '{spec.Name}': {error}", nameof(workloads))).ToList();
            var labels = new Dictionary<string, string>(spec.Labels, StringComparer.Ordinal);
            foreach (var rule in settings.Rules)
            {
                foreach (var (key, value) in rule.Apply(spec, prefixes) ?? new Dictionary<string, string>())
                {
                    labels.TryAdd(key, value);
                }
            }

            if (!Scope.Matches(spec.Name, labels))
            {
                continue;
            }

            this.workloads.Add((spec.Name, spec.Kind ?? "", labels, prefixes));
            notInternet.AddRange(prefixes.Select(ToRange));
        }

        notInternet.AddRange(settings.InternalNetworks.Select(ToRange));
        notInternet.AddRange(settings.Networks.SelectMany(n => n.Prefixes).Select(ToRange));
    }

    public static InventoryAddressBook FromIndex(WorkloadIndex index, LabelSettings? settings = null, DateTimeOffset? at = null, AccessScope? scope = null) =>
        new(index.Workloads, settings, at, scope);

    public AccessScope Scope { get; }

    public IReadOnlyList<string> Addresses(PolicyPeer peer) => peer.Kind switch
    {
        PolicyPeer.Workload => Format(Members(peer).SelectMany(w => w.Addresses).Select(ToRange)),
        PolicyPeer.NamedNetwork => peer.Cidrs ?? [],
        PolicyPeer.Internet => internet ??= Format(AddressRanges.Internet(true, notInternet).Concat(AddressRanges.Internet(false, notInternet))),
        _ => [],
    };

    /// <summary>
    /// The kinds (<c>pod</c>, <c>vm</c>, <c>host</c>, …; empty text where the inventory gives none) of the workloads a
    /// workload peer stands for: what a NetworkPolicy's pod selector can and cannot select. Empty for other peers.
    /// </summary>
    public IReadOnlySet<string> Kinds(PolicyPeer peer) => peer.Kind == PolicyPeer.Workload
        ? Members(peer).Select(w => w.Kind).ToHashSet(StringComparer.Ordinal)
        : new HashSet<string>(StringComparer.Ordinal);

    /// <summary>The addresses of the workload named <paramref name="name"/> (inside the scope), merged; empty when there is none.</summary>
    public IReadOnlyList<AddressRange> WorkloadAddresses(string name) =>
        AddressRanges.Merge(workloads.Where(w => w.Name == name).SelectMany(w => w.Addresses).Select(ToRange));

    private IEnumerable<(string Name, string Kind, IReadOnlyDictionary<string, string> Labels, List<Prefix> Addresses)> Members(PolicyPeer peer) =>
        workloads.Where(w => peer.Labels.All(l => w.Labels.TryGetValue(l.Key, out var value)
            ? value == l.Value
            : l.Key == FilterFields.Workload && w.Name == l.Value));

    private static List<string> Format(IEnumerable<AddressRange> ranges) =>
        [.. AddressRanges.Merge(ranges).Select(r => r.ToString())];

    private static AddressRange ToRange(Prefix prefix) => new(prefix.Network, prefix.Network | ~IpAddressKey.Mask(prefix.Length));
}
