using System.Buffers;
using Visibility.Query.Export.Syslog;

namespace Visibility.Query.Export.Sinks;

/// <summary>
/// Records as RFC 5424 messages to a syslog receiver over TCP (octet counting), TLS or UDP. The item's sequence goes
/// in <c>[meta sequenceId]</c>, its kind in MSGID, its severity in PRI. Confirmation is the receiver's TCP
/// acknowledgement (see <see cref="SyslogClient"/>); over UDP, sent is confirmed.
/// </summary>
public sealed class SyslogSink(SyslogTarget target, SyslogMessage message) : IExportSink
{
    private readonly SyslogClient client = new(target);
    private readonly List<ReadOnlyMemory<byte>> batch = [];

    public string Destination { get; } = $"syslog+{target.Protocol.ToString().ToLowerInvariant()}://{target.Host}:{target.Port}";

    public int Pending => client.Unconfirmed;

    /// <summary>Connections opened so far (the first and every reconnect).</summary>
    public long Connects => client.Connects;

    /// <summary>UDP messages cut to fit a datagram.</summary>
    public long Truncated => client.Truncated;

    public Task SendAsync(IReadOnlyList<ExportItem> items, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        batch.Clear();
        foreach (var item in items)
        {
            var buffer = new ArrayBufferWriter<byte>(item.Body.Length + 128);
            message.Write(buffer, SyslogMessage.SeverityOf(item.Severity), item.Time, item.Kind, item.Sequence, item.Body.Span);
            batch.Add(buffer.WrittenMemory);
        }

        return client.SendAsync(batch, cancellationToken);
    }

    public Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        client.WaitConfirmedAsync(timeout, cancellationToken);

    public ValueTask DisposeAsync() => client.DisposeAsync();
}
