using System.Text.Json;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>Where a JSON value sits in a message, kept to be read later.</summary>
internal readonly record struct Slice(int Start, int Length);

/// <summary>
/// What a Hubble flow says about its verdict: <c>verdict</c>, <c>drop_reason_desc</c> and the policy lists, kept as
/// slices of the message while it is read, then applied to the record once its tuple is known.
/// </summary>
internal struct HubbleVerdictFields
{
    private const int PolicyNamesMax = 512;

    private Verdict verdict;
    private Slice reason, ingressAllowed, egressAllowed, ingressDenied, egressDenied;

    /// <summary>Hubble's <c>verdict</c>, numbered as its protobuf enum where it has one.</summary>
    private enum Verdict : byte
    {
        Absent = 0,
        Forwarded = 1,
        Dropped = 2,
        Error = 3,
        Audit = 4,
        Denied,
        Other,
    }

    /// <summary>Reads the member at the reader if it is one of the verdict's; false (nothing read) otherwise.</summary>
    public bool TryRead(ref Utf8JsonReader reader, bool topLevel, ref bool isFlow)
    {
        if (reader.ValueTextEquals("verdict"u8))
        {
            // A bare flow (no wrapper) carries it at the top level; there it does not make the object a flow alone.
            isFlow |= !topLevel;
            reader.Read();
            verdict = reader.TokenType switch
            {
                JsonTokenType.String when reader.ValueTextEquals("FORWARDED"u8) => Verdict.Forwarded,
                JsonTokenType.String when reader.ValueTextEquals("DROPPED"u8) => Verdict.Dropped,
                JsonTokenType.String when reader.ValueTextEquals("DENIED"u8) => Verdict.Denied,
                JsonTokenType.String when reader.ValueTextEquals("ERROR"u8) => Verdict.Error,
                JsonTokenType.String when reader.ValueTextEquals("AUDIT"u8) => Verdict.Audit,
                // Protobuf's JSON may print an enum as its number: FORWARDED 1, DROPPED 2, ERROR 3, AUDIT 4.
                JsonTokenType.Number when reader.TryGetByte(out var n) && n is >= 1 and <= 4 => (Verdict)n,
                _ => Verdict.Other,
            };
            reader.Skip();
            return true;
        }

        if (reader.ValueTextEquals("drop_reason_desc"u8))
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped && !reader.HasValueSequence)
            {
                reason = new Slice((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
            }
            else
            {
                reader.Skip();
            }

            return true;
        }

        var isList = reader.ValueTextEquals("ingress_allowed_by"u8) || reader.ValueTextEquals("egress_allowed_by"u8)
            || reader.ValueTextEquals("ingress_denied_by"u8) || reader.ValueTextEquals("egress_denied_by"u8);
        if (!isList)
        {
            return false;
        }

        ref var list = ref reader.ValueTextEquals("ingress_allowed_by"u8) ? ref ingressAllowed
            : ref reader.ValueTextEquals("egress_allowed_by"u8) ? ref egressAllowed
            : ref reader.ValueTextEquals("ingress_denied_by"u8) ? ref ingressDenied : ref egressDenied;
        reader.Read();
        // Kept as a slice of the message and read once the verdict is known.
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        list = new Slice(start, (int)reader.BytesConsumed - start);
        return true;
    }

