using System.Globalization;

namespace Visibility.Web.Api;

/// <summary>
/// Query time ranges: <c>from</c>/<c>to</c> as RFC 3339 or Unix seconds, or <c>last</c> as a duration
/// (<c>30s</c>, <c>15m</c>, <c>1h</c>, <c>7d</c>) ending at the end of the current minute. Default: the last hour.
/// </summary>
public static class TimeRange
{
    public static readonly TimeSpan MaxSpan = TimeSpan.FromDays(400);

    public static bool TryParse(string? from, string? to, string? last, DateTimeOffset now, out DateTimeOffset start, out DateTimeOffset end, out string? error)
    {
        start = end = default;
        error = null;
        if (!string.IsNullOrEmpty(last) && (!string.IsNullOrEmpty(from) || !string.IsNullOrEmpty(to)))
        {
            error = "give either last or from/to, not both";
            return false;
        }

        if (!string.IsNullOrEmpty(from) || !string.IsNullOrEmpty(to))
        {
            if (!TryParseInstant(from, out start))
            {
                error = $"from '{from}' is not an RFC 3339 time or Unix seconds";
                return false;
            }

            end = now;
            if (!string.IsNullOrEmpty(to) && !TryParseInstant(to, out end))
            {
                error = $"to '{to}' is not an RFC 3339 time or Unix seconds";
                return false;
            }
        }
        else
        {
            var span = TimeSpan.FromHours(1);
            if (!string.IsNullOrEmpty(last) && !TryParseDuration(last, out span))
            {
                error = $"last '{last}' is not a positive duration: write {Visibility.Flows.Duration.Expected}";
                return false;
            }

            // A relative range ends at the end of the current minute and starts a whole number of minutes before:
            // the planner then reads rollups to the edges (nothing later than now exists yet).
            end = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
            end = end == now ? end : end.AddMinutes(1);
            start = end - span;
        }

        if (start >= end)
        {
            error = "from must be before to";
            return false;
        }

        if (end - start > MaxSpan)
        {
            error = $"the time range is longer than {MaxSpan.TotalDays} days";
            return false;
        }

        return true;
    }

    /// <summary>A positive duration in the one syntax of <see cref="Visibility.Flows.Duration"/> (<c>15m</c>, <c>1h</c>, <c>7d</c>).</summary>
    public static bool TryParseDuration(string text, out TimeSpan span) =>
        Visibility.Flows.Duration.TryParse(text, out span, out _) && span > TimeSpan.Zero;

    internal static bool TryParseInstant(string? text, out DateTimeOffset instant)
    {
        instant = default;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds < 100_000_000_000)
        {
            instant = DateTimeOffset.FromUnixTimeSeconds(seconds);
            return true;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out instant);
    }
}
