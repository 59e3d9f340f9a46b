using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Visibility.TestSupport;

/// <summary>
/// A real rsyslog (Debian's <c>rsyslogd</c>, started by the test with its own configuration) listening on loopback:
/// RFC 6587 TCP, RFC 5425 TLS (OpenSSL driver, a self-signed certificate made here) and RFC 5426 UDP, each writing the
/// raw messages it receives, one per line, to its own file.
/// </summary>
public sealed class RsyslogReceiver : IDisposable
{
    private readonly string directory;
    private Process? process;

    private RsyslogReceiver(string directory)
    {
        this.directory = directory;
    }

    public int TcpPort { get; private set; }

    public int TlsPort { get; private set; }

    public int UdpPort { get; private set; }

    /// <summary>The PEM certificate the TLS listener presents (self-signed for 127.0.0.1): what a client trusts.</summary>
    public string CertificateFile => Path.Combine(directory, "cert.pem");

    public static async Task<RsyslogReceiver> StartAsync()
    {
        const string rsyslogd = "/usr/sbin/rsyslogd";
        if (!File.Exists(rsyslogd))
        {
            throw new InvalidOperationException($"{rsyslogd} is missing: `make deps` installs Debian's rsyslog and rsyslog-openssl");
        }

        var receiver = new RsyslogReceiver(Directory.CreateTempSubdirectory("visibility-rsyslog-").FullName);
        receiver.WriteCertificate();
        await receiver.StartProcessAsync();
        return receiver;
    }

    public string FileFor(string protocol) => Path.Combine(directory, $"{protocol}.log");

    /// <summary>How many messages one listener received so far: the lines in its file, counted without reading them into strings.</summary>
    public long Count(string protocol)
    {
        var path = FileFor(protocol);
        if (!File.Exists(path))
        {
            return 0;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        var buffer = new byte[1 << 16];
        long lines = 0;
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
        }

        return lines;
    }

    /// <summary>
    /// Waits until a listener has <paramref name="count"/> messages, or nothing new arrived for <paramref name="quiet"/>
    /// (UDP drops), or <paramref name="timeout"/> passed; returns how many it has.
    /// </summary>
    public async Task<long> WaitForCountAsync(string protocol, long count, TimeSpan quiet, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = -1L;
        var since = DateTime.UtcNow;
        while (true)
        {
            var now = Count(protocol);
            if (now != last)
            {
                (last, since) = (now, DateTime.UtcNow);
            }

            if (now >= count || DateTime.UtcNow - since > quiet || DateTime.UtcNow > deadline)
            {
                return now;
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The messages received so far on one listener (tcp, tls or udp).</summary>
    public IReadOnlyList<string> Received(string protocol)
    {
        var path = FileFor(protocol);
        if (!File.Exists(path))
        {
            return [];
        }

        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Polls until <paramref name="count"/> messages arrived on a listener, or the deadline passes; returns what arrived.</summary>
    public Task<IReadOnlyList<string>> WaitForAsync(string protocol, int count, TimeSpan timeout) =>
        Eventually.LastAsync(() => Task.FromResult(Received(protocol)), lines => lines.Count >= count, timeout, TimeSpan.FromMilliseconds(100));

    /// <summary>Stops the receiver (as a crash would: SIGKILL); <see cref="StartProcessAsync"/> brings it back on the same ports.</summary>
    public void Kill()
    {
        if (process is { HasExited: false })
        {
            process.Kill();
            process.WaitForExit(10_000);
        }

        process?.Dispose();
        process = null;
    }

    /// <summary>Stops the receiver as an administrator would (SIGTERM, rsyslog drains its queue) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (process is { HasExited: false } running)
        {
            using (var kill = Process.Start("kill", ["-TERM", running.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await running.WaitForExitAsync(timeout.Token);
        }

        process?.Dispose();
        process = null;
    }

    public async Task StartProcessAsync()
    {
        if (TcpPort == 0)
        {
            (TcpPort, TlsPort, UdpPort) = (FreePorts.Tcp(), FreePorts.Tcp(), FreePorts.Udp());
        }

        var config = Path.Combine(directory, "rsyslog.conf");
        await File.WriteAllTextAsync(config, $$"""
            global(workDirectory="{{directory}}" net.enableDNS="off" parser.escapeControlCharacterTab="off"
              defaultNetstreamDriverCAFile="{{CertificateFile}}"
              defaultNetstreamDriverCertFile="{{CertificateFile}}"
              defaultNetstreamDriverKeyFile="{{Path.Combine(directory, "key.pem")}}")
            module(load="imtcp" maxSessions="200")
            module(load="imudp")
            template(name="raw" type="string" string="%rawmsg%\n")
            ruleset(name="tcp") { action(type="omfile" file="{{FileFor("tcp")}}" template="raw") }
            ruleset(name="tls") { action(type="omfile" file="{{FileFor("tls")}}" template="raw") }
            ruleset(name="udp") { action(type="omfile" file="{{FileFor("udp")}}" template="raw") }
            input(type="imtcp" address="127.0.0.1" port="{{TcpPort}}" ruleset="tcp")
            input(type="imtcp" address="127.0.0.1" port="{{TlsPort}}" ruleset="tls"
              streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
            input(type="imudp" address="127.0.0.1" port="{{UdpPort}}" ruleset="udp")
            """);
        var info = new ProcessStartInfo("/usr/sbin/rsyslogd") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-n", "-f", config, "-i", Path.Combine(directory, "rsyslogd.pid") })
        {
            info.ArgumentList.Add(arg);
        }

        var started = Process.Start(info) ?? throw new InvalidOperationException("rsyslogd did not start");
        process = started;
        foreach (var port in new[] { TcpPort, TlsPort })
        {
            await Eventually.TrueAsync(
                async () =>
                {
                    if (await AcceptsAsync(port))
                    {
                        return true;
                    }

                    return started.HasExited
                        ? throw new InvalidOperationException($"rsyslogd exited: {await started.StandardError.ReadToEndAsync()}")
                        : false;
                },
                TimeSpan.FromSeconds(20), $"rsyslogd listening on {port}", interval: TimeSpan.FromMilliseconds(100));
        }
    }

    public void Dispose()
    {
        Kill();
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // rsyslog's last file handle can outlive the kill briefly; the temporary directory is not worth a failure.
        }
    }

    private void WriteCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(CertificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "key.pem"), key.ExportPkcs8PrivateKeyPem());
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
