namespace Visibility.Query.Export.Sinks;

/// <summary>
/// One record to deliver, already written in the sink's format: its place in the sink's stream (<see cref="Sequence"/>,
/// continuing across restarts), its stable event id, the time it describes, the finding severity (null for none),
/// what it is (<c>finding</c> or <c>flow_summary</c>, the syslog MSGID) and the record's bytes (one line, no break).
/// </summary>
public readonly record struct ExportItem(long Sequence, string EventId, DateTimeOffset Time, string? Severity, string Kind, ReadOnlyMemory<byte> Body);

/// <summary>
/// Where records go: a syslog receiver, a file, a Kafka topic. A sink takes items in order and reports when the
/// destination has confirmed them (acknowledged by the receiver, written to disk, acknowledged by the brokers); the
/// export stream moves its checkpoint only past confirmed items. Not thread-safe: one stream drives one sink.
/// </summary>
public interface IExportSink : IAsyncDisposable
{
    /// <summary>What the sink sends to, for status pages and logs (never a secret).</summary>
    string Destination { get; }

    /// <summary>Items taken but not yet confirmed.</summary>
    int Pending { get; }

    /// <summary>
    /// Takes the items (the sink keeps them until confirmed: callers must not reuse the bodies' buffers) and hands
    /// them, in order, to the transport after any left from a failed call. Throws when the destination cannot take
    /// them; they stay with the sink, and calling again (with more items or none) goes on without loss or repeat.
    /// </summary>
    Task SendAsync(IReadOnlyList<ExportItem> items, CancellationToken cancellationToken);

    /// <summary>True once every item taken so far is confirmed; false when <paramref name="timeout"/> passes first.</summary>
    Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken);
}