    /// <summary>
    /// The verdict, reason and policies; a refused request (not a reply) becomes a refused attempt. Returns the
    /// reason when a policy list is malformed.
    /// </summary>
    public readonly string? Apply(ReadOnlySpan<byte> message, bool isReply, AttemptTracker attempts, TextCache<string> texts, ref FlowRecord record)
    {
        record.Verdict = verdict is Verdict.Dropped or Verdict.Denied or Verdict.Error ? FlowVerdict.Blocked : FlowVerdict.Allowed;
        record.Audited = verdict == Verdict.Audit;
        if (reason.Length > 0)
        {
            record.VerdictReason = texts.Get(message.Slice(reason.Start, reason.Length));
        }

        // The policies that decided: those that denied it when it was refused or audited (and some did), else those
        // that allowed it.
        var denied = record.Verdict == FlowVerdict.Blocked || (record.Audited && (ingressDenied.Length > 0 || egressDenied.Length > 0));
        Span<byte> names = stackalloc byte[PolicyNamesMax];
        var length = 0;
        var error = denied
            ? HubblePolicyNames.Append(message, ingressDenied, names, ref length) ?? HubblePolicyNames.Append(message, egressDenied, names, ref length)
            : HubblePolicyNames.Append(message, ingressAllowed, names, ref length) ?? HubblePolicyNames.Append(message, egressAllowed, names, ref length);
        if (error is not null)
        {
            return error;
        }

        if (length > 0)
        {
            record.Policies = texts.Get(names[..length]);
        }

        if (record.Verdict == FlowVerdict.Blocked && !isReply)
        {
            // A refused request is an attempt, not a connection: its retransmissions fold into it (see AttemptTracker).
            record.IsAttempt = true;
            record.ConnectionId = attempts.Place(record.Protocol, record.SrcIp, record.DstIp, record.SrcPort, record.DstPort, record.StartMs, out record.StartMs, out var first);
            record.Event = first ? FlowEvent.New : FlowEvent.Update;
            record.EndMs = 0;
        }

        return null;
    }
}

/// <summary>
/// Reads Hubble's policy lists (<c>ingress_allowed_by</c>, <c>egress_denied_by</c>, …: arrays of
/// <c>{"name", "namespace", "labels", "revision", "kind"}</c>) into one comma-separated list of
/// <c>namespace/name</c>, without allocating.
/// </summary>
internal static class HubblePolicyNames
{
    /// <summary>The longest name or namespace read (Kubernetes' limit for names); longer ones are left out.</summary>
    private const int NameMax = 253;

    /// <summary>
    /// Appends the names of a policy list (<c>[{"name", "namespace", …}]</c>, kept as a slice of the message) to
    /// <paramref name="names"/> as <c>namespace/name</c>, comma-separated; names that no longer fit are left out.
    /// </summary>
    public static string? Append(ReadOnlySpan<byte> message, Slice list, Span<byte> names, ref int length)
    {
        if (list.Length == 0)
        {
            return null;
        }

        var reader = new Utf8JsonReader(message.Slice(list.Start, list.Length), new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                return "a policy list is not an array";
            }

            Span<byte> name = stackalloc byte[NameMax];
            Span<byte> space = stackalloc byte[NameMax];
            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                int nameLength = 0, spaceLength = 0;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isName = reader.ValueTextEquals("name"u8);
                    var isSpace = !isName && reader.ValueTextEquals("namespace"u8);
                    reader.Read();
                    if (!isName && !isSpace)
                    {
                        reader.Skip();
                        continue;
                    }

                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return "a policy's name or namespace is not a string";
                    }

                    (isName ? ref nameLength : ref spaceLength) = CopyName(ref reader, isName ? name : space);
                }

                var needed = (length > 0 ? 1 : 0) + (spaceLength > 0 ? spaceLength + 1 : 0) + nameLength;
                if (nameLength == 0 || length + needed > names.Length)
                {
                    continue;
                }

                if (length > 0)
                {
                    names[length++] = (byte)',';
                }

                if (spaceLength > 0)
                {
                    space[..spaceLength].CopyTo(names[length..]);
                    length += spaceLength;
                    names[length++] = (byte)'/';
                }

                name[..nameLength].CopyTo(names[length..]);
                length += nameLength;
            }

            return reader.TokenType == JsonTokenType.EndArray ? null : "a policy list holds something other than policies";
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return "malformed JSON";
        }
    }

    /// <summary>A policy's name or namespace into <paramref name="buffer"/>; 0 (left out) when it does not fit.</summary>
    private static int CopyName(ref Utf8JsonReader reader, scoped Span<byte> buffer)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            return reader.ValueSpan.TryCopyTo(buffer) ? reader.ValueSpan.Length : 0;
        }

        try
        {
            return reader.CopyString(buffer);
        }
        catch (ArgumentException)
        {
            return 0;
        }
    }
}
