using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Visibility.Query.Export.Syslog;

public enum SyslogProtocol
{
    /// <summary>RFC 6587 over TCP, octet-counted framing.</summary>
    Tcp,

    /// <summary>RFC 5425: octet-counted framing over TLS.</summary>
    Tls,

    /// <summary>RFC 5426: one message per datagram.</summary>
    Udp,
}

/// <summary>Where and how a syslog sink sends.</summary>
public sealed record SyslogTarget(string Host, int Port, SyslogProtocol Protocol)
{
    /// <summary>TLS: a PEM file of the CA (or the self-signed certificate) to trust instead of the system's roots.</summary>
    public string? CaFile { get; init; }

    /// <summary>TLS: the name the server certificate must carry (default: <see cref="Host"/>).</summary>
    public string? ServerName { get; init; }

    /// <summary>UDP: the largest datagram sent; longer messages are cut (RFC 5426 asks receivers for 2,048).</summary>
    public int MaxDatagram { get; init; } = 2048;

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Sends syslog messages to one receiver. The connection opens on first use; a failed send drops it and throws, and
/// the next send reconnects (the caller decides about retries and backoff). Not thread-safe: one sender per sink.
/// On TCP and TLS the client knows which messages the receiver's TCP stack acknowledged (Linux <c>TCP_INFO</c>
/// <c>tcpi_bytes_acked</c> against the byte offset where each message ended): after a reconnect it sends the
/// unacknowledged ones again, first, so a receiver that goes away and comes back misses nothing and (unless it drops
/// what it had acknowledged but not yet read) sees nothing twice. UDP has no acknowledgement: sent means done.
/// The client keeps the messages it was given until they are acknowledged: callers must not reuse their buffers.
/// </summary>
public sealed class SyslogClient(SyslogTarget target) : IAsyncDisposable
{
    private readonly ArrayBufferWriter<byte> frame = new(64 * 1024);
    private readonly Queue<(long End, ReadOnlyMemory<byte> Message)> unconfirmed = new();
    private readonly LinkedList<ReadOnlyMemory<byte>> outbox = new();
    private TcpClient? tcp;
    private Stream? stream;
    private CountingStream? counter;
    private UdpClient? udp;

    public SyslogTarget Target { get; } = target;

    /// <summary>Messages cut to fit a datagram.</summary>
    public long Truncated { get; private set; }

    /// <summary>Connections opened (the first and every reconnect).</summary>
    public long Connects { get; private set; }

    /// <summary>
    /// Takes the messages and sends them, in order, after any still waiting from an earlier failed call; returns when
    /// the transport has taken them all. When it throws (receiver down), the messages stay with the client: call again
    /// (with more messages or none) to go on; nothing is lost or sent twice by calling again.
    /// </summary>
    public async Task SendAsync(IReadOnlyList<ReadOnlyMemory<byte>> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (Target.Protocol != SyslogProtocol.Udp)
        {
            foreach (var message in messages)
            {
                outbox.AddLast(message);
            }
        }

        try
        {
            if (Target.Protocol == SyslogProtocol.Udp)
            {
                var client = udp ??= Open();
                foreach (var message in messages)
                {
                    var datagram = SyslogFraming.ForDatagram(message.Span, Target.MaxDatagram, out var truncated);
                    Truncated += truncated ? 1 : 0;
                    await client.SendAsync(message[..datagram.Length], cancellationToken);
                }

                return;
            }

            if (stream is null)
            {
                await ConnectAsync(cancellationToken);

                // What the last connection sent without an acknowledgement goes again, first and in order.
                foreach (var (_, message) in unconfirmed.Reverse())
                {
                    outbox.AddFirst(message);
                }

                unconfirmed.Clear();
            }

            await WriteOutboxAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException)
        {
            Confirm();
            await CloseAsync();
            throw;
        }
    }

    /// <summary>Messages taken but not yet acknowledged by the receiver (TCP, TLS): written and waiting, or not written yet.</summary>
    public int Unconfirmed => unconfirmed.Count + outbox.Count;

