using Visibility.Flows.Model;

namespace Visibility.Flows.Labels;

/// <summary>
/// Longest-prefix match over a fixed set of prefixes, flattened into disjoint address ranges so that a lookup is
/// one binary search. IPv4 (the common case) has its own 32-bit arrays and a 65,536-bucket index on the top 16
/// bits, which narrows the search to a handful of ranges. Nothing is allocated per lookup.
/// </summary>
internal sealed class PrefixTable<T>
{
    private const int Buckets = 1 << 16;
    private static readonly UInt128 V4Low = IpAddressKey.FromIPv4(0);
    private static readonly UInt128 V4High = IpAddressKey.FromIPv4(uint.MaxValue);

    private readonly uint[] v4Starts;
    private readonly uint[] v4Ends;
    private readonly T[] v4Values;
    private readonly int[] v4Bucket;
    private readonly UInt128[] starts;
    private readonly UInt128[] ends;
    private readonly T[] values;

    private PrefixTable(List<(UInt128 Start, UInt128 End, T Value)> segments)
    {
        starts = segments.Select(s => s.Start).ToArray();
        ends = segments.Select(s => s.End).ToArray();
        values = segments.Select(s => s.Value).ToArray();

        var v4 = segments.Where(s => s.End >= V4Low && s.Start <= V4High)
            .Select(s => ((uint)UInt128.Max(s.Start, V4Low), (uint)UInt128.Min(s.End, V4High), s.Value)).ToList();
        v4Starts = v4.Select(s => s.Item1).ToArray();
        v4Ends = v4.Select(s => s.Item2).ToArray();
        v4Values = v4.Select(s => s.Value).ToArray();

        // v4Bucket[h] = how many ranges start below h << 16.
        v4Bucket = new int[Buckets + 1];
        var i = 0;
        for (var h = 0; h <= Buckets; h++)
        {
            var bound = (ulong)h << 16;
            while (i < v4Starts.Length && v4Starts[i] < bound)
            {
                i++;
            }

            v4Bucket[h] = i;
        }
    }

    public int Count => starts.Length;

    /// <summary>
    /// Builds the table. Prefixes must be distinct. <paramref name="nested"/>, when given, is told each prefix's
    /// nearest enclosing prefix (for fallbacks such as time-limited entries inside a network).
    /// </summary>
    public static PrefixTable<T> Build(IEnumerable<(Prefix Prefix, T Value)> items, Action<T, T>? nested = null)
    {
        var sorted = items.OrderBy(i => i.Prefix.Network).ThenBy(i => i.Prefix.Length).ToList();
        var segments = new List<(UInt128, UInt128, T)>(sorted.Count * 2);
        var open = new Stack<(UInt128 End, T Value)>();
        var cursor = UInt128.Zero;
        var exhausted = false;

        void Close((UInt128 End, T Value) top)
        {
            if (!exhausted && cursor <= top.End)
            {
                segments.Add((cursor, top.End, top.Value));
            }

            if (top.End == UInt128.MaxValue)
            {
                exhausted = true;
            }
            else if (cursor <= top.End)
            {
                cursor = top.End + 1;
            }
        }

        foreach (var (prefix, value) in sorted)
        {
            var start = prefix.Network;
            var end = prefix.Network | ~IpAddressKey.Mask(prefix.Length);
            while (open.Count > 0 && open.Peek().End < start)
            {
                Close(open.Pop());
            }

            if (open.Count > 0)
            {
                nested?.Invoke(value, open.Peek().Value);
                if (cursor < start)
                {
                    segments.Add((cursor, start - 1, open.Peek().Value));
                }
            }

            cursor = start;
            open.Push((end, value));
        }

        while (open.Count > 0)
        {
            Close(open.Pop());
        }

        return new PrefixTable<T>(segments);
    }

    /// <summary>Finds the value of the longest prefix containing <paramref name="address"/>.</summary>
    public bool TryFind(UInt128 address, out T value)
    {
        if ((address >> 32) == 0xFFFF)
        {
            var a = (uint)address;
            var h = (int)(a >> 16);
            var lo = v4Bucket[h];
            var hi = v4Bucket[h + 1];

            // The last range starting at or before a: at index lo - 1 (started in an earlier bucket) or in [lo, hi).
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (v4Starts[mid] <= a)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            var i = lo - 1;
            if (i >= 0 && v4Ends[i] >= a)
            {
                value = v4Values[i];
                return true;
            }

            value = default!;
            return false;
        }

        var low = 0;
        var high = starts.Length;
        while (low < high)
        {
            var mid = (low + high) >>> 1;
            if (starts[mid] <= address)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        var j = low - 1;
        if (j >= 0 && ends[j] >= address)
        {
            value = values[j];
            return true;
        }

        value = default!;
        return false;
    }
}
