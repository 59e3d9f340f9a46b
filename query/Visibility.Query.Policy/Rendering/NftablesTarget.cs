using Visibility.Flows.Model;

namespace Visibility.Query.Policy.Rendering;

/// <summary>
/// What one nftables script is for. <see cref="Host"/> (a workload of the inventory) and its addresses: the script
/// then holds only the rules whose destination includes them, with destination sets cut down to them, and filters
/// the host's input only (traffic it routes onwards is another host's, or the all-hosts script's, business).
/// <see cref="Management"/>: sources accepted on input before any rule, whatever the ruleset says (SSH from a
/// bastion, a monitoring network). Without a host, the script is the all-hosts one (input and forward).
/// </summary>
public sealed record NftablesTarget(string? Host, IReadOnlyList<AddressRange> HostAddresses, IReadOnlyList<AddressRange> Management)
{
    /// <summary>
    /// The target for <paramref name="host"/> (null: all hosts) and <paramref name="management"/> (addresses or CIDR
    /// prefixes); null when neither is given, or when one is wrong (then <paramref name="error"/> says which).
    /// </summary>
    public static NftablesTarget? ForHost(InventoryAddressBook book, string? host, IReadOnlyList<string> management, out string? error)
    {
        ArgumentNullException.ThrowIfNull(book);
        ArgumentNullException.ThrowIfNull(management);
        error = null;
        var allowed = new List<AddressRange>();
        foreach (var text in management)
        {
            if (text.Contains('-', StringComparison.Ordinal) || !Prefix.TryParse(text, out _, out _) || !AddressRanges.TryParse(text, out var range))
            {
                error = $"managementAllow '{NftablesRenderer.Text(text, 100)}' is not an address or CIDR prefix";
                return null;
            }

            allowed.Add(range);
        }

        IReadOnlyList<AddressRange> addresses = [];
        if (host is not null)
        {
            addresses = book.WorkloadAddresses(host);
            if (addresses.Count == 0)
            {
                // A scoped caller reads the same for a host outside its scope and one that does not exist.
                error = $"no workload named '{NftablesRenderer.Text(host, 100)}' holds addresses {(book.Scope.IsUnrestricted ? "in the inventory" : "inside the caller's scope")}";
                return null;
            }
        }

        return host is null && allowed.Count == 0 ? null : new NftablesTarget(host, addresses, AddressRanges.Merge(allowed));
    }

    /// <summary>The parts of <paramref name="ranges"/> inside the host's addresses (all of them without a host).</summary>
    public List<AddressRange> OnHost(IEnumerable<AddressRange> ranges)
    {
        if (Host is null)
        {
            return [.. ranges];
        }

        var inside = new List<AddressRange>();
        foreach (var range in ranges)
        {
            foreach (var own in HostAddresses)
            {
                var first = range.First > own.First ? range.First : own.First;
                var last = range.Last < own.Last ? range.Last : own.Last;
                if (first <= last && range.IsIPv4 == own.IsIPv4)
                {
                    inside.Add(new AddressRange(first, last));
                }
            }
        }

        return AddressRanges.Merge(inside);
    }
}
