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
/// </summary>
public sealed class SyslogClient(SyslogTarget target) : IAsyncDisposable
{
    private readonly ArrayBufferWriter<byte> frame = new(64 * 1024);
    private TcpClient? tcp;
    private Stream? stream;
    private UdpClient? udp;

    public SyslogTarget Target { get; } = target;

    /// <summary>Messages cut to fit a datagram.</summary>
    public long Truncated { get; private set; }

    /// <summary>Connections opened (the first and every reconnect).</summary>
    public long Connects { get; private set; }

    /// <summary>Frames and sends the messages, in order; returns when the transport has taken them all.</summary>
    public async Task SendAsync(IReadOnlyList<ReadOnlyMemory<byte>> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
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

            var output = stream ?? await ConnectAsync(cancellationToken);
            frame.Clear();
            foreach (var message in messages)
            {
                SyslogFraming.WriteOctetCounted(frame, message.Span);
                if (frame.WrittenCount >= 60 * 1024)
                {
                    await output.WriteAsync(frame.WrittenMemory, cancellationToken);
                    frame.Clear();
                }
            }

            await output.WriteAsync(frame.WrittenMemory, cancellationToken);
            await output.FlushAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or SocketException or AuthenticationException)
        {
            await CloseAsync();
            throw;
        }
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

            Stream result = client.GetStream();
            if (Target.Protocol == SyslogProtocol.Tls)
            {
                var tls = new SslStream(result, leaveInnerStreamOpen: false);
                await tls.AuthenticateAsClientAsync(TlsOptions(), cancellationToken);
                result = tls;
            }

            tcp = client;
            stream = result;
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
        udp?.Dispose();
        udp = null;
    }
}
