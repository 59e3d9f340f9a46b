using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Visibility.Ingest.Decoding;

/// <summary>How a member's value reached <see cref="IFlatJsonMembers.Member"/>.</summary>
internal enum FlatJsonValueKind
{
    String,

    /// <summary>An unsigned integer, already parsed.</summary>
    Integer,

    /// <summary>Any other JSON number (negative, fractional, out of range).</summary>
    Number,

    /// <summary><c>true</c>, <c>false</c> or <c>null</c>.</summary>
    Other,
}

internal enum FlatJsonScan
{
    Done,
    Invalid,

    /// <summary>Valid JSON, perhaps, but not a shape the scanner reads: the caller's general reader takes it.</summary>
    Unsupported,
}

/// <summary>
/// What a format does with each member <see cref="FlatJsonScanner"/> reads. A struct implementation is
/// specialised into the scanner, so the call costs what the inlined code would.
/// </summary>
internal interface IFlatJsonMembers
{
    /// <summary>Takes one member; false (with the reason) rejects the record.</summary>
    bool Member(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, FlatJsonValueKind kind, ulong integer, out string? reason);
}

/// <summary>
/// Reads a flat JSON object of numbers, plain strings and literals, as log shippers such as ulogd2 write them,
/// in a fraction of what a general JSON reader needs. Anything else — nesting, escapes, unusually many strings —
/// is reported <see cref="FlatJsonScan.Unsupported"/> for the caller's general reader, which must feed the same
/// <see cref="IFlatJsonMembers"/> so the two agree on every input.
/// </summary>
internal static class FlatJsonScanner
{
    public const string Malformed = "malformed JSON";
    public const string NotAnObject = "not a JSON object";

    // ulogd2's records have about 60 quotes; a record with more is read by the general reader.
    private const int MaxQuotes = 256;

