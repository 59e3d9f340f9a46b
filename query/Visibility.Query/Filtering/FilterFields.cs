using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;

namespace Visibility.Query.Filtering;

/// <summary>
/// The fields of the filter language, their kinds, the columns they read, and the checking and normal form of their
/// values. Fields and columns come from <see cref="FlowColumnTable"/>: each column's <see cref="FlowColumnFilter"/>.
/// </summary>
public static class FilterFields
{
    public const string Workload = "workload";
    public const string Kind = "kind";
    public const string Ip = "ip";
    public const string Port = "port";
    public const string Proto = "proto";
    public const string Finding = "finding";
    public const string Verdict = "verdict";
    public const string Policy = "policy";

    /// <summary>The verdicts a flow can have (<c>verdict</c>'s Enum8 values).</summary>
    public static IReadOnlyList<string> Verdicts { get; } = ["allowed", "blocked"];

    /// <summary>
    /// The policy decision of a connection (<see cref="Graph.PolicyDecisions"/>): computed at query time, not a
    /// column, so only the graph takes it, and only joined to the rest of the filter with <c>and</c>
    /// (<see cref="Planning.FilterClause.Decisions"/>).
    /// </summary>
    public const string Decision = "decision";

    /// <summary>The kinds a flow end can have: the workload kinds, then the classes of peers without a workload.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["host", "vm", "pod", "service", "network", "unknown", "internet"];

    /// <summary>Protocol names and their IANA numbers.</summary>
    public static IReadOnlyList<(string Name, byte Number)> Protocols { get; } =
        [("tcp", 6), ("udp", 17), ("icmp", 1), ("icmpv6", 58), ("sctp", 132)];

    /// <summary>The column each field reads on each side; a bare field (no side) reads the flow's or the destination's.</summary>
    private static readonly FrozenDictionary<(FieldSide Side, string Field), string> ColumnsByField = FlowColumnTable.All
        .Where(c => c.Filter is { Field: not FlowColumnFilter.OtherLabels })
        .SelectMany(c => new[] { (Side: SideOf(c.Side), c.Filter!.Field, c.Name) }.Concat(c.Filter!.Bare ? [(FieldSide.None, c.Filter.Field, c.Name)] : []))
        .ToFrozenDictionary(c => (c.Side, c.Field), c => c.Name);

    /// <summary>Each end's map of the labels without a column of their own.</summary>
    private static readonly FrozenDictionary<FieldSide, string> LabelMaps = FlowColumnTable.All
        .Where(c => c.Filter is { Field: FlowColumnFilter.OtherLabels })
        .ToFrozenDictionary(c => SideOf(c.Side), c => c.Name);

    private static readonly FrozenDictionary<string, FilterKind> FieldKinds = FlowColumnTable.All
        .Where(c => c.Filter is { Field: not FlowColumnFilter.OtherLabels })
        .DistinctBy(c => c.Filter!.Field)
        .ToFrozenDictionary(c => c.Filter!.Field, c => c.Filter!.Kind, StringComparer.Ordinal);

    /// <summary>Fields written without a side: the flow's own (<c>proto</c>, <c>finding</c>) and bare end fields (<c>port</c>).</summary>
    private static readonly FrozenSet<string> BareFields = ColumnsByField.Keys.Where(k => k.Side == FieldSide.None).Select(k => k.Field).ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Fields of the flow as a whole: no end has them, so <c>src.</c>/<c>dst.</c> refuse them.</summary>
    private static readonly FrozenSet<string> FlowFields = BareFields.Where(f => !ColumnsByField.ContainsKey((FieldSide.Src, f))).ToFrozenSet(StringComparer.Ordinal);

    internal const string UnknownFieldHint = "expected src.<key>, dst.<key>, port, proto, finding, verdict, policy, ip or a label key";

    /// <summary>The kind of a field's values: its columns' kind (a flow field's only without a side), else a label's (text).</summary>
    public static FilterKind TypeOf(FilterField field)
    {
        ArgumentNullException.ThrowIfNull(field);
        return FieldKinds.TryGetValue(field.Key, out var kind) && (field.Side == FieldSide.None || !FlowFields.Contains(field.Key))
            ? kind
            : FilterKind.Text;
    }

    /// <summary>
    /// The column a resolved field reads on <paramref name="side"/> (<see cref="FieldSide.None"/> for a bare field):
    /// its own column, or the end's label map for a label key without one (then <paramref name="isLabelMap"/>).
    /// </summary>
    public static string ColumnOf(FieldSide side, string key, out bool isLabelMap)
    {
        isLabelMap = !ColumnsByField.TryGetValue((side, key), out var column);
        return isLabelMap ? LabelMaps[side] : column!;
    }

