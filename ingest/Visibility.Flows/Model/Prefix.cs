namespace Visibility.Flows.Model;

/// <summary>An address or CIDR prefix in the 128-bit space (IPv4 prefixes are offset by 96 bits).</summary>
public readonly record struct Prefix(UInt128 Network, int Length)
{
    public bool IsSingleAddress => Length == 128;

    public bool Contains(UInt128 address) => (address & IpAddressKey.Mask(Length)) == Network;

    /// <summary>Parses <c>10.0.0.1</c>, <c>10.20.0.0/24</c>, <c>fd00::/8</c>; host bits must be zero.</summary>
    public static bool TryParse(string text, out Prefix prefix, out string? error)
    {
        prefix = default;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressPart = slash < 0 ? text : text[..slash];
        if (!IpAddressKey.TryParse(addressPart.AsSpan(), out var address))
        {
            error = $"'{text}' is not an IP address or CIDR prefix";
            return false;
        }

        var v4 = IpAddressKey.IsIPv4(address) && !addressPart.Contains(':', StringComparison.Ordinal);
        var max = v4 ? 32 : 128;
        var length = max;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), out length) || length < 0 || length > max))
        {
            error = $"'{text}' has an invalid prefix length (0-{max})";
            return false;
        }

        var length128 = v4 ? length + 96 : length;
        var network = address & IpAddressKey.Mask(length128);
        if (network != address)
        {
            error = $"'{text}' has host bits set; did you mean {IpAddressKey.Format(network)}/{length}?";
            return false;
        }

        prefix = new Prefix(network, length128);
        error = null;
        return true;
    }

    public override string ToString()
    {
        var v4 = IpAddressKey.IsIPv4(Network) && Length >= 96;
        var shown = v4 ? Length - 96 : Length;
        return IsSingleAddress ? IpAddressKey.Format(Network) : $"{IpAddressKey.Format(Network)}/{shown}";
    }
}
