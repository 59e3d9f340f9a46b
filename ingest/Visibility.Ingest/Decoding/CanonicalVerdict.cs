using System.Text.Json;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// The verdict members of a canonical JSON record (<see cref="CanonicalJsonDecoder"/>):
/// <c>"verdict": "allowed" | "blocked"</c>, <c>"attempt": true</c> (a refused attempt, not a connection; implies
/// blocked), <c>"audited": true</c>, <c>"reason": "…"</c> and <c>"policies": ["ns/name", …]</c>. Reasons and policy
/// lists are shared strings (<see cref="TextCache{TValue}"/>), so a repeated one allocates nothing.
/// </summary>
internal struct CanonicalVerdict
{
    /// <summary>The longest policy list kept, in UTF-8 bytes with its commas (Hubble's decoder keeps as much).</summary>
    private const int PolicyListMax = 512;

    /// <summary>The longest reason or policy name read, in UTF-8 bytes.</summary>
    private const int TextMax = 253;

    private static readonly TextCache<string> Texts = new(static text => text);

    private FlowVerdict verdict;
    private bool haveVerdict, attempt, audited;
    private string? reason, policies;

    /// <summary>
    /// Reads the member at the reader if it is one of the verdict's (true, with <paramref name="error"/> set when its
    /// value is wrong); false, with nothing read, for any other member.
    /// </summary>
    public bool TryRead(ref Utf8JsonReader reader, out string? error)
    {
        error = null;
        if (reader.ValueTextEquals("verdict"u8))
        {
            reader.Read();
            haveVerdict = true;
            if (reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("blocked"u8))
            {
                verdict = FlowVerdict.Blocked;
            }
            else if (reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("allowed"u8))
            {
                verdict = FlowVerdict.Allowed;
            }
            else
            {
                reader.Skip();
                error = "verdict is not allowed or blocked";
            }

            return true;
        }

        if (reader.ValueTextEquals("attempt"u8) || reader.ValueTextEquals("audited"u8))
        {
            var isAttempt = reader.ValueTextEquals("attempt"u8);
            reader.Read();
            if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
            {
                reader.Skip();
                error = "attempt and audited are true or false";
                return true;
            }

            (isAttempt ? ref attempt : ref audited) = reader.TokenType == JsonTokenType.True;
            return true;
        }

        if (reader.ValueTextEquals("reason"u8))
        {
            reader.Read();
            Span<byte> text = stackalloc byte[TextMax];
            var length = reader.TokenType == JsonTokenType.String ? Copy(ref reader, text) : -1;
            if (length < 0)
            {
                reader.Skip();
                error = "reason is not a string of at most 253 bytes";
                return true;
            }

            reason = length == 0 ? null : Texts.Get(text[..length]);
            return true;
        }

        if (reader.ValueTextEquals("policies"u8))
        {
            error = ReadPolicies(ref reader);
            return true;
        }

        return false;
    }

    /// <summary>Checks the members together and fills the record's verdict; the reason when they disagree.</summary>
    public readonly string? Apply(ref FlowRecord record)
    {
        if (attempt && haveVerdict && verdict != FlowVerdict.Blocked)
        {
            return "an attempt is refused: its verdict is blocked";
        }

        record.Verdict = attempt ? FlowVerdict.Blocked : verdict;
        record.IsAttempt = attempt;
        record.Audited = audited;
        record.VerdictReason = reason;
        record.Policies = policies;
        return null;
    }

    private string? ReadPolicies(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return "policies is not an array of names";
        }

        Span<byte> list = stackalloc byte[PolicyListMax];
        Span<byte> name = stackalloc byte[TextMax];
        var length = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var nameLength = reader.TokenType == JsonTokenType.String ? Copy(ref reader, name) : -1;
            if (nameLength <= 0 || name[..nameLength].Contains((byte)','))
            {
                reader.Skip();
                return "policies is not an array of names (1-253 bytes, no commas)";
            }

            var needed = nameLength + (length > 0 ? 1 : 0);
            if (length + needed > list.Length)
            {
                // Past what one record keeps: the rest of the names are left out, as Hubble's lists are.
                continue;
            }

            if (length > 0)
            {
                list[length++] = (byte)',';
            }

            name[..nameLength].CopyTo(list[length..]);
            length += nameLength;
        }

        policies = length == 0 ? null : Texts.Get(list[..length]);
        return null;
    }

    /// <summary>The string at the reader into <paramref name="buffer"/>: its length, or -1 when it does not fit.</summary>
    private static int Copy(ref Utf8JsonReader reader, scoped Span<byte> buffer)
    {
        if (!reader.ValueIsEscaped)
        {
            return reader.ValueSpan.TryCopyTo(buffer) ? reader.ValueSpan.Length : -1;
        }

        try
        {
            return reader.CopyString(buffer);
        }
        catch (ArgumentException)
        {
            return -1;
        }
    }
}
