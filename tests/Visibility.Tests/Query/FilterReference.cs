using System.Net;
using System.Net.Sockets;
using Visibility.Query.Filtering;

namespace Visibility.Tests.Query;

/// <summary>One end of a test flow, with the columns the filter reads.</summary>
public sealed record FilterFlowEnd(
    string Workload, string Kind, string Role, string App, string Env, string Loc,
    IReadOnlyDictionary<string, string> Labels, IPAddress Ip, ushort Port);

/// <summary>A test flow: its ends, protocol, findings bits, verdict (<c>allowed</c>/<c>blocked</c>) and the policies it names.</summary>
public sealed record FilterFlowRow(uint Id, FilterFlowEnd Src, FilterFlowEnd Dst, byte Proto, byte Findings, string Verdict, IReadOnlyList<string> Policies);

/// <summary>
/// The meaning of a filter written out in C#, independently of the compiler (its own protocol and finding
/// tables, <see cref="IPNetwork"/> for CIDRs), to check the SQL against.
/// </summary>
public static class FilterReference
{
    private static readonly Dictionary<string, byte> Protocols = new(StringComparer.Ordinal)
    {
        ["tcp"] = 6, ["udp"] = 17, ["icmp"] = 1, ["icmpv6"] = 58, ["sctp"] = 132,
    };

    private static readonly Dictionary<string, byte> Findings = new(StringComparer.Ordinal)
    {
        ["cross_env"] = 1, ["unknown_source"] = 2, ["internet_source"] = 4, ["new_edge"] = 8,
    };

    public static bool Matches(FilterExpression filter, FilterFlowRow row) => filter switch
    {
        MatchAllFilter => true,
        AndFilter and => and.Operands.All(o => Matches(o, row)),
        OrFilter or => or.Operands.Any(o => Matches(o, row)),
        NotFilter not => !Matches(not.Operand, row),
        ComparisonFilter c => Compare(c, row),
        _ => throw new ArgumentException(filter.GetType().Name),
    };

    private static bool Compare(ComparisonFilter c, FilterFlowRow row)
    {
        var negate = c.Operator is FilterOperator.NotEqual or FilterOperator.NotIn;
        switch (c.Field.Key)
        {
            case "port":
                var port = c.Field.Side == FieldSide.Src ? row.Src.Port : row.Dst.Port;
                var bound = int.Parse(c.Values[0], System.Globalization.CultureInfo.InvariantCulture);
                return c.Operator switch
                {
                    FilterOperator.Less => port < bound,
                    FilterOperator.LessOrEqual => port <= bound,
                    FilterOperator.Greater => port > bound,
                    FilterOperator.GreaterOrEqual => port >= bound,
                    _ => negate ^ c.Values.Any(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) == port),
                };

            case "proto" when c.Field.Side == FieldSide.None:
                return negate ^ c.Values.Any(v => (Protocols.TryGetValue(v, out var n) ? n : int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)) == row.Proto);

            case "finding" when c.Field.Side == FieldSide.None:
                // policy_violation is computed at query time, not a bit of any row: it matches none.
                return negate ^ c.Values.Any(v => Findings.TryGetValue(v, out var bit) && (row.Findings & bit) != 0);

            case "verdict" when c.Field.Side == FieldSide.None:
                return negate ^ c.Values.Contains(row.Verdict, StringComparer.Ordinal);

            case "policy" when c.Field.Side == FieldSide.None:
                return negate ^ c.Values.Any(v => row.Policies.Contains(v, StringComparer.Ordinal));
        }

        bool OnEnd(FilterFlowEnd end) => c.Field.Key == "ip"
            ? c.Values.Any(v => AddressMatches(v, end.Ip))
            : c.Values.Contains(Text(end, c.Field.Key), StringComparer.Ordinal);

        var positive = c.Field.Side switch
        {
            FieldSide.Src => OnEnd(row.Src),
            FieldSide.Dst => OnEnd(row.Dst),
            _ => OnEnd(row.Src) || OnEnd(row.Dst),
        };
        return negate ^ positive;
    }

    private static string Text(FilterFlowEnd end, string key) => key switch
    {
        "workload" => end.Workload,
        "kind" => end.Kind,
        "role" => end.Role,
        "app" => end.App,
        "env" => end.Env,
        "loc" => end.Loc,
        _ => end.Labels.GetValueOrDefault(key, ""),
    };

    /// <summary>
    /// The store keeps IPv4 IPv4-mapped; an IPv4 value or network matches the mapped address. Prefixes are compared
    /// bit by bit here rather than with <see cref="IPNetwork.Contains"/>, which says no for any IPv4-mapped
    /// address, even inside <c>::ffff:0:0/96</c>.
    /// </summary>
    private static bool AddressMatches(string value, IPAddress stored)
    {
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        var address = IPAddress.Parse(slash < 0 ? value : value[..slash]);
        var bits = slash < 0 ? 128 : int.Parse(value[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address = address.MapToIPv6();
            bits += slash < 0 ? 0 : 96;
        }

        var want = address.GetAddressBytes();
        var have = stored.GetAddressBytes();
        for (var bit = 0; bit < bits; bit++)
        {
            var mask = 0x80 >> (bit % 8);
            if ((want[bit / 8] & mask) != (have[bit / 8] & mask))
            {
                return false;
            }
        }

        return true;
    }
}