    /// <summary>
    /// Waits until the receiver acknowledged every message sent (TCP, TLS; UDP: at once). False when it did not within
    /// <paramref name="timeout"/> — the receiver is gone or stalled; the next send reconnects and sends them again.
    /// </summary>
    public async Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Confirm();
            if (unconfirmed.Count == 0 && outbox.Count == 0)
            {
                return true;
            }

            if (DateTime.UtcNow >= deadline || tcp is null || outbox.Count > 0)
            {
                if (tcp is not null)
                {
                    await CloseAsync();
                }

                return false;
            }

            await Task.Delay(5, cancellationToken);
        }
    }

    /// <summary>Drops the messages the receiver's TCP stack acknowledged from <see cref="unconfirmed"/>.</summary>
    private void Confirm()
    {
        if (tcp?.Client is not { } socket || unconfirmed.Count == 0)
        {
            return;
        }

        var acked = TcpAcknowledged(socket);
        while (unconfirmed.Count > 0 && unconfirmed.Peek().End <= acked)
        {
            unconfirmed.Dequeue();
        }
    }

    /// <summary>Data bytes the peer acknowledged on this connection: Linux <c>tcp_info.tcpi_bytes_acked</c> (offset 120), less the SYN.</summary>
    private static long TcpAcknowledged(Socket socket)
    {
        Span<byte> info = stackalloc byte[232];
        try
        {
            var length = socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 11 /* TCP_INFO */, info);
            return length >= 128 ? (long)BitConverter.ToUInt64(info[120..128]) - 1 : -1;
        }
        catch (SocketException)
        {
            return -1;
        }
        catch (ObjectDisposedException)
        {
            return -1;
        }
    }

    /// <summary>Writes the outbox as octet-counted frames, noting where each message ends in the bytes that left (after TLS).</summary>
    private async Task WriteOutboxAsync(CancellationToken cancellationToken)
    {
        var output = stream!;
        while (outbox.First is { } first)
        {
            var message = first.Value;
            frame.Clear();
            SyslogFraming.WriteOctetCounted(frame, message.Span);
            await output.WriteAsync(frame.WrittenMemory, cancellationToken);
            if (Target.Protocol == SyslogProtocol.Tls)
            {
                // A TLS record per message, so each message's end has an offset on the wire.
                await output.FlushAsync(cancellationToken);
            }

            outbox.RemoveFirst();
            unconfirmed.Enqueue((counter!.Written, message));
        }

        await output.FlushAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync() => await CloseAsync();

    private UdpClient Open()
    {
        var client = new UdpClient();
        client.Connect(Target.Host, Target.Port);
        Connects++;
        return client;
    }

    private async Task<Stream> ConnectAsync(CancellationToken cancellationToken)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(Target.ConnectTimeout);
                await client.ConnectAsync(Target.Host, Target.Port, timeout.Token);
            }

            var counting = new CountingStream(client.GetStream());
            Stream result = counting;
            if (Target.Protocol == SyslogProtocol.Tls)
            {
                var tls = new SslStream(result, leaveInnerStreamOpen: false);
                await tls.AuthenticateAsClientAsync(TlsOptions(), cancellationToken);
                result = tls;
            }

            tcp = client;
            stream = result;
            counter = counting;
            Connects++;
            return result;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private SslClientAuthenticationOptions TlsOptions()
    {
        var options = new SslClientAuthenticationOptions { TargetHost = Target.ServerName ?? Target.Host };
        if (Target.CaFile is { } caFile)
        {
            // Trust exactly this CA: the chain must end in it, and the name must match as usual.
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(LoadPem(caFile));
            options.CertificateChainPolicy = policy;
        }

        return options;
    }

    private static X509Certificate2Collection LoadPem(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        return collection;
    }

    private async Task CloseAsync()
    {
        if (stream is not null)
        {
            await stream.DisposeAsync();
            stream = null;
        }

        tcp?.Dispose();
        tcp = null;
        counter = null;
        udp?.Dispose();
        udp = null;
    }
}

/// <summary>Counts the bytes written through it (what actually left for the network, TLS records included).</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    public long Written { get; private set; }

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        Written += count;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken);
        Written += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
