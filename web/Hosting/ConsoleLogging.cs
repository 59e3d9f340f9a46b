using Microsoft.Extensions.Logging.Console;

namespace Visibility.Web.Hosting;

/// <summary>
/// The console log's formats: the built-in <c>simple</c> formatter, one line per entry (the default), or the built-in
/// <c>json</c> formatter, one JSON object per line, chosen with <c>Logging:Console:FormatterName</c>
/// (<c>Logging__Console__FormatterName=json</c>). Either way timestamps are UTC, ISO 8601 with milliseconds
/// (<see cref="TimestampFormat"/>), unless <c>Logging:Console:FormatterOptions:TimestampFormat</c> names another format.
/// </summary>
public static class ConsoleLogging
{
    /// <summary>The timestamp of every console log entry, in UTC.</summary>
    public const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";

    /// <summary>UTC timestamps in <see cref="TimestampFormat"/> for both console formatters.</summary>
    public static ILoggingBuilder AddUtcConsoleTimestamps(this ILoggingBuilder logging)
    {
        // After the configuration is bound: a format given there wins, the clock is UTC regardless.
        logging.Services.PostConfigure<SimpleConsoleFormatterOptions>(o =>
        {
            o.UseUtcTimestamp = true;
            o.TimestampFormat ??= TimestampFormat + " ";
        });
        logging.Services.PostConfigure<JsonConsoleFormatterOptions>(o =>
        {
            o.UseUtcTimestamp = true;
            o.TimestampFormat ??= TimestampFormat;
        });
        return logging;
    }
}
