using System.Text;
using System.Text.Json;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// The general path beside <see cref="FlatJsonScanner"/>: any valid JSON object, read with
/// <see cref="Utf8JsonReader"/>, its top-level members fed to the same <see cref="IFlatJsonMembers"/> (escaped keys and
/// strings unescaped; nested values skipped, reported as <see cref="FlatJsonValueKind.Other"/>), so the two readers
/// agree on every input. Allocates only for escaped strings.
/// </summary>
internal static class FlatJsonReader
{
    public const string InvalidString = "a string is not valid UTF-8 or escapes half a surrogate pair";

    // Known member names are short; a longer escaped name is reported as an empty (unknown) key.
    private const int MaxKeyLength = 64;

    public static FlatJsonScan Read<TMembers>(ReadOnlySpan<byte> message, ref TMembers members, out string? reason)
        where TMembers : IFlatJsonMembers, allows ref struct
    {
        var reader = new Utf8JsonReader(message, new JsonReaderOptions { MaxDepth = 16 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                reason = FlatJsonScanner.NotAnObject;
                return FlatJsonScan.Invalid;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = Key(ref reader);
                reader.Read();
                ReadOnlySpan<byte> value = default;
                var kind = FlatJsonValueKind.Other;
                ulong integer = 0;
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        reader.Skip();
                        break;
                    case JsonTokenType.String:
                        kind = FlatJsonValueKind.String;
                        if (!reader.ValueIsEscaped)
                        {
                            value = reader.ValueSpan;
                        }
                        else if (!TryUnescape(ref reader, out var unescaped))
                        {
                            reason = InvalidString;
                            return FlatJsonScan.Invalid;
                        }
                        else
                        {
                            value = unescaped;
                        }

                        break;
                    case JsonTokenType.Number:
                        value = reader.ValueSpan;
                        kind = reader.TryGetUInt64(out integer) ? FlatJsonValueKind.Integer : FlatJsonValueKind.Number;
                        break;
                }

                if (!members.Member(key, value, kind, integer, out reason))
                {
                    return FlatJsonScan.Invalid;
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0)
            {
                reason = FlatJsonScanner.Malformed;
                return FlatJsonScan.Invalid;
            }

            // Nothing may follow the object: the reader throws on anything but whitespace.
            while (reader.Read())
            {
            }

            reason = null;
            return FlatJsonScan.Done;
        }
        catch (JsonException)
        {
            reason = FlatJsonScanner.Malformed;
            return FlatJsonScan.Invalid;
        }
    }

    private static ReadOnlySpan<byte> Key(scoped ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            return reader.ValueSpan;
        }

        // Escaped names are rare: unescaped into a small array of their own.
        var buffer = new byte[MaxKeyLength];
        try
        {
            return buffer.AsSpan(0, reader.CopyString(buffer));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            // Longer than any known name, or not valid text: no known name is like that.
            return default;
        }
    }

    /// <summary>
    /// An escaped string's value as UTF-8. The reader passes invalid UTF-8 and unpaired surrogate escapes
    /// (<c>\ud800</c>) inside strings; they surface only here, as an <see cref="InvalidOperationException"/>.
    /// </summary>
    private static bool TryUnescape(ref Utf8JsonReader reader, out byte[] unescaped)
    {
        try
        {
            unescaped = Encoding.UTF8.GetBytes(reader.GetString()!);
            return true;
        }
        catch (InvalidOperationException)
        {
            unescaped = [];
            return false;
        }
    }
}
