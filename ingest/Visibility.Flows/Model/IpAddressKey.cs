using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Visibility.Flows.Model;

/// <summary>
/// Addresses as 128-bit integers: IPv6 as is, IPv4 mapped into ::ffff:0:0/96, the form ClickHouse's IPv6
/// column stores. Comparisons and prefix masks are then plain integer operations, with no allocation.
/// </summary>
public static class IpAddressKey
{
    private static readonly UInt128 V4Prefix = (UInt128)0xFFFF << 32;

    public static UInt128 FromIPv4(uint address) => V4Prefix | address;

    public static UInt128 FromAddress(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return FromIPv4(BinaryPrimitives.ReadUInt32BigEndian(bytes));
        }

        address.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    /// <summary>Parses dotted-quad IPv4 (strictly: four parts) or IPv6 text.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out UInt128 key)
    {
        Span<byte> ascii = stackalloc byte[64];
        if (text.Length > ascii.Length)
        {
            key = default;
            return false;
        }

        for (var i = 0; i < text.Length; i++)
        {
            ascii[i] = text[i] < 128 ? (byte)text[i] : (byte)0;
        }

        return TryParse(ascii[..text.Length], out key);
    }

    /// <summary>Parses UTF-8 text without allocating: dotted-quad IPv4 or RFC 4291 IPv6 text.</summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8, out UInt128 key)
    {
        // IPv4 first, without a separate search for ':' (the common case on the hot path).
        if (TryParseIPv4(utf8, out var v4))
        {
            key = FromIPv4(v4);
            return true;
        }

        if (utf8.IndexOf((byte)':') >= 0)
        {
            return TryParseIPv6(utf8, out key);
        }

        key = default;
        return false;
    }

    /// <summary>
    /// IPv6 text: up to eight hex groups, one <c>::</c>, an optional trailing dotted quad; a zone (<c>%eth0</c>)
    /// is ignored, as flow records do not keep it.
    /// </summary>
    private static bool TryParseIPv6(ReadOnlySpan<byte> text, out UInt128 key)
    {
        key = default;
        var percent = text.IndexOf((byte)'%');
        if (percent >= 0)
        {
            text = text[..percent];
        }

        if (text.Length is < 2 or > 45)
        {
            return false;
        }

        Span<ushort> groups = stackalloc ushort[8];
        var count = 0;
        var gap = -1;
        var i = 0;
        if (text[0] == (byte)':')
        {
            if (text[1] != (byte)':')
            {
                return false;
            }

            gap = 0;
            i = 2;
        }

        while (i < text.Length)
        {
            if (count == 8)
            {
                return false;
            }

            // A trailing IPv4 part fills the last two groups.
            var rest = text[i..];
            var colon = rest.IndexOf((byte)':');
            if (colon < 0 && rest.IndexOf((byte)'.') >= 0)
            {
                if (count > 6 || !TryParseIPv4(rest, out var v4))
                {
                    return false;
                }

                groups[count++] = (ushort)(v4 >> 16);
                groups[count++] = (ushort)v4;
                i = text.Length;
                break;
            }

            var length = colon < 0 ? rest.Length : colon;
            if (length is 0 or > 4)
            {
                return false;
            }

            uint value = 0;
            foreach (var c in rest[..length])
            {
                var digit = c switch
                {
                    >= (byte)'0' and <= (byte)'9' => c - '0',
                    >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
                    >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
                    _ => -1,
                };
                if (digit < 0)
                {
                    return false;
                }

                value = (value << 4) | (uint)digit;
            }

            groups[count++] = (ushort)value;
            i += length;
            if (i == text.Length)
            {
                break;
            }

            // At a colon: "::" marks the gap (once); a single colon must be followed by another group.
            i++;
            if (i < text.Length && text[i] == (byte)':')
            {
                if (gap >= 0)
                {
                    return false;
                }

                gap = count;
                i++;
            }
            else if (i == text.Length)
            {
                return false;
            }
        }

        if (gap < 0 ? count != 8 : count > 7)
        {
            return false;
        }

        UInt128 result = 0;
        var zeros = gap < 0 ? 0 : 8 - count;
        for (var g = 0; g < count; g++)
        {
            var position = g < gap || gap < 0 ? g : g + zeros;
            result |= (UInt128)groups[g] << (16 * (7 - position));
        }

        key = result;
        return true;
    }

    public static bool IsIPv4(UInt128 key) => (key >> 32) == 0xFFFF;

    public static IPAddress ToAddress(UInt128 key)
    {
        if (IsIPv4(key))
        {
            return new IPAddress(BinaryPrimitives.ReverseEndianness((uint)key));
        }

        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, key);
        return new IPAddress(bytes);
    }

    public static string Format(UInt128 key) => ToAddress(key).ToString();

    /// <summary>The mask of a prefix length counted in the 128-bit space.</summary>
    public static UInt128 Mask(int prefixLength) =>
        prefixLength == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - prefixLength);

    private static bool TryParseIPv4(ReadOnlySpan<byte> text, out uint value)
    {
        value = 0;
        uint part = 0;
        var digits = 0;
        var parts = 0;
        foreach (var c in text)
        {
            if (c == (byte)'.')
            {
                if (digits == 0 || parts == 3)
                {
                    return false;
                }

                value = (value << 8) | part;
                part = 0;
                digits = 0;
                parts++;
            }
            else if (c >= (byte)'0' && c <= (byte)'9' && digits < 3)
            {
                part = (part * 10) + (uint)(c - '0');
                if (part > 255)
                {
                    return false;
                }

                digits++;
            }
            else
            {
                return false;
            }
        }

        if (digits == 0 || parts != 3)
        {
            return false;
        }

        value = (value << 8) | part;
        return true;
    }
}
