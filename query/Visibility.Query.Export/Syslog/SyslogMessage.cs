using System.Buffers;
using System.Globalization;
using System.Text;

namespace Visibility.Query.Export.Syslog;

/// <summary>Syslog severities (RFC 5424 §6.2.1) used by the export: a finding's severity maps onto them.</summary>
public enum SyslogSeverity
{
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

/// <summary>
/// Builds RFC 5424 messages: <c>&lt;PRI&gt;1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [meta sequenceId="N"] MSG</c>.
/// Header fields are checked or cleaned to what the RFC allows (printable US-ASCII, bounded lengths, NILVALUE for
/// empty); the sequence id goes in the IANA-registered <c>meta</c> structured data, so a receiver can tell a record
/// sent twice from two records. MSG is UTF-8 without a BOM (RFC 5424 §6.4 allows either; receivers handle this better).
/// </summary>
public sealed class SyslogMessage
{
    public const int MaxHostName = 255;
    public const int MaxAppName = 48;
    public const int MaxMessageId = 32;

    private readonly string header;

    /// <param name="facility">0–23; the export's default is 16 (local0).</param>
    public SyslogMessage(int facility, string hostName, string appName)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(facility);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(facility, 23);
        Facility = facility;
        header = $"{HeaderField(hostName, MaxHostName)} {HeaderField(appName, MaxAppName)} -";
    }

    public int Facility { get; }

    /// <summary>Maps a finding severity (low, medium, high, critical) to a syslog severity; anything else is informational.</summary>
    public static SyslogSeverity SeverityOf(string? findingSeverity) => findingSeverity switch
    {
        "critical" => SyslogSeverity.Critical,
        "high" => SyslogSeverity.Error,
        "medium" => SyslogSeverity.Warning,
        "low" => SyslogSeverity.Notice,
        _ => SyslogSeverity.Informational,
    };

    /// <summary>Writes one message (without framing) to <paramref name="output"/>.</summary>
    public void Write(IBufferWriter<byte> output, SyslogSeverity severity, DateTimeOffset time, string messageId, long sequenceId, ReadOnlySpan<char> body)
    {
        WriteHeader(output, severity, time, messageId, sequenceId);
        Encoding.UTF8.GetBytes(body, output);
    }

    /// <summary>Writes one message (without framing) whose body is already UTF-8.</summary>
    public void Write(IBufferWriter<byte> output, SyslogSeverity severity, DateTimeOffset time, string messageId, long sequenceId, ReadOnlySpan<byte> utf8Body)
    {
        WriteHeader(output, severity, time, messageId, sequenceId);
        output.Write(utf8Body);
    }

    private void WriteHeader(IBufferWriter<byte> output, SyslogSeverity severity, DateTimeOffset time, string messageId, long sequenceId)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfNegative(sequenceId);
        var pri = (Facility * 8) + (int)severity;
        var text = string.Create(CultureInfo.InvariantCulture,
            $"<{pri}>1 {time.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'} {header} {HeaderField(messageId, MaxMessageId)} [meta sequenceId=\"{sequenceId}\"] ");
        Encoding.ASCII.GetBytes(text, output);
    }

    /// <summary>The message as bytes (tests, one-off sends).</summary>
    public byte[] ToBytes(SyslogSeverity severity, DateTimeOffset time, string messageId, long sequenceId, string body)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + (body.Length * 2));
        Write(buffer, severity, time, messageId, sequenceId, body);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A header field as RFC 5424 allows it: printable US-ASCII without spaces, at most <paramref name="max"/> characters, "-" when empty.</summary>
    public static string HeaderField(string? value, int max)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "-";
        }

        var clean = new StringBuilder(Math.Min(value.Length, max));
        foreach (var c in value)
        {
            if (clean.Length == max)
            {
                break;
            }

            clean.Append(c is > ' ' and <= '~' ? c : '_');
        }

        return clean.ToString();
    }
}

/// <summary>How a message travels: RFC 6587 octet counting on streams (TCP, TLS), one datagram per message on UDP.</summary>
public static class SyslogFraming
{
    /// <summary>Writes <c>MSG-LEN SP SYSLOG-MSG</c> (RFC 6587 §3.4.1, RFC 5425 §4.3).</summary>
    public static void WriteOctetCounted(IBufferWriter<byte> output, ReadOnlySpan<byte> message)
    {
        ArgumentNullException.ThrowIfNull(output);
        Span<byte> digits = stackalloc byte[12];
        message.Length.TryFormat(digits, out var written, default, CultureInfo.InvariantCulture);
        output.Write(digits[..written]);
        output.Write(" "u8);
        output.Write(message);
    }

    /// <summary>
    /// The part of a message a UDP datagram carries (RFC 5426 §3.2: receivers must take 480 octets and should take 2,048);
    /// longer messages are cut at <paramref name="maxDatagram"/> bytes, on a UTF-8 character boundary.
    /// </summary>
    public static ReadOnlySpan<byte> ForDatagram(ReadOnlySpan<byte> message, int maxDatagram, out bool truncated)
    {
        truncated = message.Length > maxDatagram;
        if (!truncated)
        {
            return message;
        }

        var end = maxDatagram;
        while (end > 0 && (message[end] & 0xC0) == 0x80)
        {
            end--;
        }

        return message[..end];
    }
}
