using System.Buffers;
using System.Security.Authentication;
using System.Text;
using System.Text.RegularExpressions;
using Visibility.Query.Export.Syslog;

namespace Visibility.Tests.Export;

public sealed partial class SyslogTests
{
    private static readonly DateTimeOffset Time = new(2026, 11, 27, 6, 30, 0, 123, TimeSpan.Zero);

    [Fact]
    public void Message_HasRfc5424Header_WithSequenceIdInMetaStructuredData()
    {
        var message = new SyslogMessage(16, "sensor-1", "visibility");
        var text = Encoding.UTF8.GetString(message.ToBytes(SyslogSeverity.Warning, Time, "finding", 7, "CEF:0|a|b"));
        Assert.Equal("<132>1 2026-11-27T06:30:00.123000Z sensor-1 visibility - finding [meta sequenceId=\"7\"] CEF:0|a|b", text);
    }

    [Theory]
    [InlineData("", "-")]
    [InlineData("host name", "host_name")]
    [InlineData("hôte", "h_te")]
    public void HeaderField_IsPrintableAsciiWithoutSpaces_DashWhenEmpty(string value, string expected) =>
        Assert.Equal(expected, SyslogMessage.HeaderField(value, SyslogMessage.MaxHostName));

    [Fact]
    public void HeaderFields_AreCutToTheirRfcLengths()
    {
        var message = new SyslogMessage(23, new string('h', 300), new string('a', 60));
        var text = Encoding.ASCII.GetString(message.ToBytes(SyslogSeverity.Debug, Time, new string('m', 40), 0, ""));
        var fields = text.Split(' ');
        Assert.Equal("<191>1", fields[0]);
        Assert.Equal(255, fields[2].Length);
        Assert.Equal(48, fields[3].Length);
        Assert.Equal(32, fields[5].Length);
    }

    [Theory]
    [InlineData("critical", SyslogSeverity.Critical)]
    [InlineData("high", SyslogSeverity.Error)]
    [InlineData("medium", SyslogSeverity.Warning)]
    [InlineData("low", SyslogSeverity.Notice)]
    [InlineData(null, SyslogSeverity.Informational)]
    public void FindingSeverity_MapsToSyslogSeverity(string? severity, SyslogSeverity expected) =>
        Assert.Equal(expected, SyslogMessage.SeverityOf(severity));

    [Fact]
    public void OctetCounting_CountsBytesNotCharacters()
    {
        var body = Encoding.UTF8.GetBytes("prod → dev ü");
        var output = new ArrayBufferWriter<byte>();
        SyslogFraming.WriteOctetCounted(output, body);
        Assert.Equal($"{body.Length} prod → dev ü", Encoding.UTF8.GetString(output.WrittenSpan));
        Assert.Equal(15, body.Length);
    }

    [Fact]
    public void Datagram_LongMessageIsCutOnACharacterBoundary()
    {
        var body = Encoding.UTF8.GetBytes("ab€€");
        Assert.Equal("ab€€", Encoding.UTF8.GetString(SyslogFraming.ForDatagram(body, 100, out var untouched)));
        Assert.False(untouched);
        var cut = SyslogFraming.ForDatagram(body, 6, out var truncated);
        Assert.True(truncated);
        Assert.Equal("ab€", Encoding.UTF8.GetString(cut));
    }

    /// <summary>1,000 messages to a real rsyslog: every one arrives once, byte for byte, in order on streams.</summary>
    [Theory]
    [InlineData(SyslogProtocol.Tcp)]
    [InlineData(SyslogProtocol.Tls)]
    [InlineData(SyslogProtocol.Udp)]
    public async Task Rsyslog_ReceivesEveryMessageOnce(SyslogProtocol protocol)
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        var port = protocol switch { SyslogProtocol.Tcp => receiver.TcpPort, SyslogProtocol.Tls => receiver.TlsPort, _ => receiver.UdpPort };
        await using var client = new SyslogClient(new SyslogTarget("127.0.0.1", port, protocol) { CaFile = receiver.CertificateFile });
        var message = new SyslogMessage(16, "visibility-test", "visibility");
        var sent = new List<string>();
        for (var batch = 0; batch < 10; batch++)
        {
            var messages = new List<ReadOnlyMemory<byte>>();
            for (var i = 0; i < 100; i++)
            {
                var sequence = (batch * 100) + i;
                var bytes = message.ToBytes(SyslogSeverity.Warning, Time.AddSeconds(sequence), "finding", sequence,
                    $"CEF:0|Visibility|Visibility|1|cross_env|dev → prod ü|7|src=10.20.2.{sequence % 250} msg=seq {sequence} \\= done");
                messages.Add(bytes);
                sent.Add(Encoding.UTF8.GetString(bytes));
            }

            await client.SendAsync(messages, CancellationToken.None);
            if (protocol == SyslogProtocol.Udp)
            {
                // UDP has no flow control: let the receiver drain between bursts so the kernel's buffer does not overflow.
                await receiver.WaitForAsync("udp", sent.Count, TimeSpan.FromSeconds(10));
            }
        }