    /// <summary>
    /// Resolves a field as written. <c>src.</c>/<c>dst.</c> take any label key; without a side, <c>port</c>,
    /// <c>proto</c> and <c>finding</c> are flow fields and any other label key means either end. A bare key with
    /// a dot is refused: it is far more often a mistyped side (<c>srcc.env</c>) than a label, and dotted labels
    /// (<c>app.kubernetes.io/name</c>) stay reachable as <c>src.app.kubernetes.io/name</c>.
    /// </summary>
    public static bool TryResolve(string text, out FilterField field, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        error = null;
        field = new FilterField(FieldSide.None, text);
        if (BareFields.Contains(text) || text == Decision)
        {
            return true;
        }

        var side = text.StartsWith("src.", StringComparison.Ordinal) ? FieldSide.Src
            : text.StartsWith("dst.", StringComparison.Ordinal) ? FieldSide.Dst
            : FieldSide.Either;
        if (side == FieldSide.Either)
        {
            if (text.Contains('.', StringComparison.Ordinal) || !LabelKeys.IsValidKey(text))
            {
                error = $"unknown field '{text}' ({UnknownFieldHint})";
                return false;
            }

            field = new FilterField(FieldSide.Either, text);
            return true;
        }

        var key = text[4..];
        if (FlowFields.Contains(key))
        {
            error = $"'{key}' belongs to the flow, not to one end: write '{key}', not '{text}'";
            return false;
        }

        if (!LabelKeys.IsValidKey(key))
        {
            error = $"invalid label key '{key}' in '{text}' (a letter, then letters, digits, '_', '.', '-', '/'; at most 63 characters)";
            return false;
        }

        field = new FilterField(side, key);
        return true;
    }

    /// <summary>Whether <paramref name="op"/> applies to <paramref name="field"/>: ordering applies to ports only.</summary>
    public static bool Allows(FilterField field, FilterOperator op) =>
        op is FilterOperator.Equal or FilterOperator.NotEqual or FilterOperator.In or FilterOperator.NotIn
        || TypeOf(field) == FilterKind.Port;

    /// <summary>Checks a value for <paramref name="field"/> and returns its normal form.</summary>
    public static bool TryNormalize(FilterField field, string value, out string normal, out string? error)
    {
        ArgumentNullException.ThrowIfNull(value);
        error = null;
        normal = value;
        if (field is { Side: FieldSide.None, Key: Decision })
        {
            normal = Graph.PolicyDecisions.All.FirstOrDefault(d => string.Equals(d, value, StringComparison.OrdinalIgnoreCase)) ?? "";
            error = normal.Length > 0 ? null
                : $"unknown decision '{value}' (expected {string.Join(", ", Graph.PolicyDecisions.All.Take(Graph.PolicyDecisions.All.Count - 1))} or {Graph.PolicyDecisions.All[^1]})";
            return error is null;
        }

        switch (TypeOf(field))
        {
            case FilterKind.Text or FilterKind.Policy:
                return true;

            case FilterKind.Verdict:
                normal = value.ToLowerInvariant();
                if (!Verdicts.Contains(normal))
                {
                    error = $"unknown verdict '{value}' (expected allowed or blocked)";
                    return false;
                }

                return true;

            case FilterKind.Kind:
                normal = value.ToLowerInvariant();
                if (!Kinds.Contains(normal))
                {
                    error = $"unknown kind '{value}' (expected {string.Join(", ", Kinds.Take(Kinds.Count - 1))} or {Kinds[^1]})";
                    return false;
                }

                return true;

            case FilterKind.Port:
                if (!TryParseNumber(value, 65535, out var port))
                {
                    error = $"invalid port '{value}' (expected a number 0-65535)";
                    return false;
                }

                normal = port.ToString(CultureInfo.InvariantCulture);
                return true;

            case FilterKind.Protocol:
                normal = value.ToLowerInvariant();
                if (TryParseNumber(value, 255, out var number))
                {
                    normal = number.ToString(CultureInfo.InvariantCulture);
                    return true;
                }

                var name = normal;
                if (Protocols.Any(p => p.Name == name))
                {
                    return true;
                }

                error = $"invalid protocol '{value}' (expected tcp, udp, icmp, icmpv6, sctp or a number 0-255)";
                return false;

            case FilterKind.Finding:
                normal = value.ToLowerInvariant();
                if (FindingKinds.IsName(normal))
                {
                    return true;
                }

                error = $"unknown finding '{value}' (expected {string.Join(", ", FindingKinds.AllNames.Take(FindingKinds.AllNames.Count - 1))} or {FindingKinds.AllNames[^1]})";
                return false;

            default:
                if (!AddressRange.TryParse(value, out var range, out error))
                {
                    return false;
                }

                normal = range.Text;
                return true;
        }
    }

