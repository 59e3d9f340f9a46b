using System.Globalization;
using Visibility.Flows.Model;

namespace Visibility.Query.Policy.Rendering;

/// <summary>An inclusive range of addresses in the 128-bit key space (<see cref="IpAddressKey"/>), within one family.</summary>
public readonly record struct AddressRange(UInt128 First, UInt128 Last)
{
    public bool IsIPv4 => IpAddressKey.IsIPv4(First);

    /// <summary><c>10.0.0.1</c>, <c>10.0.0.0/8</c> when the range is exactly a prefix, else <c>10.0.0.1-10.0.0.9</c>.</summary>
    public override string ToString()
    {
        if (First == Last)
        {
            return IpAddressKey.Format(First);
        }

        var size = Last - First;
        if ((size & (size + 1)) == 0 && (First & size) == 0)
        {
            var hostBits = size == UInt128.MaxValue ? 128 : (int)UInt128.Log2(size + 1);
            var length = (IsIPv4 ? 32 : 128) - hostBits;
            return string.Create(CultureInfo.InvariantCulture, $"{IpAddressKey.Format(First)}/{length}");
        }

        return $"{IpAddressKey.Format(First)}-{IpAddressKey.Format(Last)}";
    }
}

/// <summary>
/// Address arithmetic for the renderers: parsing addresses, prefixes and ranges, merging them into sorted
/// disjoint ranges (nftables rejects overlapping elements in an interval set) and taking complements (the
/// internet is everything that is not internal).
/// </summary>
public static class AddressRanges
{
    /// <summary>
    /// Addresses that are not the internet: the ranges the workload index classifies as internal by default
    /// (<c>unknown</c> when no workload holds them). IPv4 first, then IPv6.
    /// </summary>
    public static readonly IReadOnlyList<string> NonPublicIPv4 =
        ["10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"];

    /// <inheritdoc cref="NonPublicIPv4"/>
    public static readonly IReadOnlyList<string> NonPublicIPv6 = ["::1/128", "fc00::/7", "fe80::/10"];

    private static readonly AddressRange AllIPv4 = new(IpAddressKey.FromIPv4(0), IpAddressKey.FromIPv4(uint.MaxValue));

    /// <summary>
    /// Parses <c>10.0.0.1</c>, <c>10.0.0.0/8</c>, <c>fd00::/8</c> or an inclusive range <c>10.0.0.1-10.0.0.9</c>
    /// (both ends in one family, first not after last).
    /// </summary>
    public static bool TryParse(string text, out AddressRange range)
    {
        range = default;
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash >= 0)
        {
            if (!Prefix.TryParse(text[..dash].Trim(), out var first, out _) || !first.IsSingleAddress
                || !Prefix.TryParse(text[(dash + 1)..].Trim(), out var last, out _) || !last.IsSingleAddress
                || IpAddressKey.IsIPv4(first.Network) != IpAddressKey.IsIPv4(last.Network) || first.Network > last.Network)
            {
                return false;
            }

            range = new AddressRange(first.Network, last.Network);
            return true;
        }

        if (!Prefix.TryParse(text.Trim(), out var prefix, out _))
        {
            return false;
        }

        range = new AddressRange(prefix.Network, prefix.Network | ~IpAddressKey.Mask(prefix.Length));
        return true;
    }

    /// <summary>Sorted, disjoint ranges covering the same addresses; adjacent ranges are joined.</summary>
    public static List<AddressRange> Merge(IEnumerable<AddressRange> ranges)
    {
        var merged = new List<AddressRange>();
        foreach (var range in ranges.OrderBy(r => r.First).ThenBy(r => r.Last))
        {
            if (merged.Count > 0 && merged[^1].IsIPv4 == range.IsIPv4
                && (merged[^1].Last == UInt128.MaxValue || range.First <= merged[^1].Last + 1))
            {
                var last = merged[^1];
                merged[^1] = last with { Last = UInt128.Max(last.Last, range.Last) };
            }
            else
            {
                merged.Add(range);
            }
        }

        return merged;
    }

    /// <summary>
    /// The public addresses of one family: all of it minus the non-public ranges and <paramref name="excluded"/>.
    /// IPv6 leaves out the IPv4-mapped block, which IPv6 packets do not carry.
    /// </summary>
    public static List<AddressRange> Internet(bool ipv4, IEnumerable<AddressRange> excluded)
    {
        var universe = ipv4 ? AllIPv4 : new AddressRange(UInt128.Zero, UInt128.MaxValue);
        var holes = (ipv4 ? NonPublicIPv4 : NonPublicIPv6).Select(Parse)
            .Concat(excluded.Where(r => r.IsIPv4 == ipv4));
        if (!ipv4)
        {
            holes = holes.Append(AllIPv4);
        }

        var result = new List<AddressRange>();
        var next = universe.First;
        var done = false;
        foreach (var hole in Merge(holes))
        {
            if (hole.First > next)
            {
                result.Add(new AddressRange(next, hole.First - 1));
            }

            if (hole.Last == universe.Last)
            {
                done = true;
                break;
            }

            next = UInt128.Max(next, hole.Last + 1);
        }

        if (!done)
        {
            result.Add(new AddressRange(next, universe.Last));
        }

        return result;
    }

    private static AddressRange Parse(string text) =>
        TryParse(text, out var range) ? range : throw new InvalidOperationException($"'{text}' is not an address range");
}
