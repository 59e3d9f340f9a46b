using System.Buffers.Text;

namespace Visibility.Ingest.Decoding;

/// <summary>Allocation-free pieces shared by the text decoders: numbers, whitespace, dates.</summary>
internal static class TextParsing
{
    public static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    public static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> text)
    {
        var start = 0;
        while (start < text.Length && IsSpace(text[start]))
        {
            start++;
        }

        var end = text.Length;
        while (end > start && IsSpace(text[end - 1]))
        {
            end--;
        }

        return text[start..end];
    }

    /// <summary>The next whitespace-separated token at or after <paramref name="position"/>; empty at the end.</summary>
    public static ReadOnlySpan<byte> NextToken(ReadOnlySpan<byte> text, ref int position)
    {
        while (position < text.Length && IsSpace(text[position]))
        {
            position++;
        }

        var start = position;
        while (position < text.Length && !IsSpace(text[position]))
        {
            position++;
        }

        return text[start..position];
    }

    /// <summary>A decimal number made of digits only (no sign, no spaces), at most <paramref name="max"/>.</summary>
    public static bool TryParseUInt64(ReadOnlySpan<byte> text, ulong max, out ulong value)
    {
        if (text.IsEmpty || text[0] is < (byte)'0' or > (byte)'9'
            || !Utf8Parser.TryParse(text, out value, out var consumed) || consumed != text.Length || value > max)
        {
            value = 0;
            return false;
        }

        return true;
    }

    public static bool TryParseInt64(ReadOnlySpan<byte> text, out long value)
    {
        if (TryParseUInt64(text, long.MaxValue, out var unsigned))
        {
            value = (long)unsigned;
            return true;
        }

        value = 0;
        return false;
    }

    /// <summary>Unix milliseconds of a UTC calendar time, or false when a part is out of range.</summary>
    public static bool TryUnixMilliseconds(int year, int month, int day, int hour, int minute, int second, int millisecond, out long unixMs)
    {
        unixMs = 0;
        if (year is < 1970 or > 9999 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)
            || hour is < 0 or > 23 || minute is < 0 or > 59 || second is < 0 or > 60 || millisecond is < 0 or > 999)
        {
            return false;
        }

        // A leap second (:60) is read as the last millisecond of the minute before it.
        if (second == 60)
        {
            second = 59;
            millisecond = 999;
        }

        unixMs = new DateTimeOffset(year, month, day, hour, minute, second, millisecond, TimeSpan.Zero).ToUnixTimeMilliseconds();
        return true;
    }

    /// <summary>
    /// RFC 3339 date-time (<c>2026-11-26T21:34:25.979480123Z</c>, or with a <c>+hh:mm</c> offset) to Unix
    /// milliseconds; fractions beyond milliseconds are truncated.
    /// </summary>
    public static bool TryParseRfc3339(ReadOnlySpan<byte> text, out long unixMs)
    {
        unixMs = 0;
        if (text.Length < 20 || text[4] != '-' || text[7] != '-' || (text[10] | 0x20) != 't' || text[13] != ':' || text[16] != ':'
            || !TryDigits(text.Slice(0, 4), out var year) || !TryDigits(text.Slice(5, 2), out var month)
            || !TryDigits(text.Slice(8, 2), out var day) || !TryDigits(text.Slice(11, 2), out var hour)
            || !TryDigits(text.Slice(14, 2), out var minute) || !TryDigits(text.Slice(17, 2), out var second))
        {
            return false;
        }

        var position = 19;
        var millisecond = 0;
        if (text[position] == '.')
        {
            position++;
            var digits = 0;
            while (position < text.Length && text[position] is >= (byte)'0' and <= (byte)'9')
            {
                if (digits < 3)
                {
                    millisecond = (millisecond * 10) + (text[position] - '0');
                }

                digits++;
                position++;
            }

            if (digits == 0)
            {
                return false;
            }

            for (; digits < 3; digits++)
            {
                millisecond *= 10;
            }
        }

        if (position >= text.Length)
        {
            return false;
        }

        var offsetMinutes = 0;
        var zone = text[position..];
        if (zone.Length == 1 && (zone[0] | 0x20) == 'z')
        {
            offsetMinutes = 0;
        }
        else if (zone.Length == 6 && zone[0] is (byte)'+' or (byte)'-' && zone[3] == ':'
            && TryDigits(zone.Slice(1, 2), out var offsetHours) && TryDigits(zone.Slice(4, 2), out var offsetMins)
            && offsetHours < 24 && offsetMins < 60)
        {
            offsetMinutes = ((offsetHours * 60) + offsetMins) * (zone[0] == '-' ? -1 : 1);
        }
        else
        {
            return false;
        }

        if (!TryUnixMilliseconds(year, month, day, hour, minute, second, millisecond, out unixMs))
        {
            return false;
        }

        unixMs -= offsetMinutes * 60_000L;
        return true;
    }

    /// <summary>Three-letter English month names (<c>Jan</c> … <c>Dec</c>) as C's <c>%b</c> prints them.</summary>
    public static int MonthNumber(ReadOnlySpan<byte> name)
    {
        ReadOnlySpan<byte> names = "JanFebMarAprMayJunJulAugSepOctNovDec"u8;
        if (name.Length != 3)
        {
            return 0;
        }

        for (var i = 0; i < 12; i++)
        {
            if (names.Slice(i * 3, 3).SequenceEqual(name))
            {
                return i + 1;
            }
        }

        return 0;
    }

    public static bool TryDigits(ReadOnlySpan<byte> text, out int value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 9)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }
}