    public static FlatJsonScan Scan<TMembers>(ReadOnlySpan<byte> s, ref TMembers members, out string? reason)
        where TMembers : IFlatJsonMembers, allows ref struct
    {
        reason = Malformed;
        var i = SkipSpace(s, 0);
        if (i >= s.Length)
        {
            return FlatJsonScan.Invalid;
        }

        if (s[i] != (byte)'{')
        {
            reason = NotAnObject;
            return s[i] is (byte)'[' or (byte)'"' or (byte)'-' or (>= (byte)'0' and <= (byte)'9') or (byte)'t' or (byte)'f' or (byte)'n'
                ? FlatJsonScan.Invalid
                : FlatJsonScan.Unsupported;
        }

        i = SkipSpace(s, i + 1);
        if (i < s.Length && s[i] == (byte)'}')
        {
            return SkipSpace(s, i + 1) == s.Length ? FlatJsonScan.Done : FlatJsonScan.Invalid;
        }

        // Every quote's position, found with vector compares in one pass; keys and strings then end where the next
        // quote is, with no per-byte loop. Escapes (and unusually many strings) go to the general reader.
        Span<int> quotes = stackalloc int[MaxQuotes];
        var quoteCount = IndexQuotes(s, quotes);
        if (quoteCount < 0)
        {
            return FlatJsonScan.Unsupported;
        }

        var q = 0;
        while (true)
        {
            if (i >= s.Length || s[i] != (byte)'"')
            {
                return FlatJsonScan.Invalid;
            }

            if (q + 1 >= quoteCount || quotes[q] != i)
            {
                return FlatJsonScan.Invalid;
            }

            var key = s[(i + 1)..quotes[q + 1]];
            i = quotes[q + 1];
            q += 2;
            if (i + 2 < s.Length && s[i + 1] == (byte)':' && s[i + 2] == (byte)' ')
            {
                // ulogd2's own separator.
                i += 3;
            }
            else
            {
                i = SkipSpace(s, i + 1);
                if (i >= s.Length || s[i] != (byte)':')
                {
                    return FlatJsonScan.Invalid;
                }

                i = SkipSpace(s, i + 1);
            }

            if (i >= s.Length)
            {
                return FlatJsonScan.Invalid;
            }

            ReadOnlySpan<byte> value;
            FlatJsonValueKind kind;
            ulong integer = 0;
            var c = s[i];
            if (c == (byte)'"')
            {
                if (q + 1 >= quoteCount || quotes[q] != i)
                {
                    return FlatJsonScan.Invalid;
                }

                value = s[(i + 1)..quotes[q + 1]];
                kind = FlatJsonValueKind.String;
                i = quotes[q + 1] + 1;
                q += 2;
            }
            else if (c >= (byte)'0' && c <= (byte)'9')
            {
                // Unsigned integers, the common case, are parsed in the same pass; anything else is handed over as text.
                var start = i;
                ulong acc = 0;
                var overflow = false;
                while (i < s.Length && s[i] - (uint)'0' <= 9)
                {
                    var digit = (uint)(s[i] - '0');
                    overflow |= acc > (ulong.MaxValue - digit) / 10;
                    acc = (acc * 10) + digit;
                    i++;
                }

                if (i < s.Length && s[i] is (byte)'.' or (byte)'e' or (byte)'E')
                {
                    while (i < s.Length && s[i] is (>= (byte)'0' and <= (byte)'9') or (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-')
                    {
                        i++;
                    }

                    overflow = true;
                }

                value = s[start..i];
                kind = overflow ? FlatJsonValueKind.Number : FlatJsonValueKind.Integer;
                integer = acc;
            }
            else if (c == (byte)'-')
            {
                var start = i;
                i++;
                while (i < s.Length && s[i] is (>= (byte)'0' and <= (byte)'9') or (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-')
                {
                    i++;
                }

                value = s[start..i];
                kind = FlatJsonValueKind.Number;
            }
            else if (s[i..].StartsWith("true"u8) || s[i..].StartsWith("null"u8))
            {
                value = default;
                kind = FlatJsonValueKind.Other;
                i += 4;
            }
            else if (s[i..].StartsWith("false"u8))
            {
                value = default;
                kind = FlatJsonValueKind.Other;
                i += 5;
            }
            else if (c is (byte)'{' or (byte)'[')
            {
                return FlatJsonScan.Unsupported;
            }
            else
            {
                return FlatJsonScan.Invalid;
            }

            if (!members.Member(key, value, kind, integer, out reason))
            {
                return FlatJsonScan.Invalid;
            }

            i = SkipSpace(s, i);
            if (i >= s.Length)
            {
                reason = Malformed;
                return FlatJsonScan.Invalid;
            }

            if (s[i] == (byte)',')
            {
                i = i + 1 < s.Length && s[i + 1] == (byte)' ' ? i + 2 : SkipSpace(s, i + 1);
                continue;
            }

            reason = Malformed;
            if (s[i] != (byte)'}')
            {
                return FlatJsonScan.Invalid;
            }

            return SkipSpace(s, i + 1) == s.Length ? FlatJsonScan.Done : FlatJsonScan.Invalid;
        }
    }

    /// <summary>
    /// Writes the position of every <c>"</c> in <paramref name="s"/> to <paramref name="positions"/> and returns
    /// how many there are; -1 when the text has a backslash or more quotes than fit.
    /// </summary>
    private static int IndexQuotes(ReadOnlySpan<byte> s, Span<int> positions)
    {
        var count = 0;
        var i = 0;
        ref var start = ref MemoryMarshal.GetReference(s);
        if (Vector256.IsHardwareAccelerated)
        {
            var quote = Vector256.Create((byte)'"');
            var backslash = Vector256.Create((byte)'\\');
            for (; i + Vector256<byte>.Count <= s.Length; i += Vector256<byte>.Count)
            {
                var chunk = Vector256.LoadUnsafe(ref start, (nuint)i);
                if (Vector256.EqualsAny(chunk, backslash))
                {
                    return -1;
                }

                var mask = Vector256.Equals(chunk, quote).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    if (count == positions.Length)
                    {
                        return -1;
                    }

                    positions[count++] = i + BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                }
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var quote = Vector128.Create((byte)'"');
            var backslash = Vector128.Create((byte)'\\');
            for (; i + Vector128<byte>.Count <= s.Length; i += Vector128<byte>.Count)
            {
                var chunk = Vector128.LoadUnsafe(ref start, (nuint)i);
                if (Vector128.EqualsAny(chunk, backslash))
                {
                    return -1;
                }

                var mask = Vector128.Equals(chunk, quote).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    if (count == positions.Length)
                    {
                        return -1;
                    }

                    positions[count++] = i + BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                }
            }
        }

        for (; i < s.Length; i++)
        {
            if (s[i] == (byte)'\\')
            {
                return -1;
            }

            if (s[i] == (byte)'"')
            {
                if (count == positions.Length)
                {
                    return -1;
                }

                positions[count++] = i;
            }
        }

        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SkipSpace(ReadOnlySpan<byte> s, int i)
    {
        // ulogd2 separates with exactly one space; check that first.
        if ((uint)i < (uint)s.Length && s[i] > (byte)' ')
        {
            return i;
        }

        while (i < s.Length && TextParsing.IsSpace(s[i]))
        {
            i++;
        }

        return i;
    }
}
