using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>What became of one message.</summary>
public enum DecodeStatus
{
    /// <summary>The record was filled in.</summary>
    Ok,

    /// <summary>A well-formed message that carries no flow (for example a heartbeat); not an error.</summary>
    Skipped,

    /// <summary>Malformed input; the reason says why, and the message goes to the dead-letter topic.</summary>
    Invalid,
}

/// <summary>
/// Decodes one message into a reusable record. Implementations are thread-safe; any state they keep (an AWS
/// header's field order, a cache of Kubernetes endpoints) is safe to share between consumers.
/// </summary>
public interface IFlowDecoder
{
    /// <summary>The format name used in configuration, e.g. <c>ulogd2-json</c>.</summary>
    string Format { get; }

    /// <summary>
    /// Fills <paramref name="record"/> from <paramref name="message"/>. On <see cref="DecodeStatus.Invalid"/>,
    /// <paramref name="reason"/> names the problem; reasons are constant strings, so failures allocate nothing.
    /// </summary>
    DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason);
}
