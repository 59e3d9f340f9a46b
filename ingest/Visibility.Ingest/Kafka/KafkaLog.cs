using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Visibility.Ingest.Kafka;

/// <summary>
/// librdkafka's own log lines (connection failures, offset resets, rebalance notes) through <see cref="ILogger"/>
/// instead of its default print to standard error: each client logs under a category of its own below
/// <see cref="Category"/> (<c>librdkafka.ingest[0]</c>, <c>librdkafka.dead-letters</c>, …), so
/// <c>Logging:LogLevel:librdkafka</c> sets how much of it shows, and the JSON console format applies to it too.
/// </summary>
public static class KafkaLog
{
    /// <summary>The category prefix of every Kafka client's log.</summary>
    public const string Category = "librdkafka";

    /// <summary>A log handler for <c>SetLogHandler</c> writing to <paramref name="logger"/>.</summary>
    public static Action<IClient, LogMessage> Handler(ILogger logger) => (_, message) => Write(logger, message);

    /// <summary>Writes one librdkafka log line: its level mapped (<see cref="Level"/>), the client's name and facility as fields.</summary>
    public static void Write(ILogger logger, LogMessage message)
    {
        var level = Level(message.Level);
        if (logger.IsEnabled(level))
        {
            logger.Log(level, "{Client} {Facility}: {Message}", message.Name, message.Facility, message.Message);
        }
    }

    /// <summary>The <see cref="LogLevel"/> of a syslog level: emergency to critical are critical, notice and info information.</summary>
    public static LogLevel Level(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
        SyslogLevel.Error => LogLevel.Error,
        SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
        _ => LogLevel.Debug,
    };
}