    /// <summary>At most five decimal digits (no sign, no hex), at most <paramref name="max"/>; <c>080</c> is 80.</summary>
    private static bool TryParseNumber(string text, int max, out int value)
    {
        value = 0;
        if (text.Length is 0 or > 5)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return value <= max;
    }

    private static FieldSide SideOf(FlowSide side) => side switch
    {
        FlowSide.Src => FieldSide.Src,
        FlowSide.Dst => FieldSide.Dst,
        _ => FieldSide.None,
    };

    internal static byte ProtocolNumber(string normal) =>
        Protocols.FirstOrDefault(p => p.Name == normal) is { Name: not null } named
            ? named.Number
            : byte.Parse(normal, NumberStyles.None, CultureInfo.InvariantCulture);
}

/// <summary>
/// An address or CIDR as the inclusive range of IPv6 addresses it covers, in the store's form: IPv4 is held
/// IPv4-mapped (<c>::ffff:a.b.c.d</c>), so the IPv4 CIDR a.b.c.d/n is the IPv6 range ::ffff:a.b.c.d/(96+n).
/// </summary>
public readonly record struct AddressRange(UInt128 Low, UInt128 High, bool IsPrefix, string Text)
{
    private const string Expected = "expected an IPv4 or IPv6 address or CIDR such as 10.0.0.0/8 or 2001:db8::/32";

    public string LowText => Format(Low);

    public string HighText => Format(High);

    /// <summary>
    /// Parses strictly: dotted-quad IPv4 with decimal octets (no <c>10.1</c> or octal <c>010.0.0.1</c> forms that
    /// <see cref="IPAddress.TryParse(string, out IPAddress)"/> accepts), IPv6 without a zone, and a prefix whose
    /// host bits are zero.
    /// </summary>
    public static bool TryParse(string text, out AddressRange range, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        range = default;
        error = null;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (!TryParseAddress(addressText, out var value, out var isV4))
        {
            error = $"invalid address '{text}' ({Expected})";
            return false;
        }

        if (slash < 0)
        {
            range = new AddressRange(value, value, false, Format(value, isV4));
            return true;
        }

        var maxPrefix = isV4 ? 32 : 128;
        var prefixText = text[(slash + 1)..];
        if (prefixText.Length is 0 or > 3 || (prefixText.Length > 1 && prefixText[0] == '0') || !prefixText.All(char.IsAsciiDigit)
            || int.Parse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture) > maxPrefix)
        {
            error = $"invalid prefix length in '{text}' (expected /0 to /{maxPrefix})";
            return false;
        }

        var prefix = int.Parse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture);
        var bits = prefix + (isV4 ? 96 : 0);
        var hostMask = bits == 128 ? UInt128.Zero : UInt128.MaxValue >> bits;
        if ((value & hostMask) != 0)
        {
            error = $"invalid CIDR '{text}': bits are set after the /{prefix} prefix (the network is {Format(value & ~hostMask, isV4)}/{prefix})";
            return false;
        }

        range = new AddressRange(value, value | hostMask, true, $"{Format(value, isV4)}/{prefix}");
        return true;
    }

    private static bool TryParseAddress(string text, out UInt128 value, out bool isV4)
    {
        value = 0;
        isV4 = !text.Contains(':', StringComparison.Ordinal);
        if (isV4)
        {
            var parts = text.Split('.');
            if (parts.Length != 4)
            {
                return false;
            }

            uint v4 = 0;
            foreach (var part in parts)
            {
                if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0') || !part.All(char.IsAsciiDigit))
                {
                    return false;
                }

                var octet = uint.Parse(part, NumberStyles.None, CultureInfo.InvariantCulture);
                if (octet > 255)
                {
                    return false;
                }

                v4 = (v4 << 8) | octet;
            }

            value = ((UInt128)0xffff << 32) | v4;
            return true;
        }

        if (!text.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.')
            || !IPAddress.TryParse(text, out var address) || address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        value = ToValue(address);
        return true;
    }

    private static UInt128 ToValue(IPAddress v6)
    {
        Span<byte> bytes = stackalloc byte[16];
        _ = v6.TryWriteBytes(bytes, out _);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    private static string Format(UInt128 value)
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, value);
        return new IPAddress(bytes).ToString();
    }

    private static string Format(UInt128 value, bool isV4)
    {
        if (!isV4)
        {
            return Format(value);
        }

        var v4 = (uint)(value & uint.MaxValue);
        return string.Create(CultureInfo.InvariantCulture, $"{v4 >> 24}.{(v4 >> 16) & 255}.{(v4 >> 8) & 255}.{v4 & 255}");
    }
}
