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
        if (text.IndexOf(':') < 0)
        {
            Span<byte> ascii = stackalloc byte[15];
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

        if (IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            key = FromAddress(address);
            return true;
        }

        key = default;
        return false;
    }

    /// <summary>Parses UTF-8 text; allocation-free, the form the decoders see.</summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8, out UInt128 key)
    {
        if (utf8.IndexOf((byte)':') < 0)
        {
            var ok = TryParseIPv4(utf8, out var v4);
            key = ok ? FromIPv4(v4) : default;
            return ok;
        }

        Span<char> chars = stackalloc char[64];
        if (utf8.Length > chars.Length)
        {
            key = default;
            return false;
        }

        for (var i = 0; i < utf8.Length; i++)
        {
            chars[i] = (char)utf8[i];
        }

        return TryParse(chars[..utf8.Length], out key);
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