        var name = protocol.ToString().ToLowerInvariant();
        var received = await receiver.WaitForAsync(name, sent.Count, TimeSpan.FromSeconds(30));
        Assert.Equal(sent.Count, received.Count);
        Assert.Equal(sent.Count, received.Select(r => SequenceId().Match(r).Groups[1].Value).Distinct().Count());
        if (protocol == SyslogProtocol.Udp)
        {
            Assert.Equal(sent.Order(StringComparer.Ordinal), received.Order(StringComparer.Ordinal));
        }
        else
        {
            Assert.Equal(sent, received);
        }

        Assert.Equal(1, client.Connects);
    }

    /// <summary>
    /// The receiver stops while messages stream and comes back later: the client keeps trying, sends again only what
    /// the receiver never acknowledged, and every message arrives exactly once.
    /// </summary>
    [Theory]
    [InlineData(SyslogProtocol.Tcp)]
    [InlineData(SyslogProtocol.Tls)]
    public async Task Rsyslog_StoppedAndRestartedMidStream_EveryMessageArrivesOnce(SyslogProtocol protocol)
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        var port = protocol == SyslogProtocol.Tcp ? receiver.TcpPort : receiver.TlsPort;
        var name = protocol.ToString().ToLowerInvariant();
        await using var client = new SyslogClient(new SyslogTarget("127.0.0.1", port, protocol) { CaFile = receiver.CertificateFile, ConnectTimeout = TimeSpan.FromSeconds(2) });
        var message = new SyslogMessage(16, "visibility-test", "visibility");
        var failures = 0;
        for (var batch = 0; batch < 10; batch++)
        {
            var messages = Enumerable.Range(batch * 100, 100)
                .Select(n => (ReadOnlyMemory<byte>)message.ToBytes(SyslogSeverity.Notice, Time.AddSeconds(n), "finding", n, $"message {n}"))
                .ToList();
            if (batch == 4)
            {
                // Everything so far is written by the receiver; then it goes away with the next batch in flight.
                await receiver.WaitForAsync(name, 400, TimeSpan.FromSeconds(30));
                await receiver.StopAsync();
            }

            IReadOnlyList<ReadOnlyMemory<byte>> taken = messages;
            while (true)
            {
                try
                {
                    // The client holds whatever it could not deliver; later calls go on with nothing new.
                    await client.SendAsync(taken, CancellationToken.None);
                    taken = [];
                    if (await client.WaitConfirmedAsync(TimeSpan.FromSeconds(1), CancellationToken.None))
                    {
                        break;
                    }
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
                {
                    taken = [];
                }

                if (++failures == 3)
                {
                    await receiver.StartProcessAsync();
                }

                Assert.True(failures < 50, "the receiver never came back");
            }
        }

        var received = await receiver.WaitForAsync(name, 1000, TimeSpan.FromSeconds(30));
        var ids = received.Select(r => int.Parse(SequenceId().Match(r).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(failures >= 3, $"the outage was not seen ({failures} failed sends)");
        Assert.True(client.Connects >= 2);
        Assert.Equal(Enumerable.Range(0, 1000), ids.Order());
    }

    [Fact]
    public async Task Tls_ServerNotSignedByTheTrustedCertificate_IsRefused()
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        using var other = await RsyslogReceiver.StartAsync();
        await using var client = new SyslogClient(new SyslogTarget("127.0.0.1", receiver.TlsPort, SyslogProtocol.Tls) { CaFile = other.CertificateFile });
        var message = new SyslogMessage(16, "visibility-test", "visibility").ToBytes(SyslogSeverity.Notice, Time, "finding", 1, "x");
        await Assert.ThrowsAsync<AuthenticationException>(() => client.SendAsync([message], CancellationToken.None));
        Assert.Empty(receiver.Received("tls"));
    }

    [GeneratedRegex("sequenceId=\"(\\d+)\"")]
    private static partial Regex SequenceId();
}
