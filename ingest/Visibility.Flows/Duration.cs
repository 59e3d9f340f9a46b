using System.ComponentModel;
using System.Globalization;
using System.Text;

namespace Visibility.Flows;

/// <summary>
/// The one duration syntax of configuration, query parameters and the command line: a number and a unit, or a few
/// of them in a row — <c>100ms</c>, <c>30s</c>, <c>15m</c>, <c>1h</c>, <c>1h30m</c>, <c>7d</c>, <c>2w</c> (units
/// <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c>, <c>d</c>, <c>w</c>; decimals allowed: <c>1.5h</c>). .NET's own form
/// (<c>00:00:00.100</c>, <c>30.00:00:00</c>) is accepted too, so existing settings keep working, but the short
/// form is the documented one.
/// </summary>
public static class Duration
{
    /// <summary>What an error says a duration looks like.</summary>
    public const string Expected = "a number and a unit (ms, s, m, h, d, w), e.g. 100ms, 15m, 1h, 7d";

    private static int registered;

    /// <summary>Parses <paramref name="text"/> in either form; false (and <paramref name="error"/>) when it is neither.</summary>
    public static bool TryParse(string? text, out TimeSpan value, out string? error)
    {
        value = default;
        error = null;
        var s = (text ?? "").Trim();
        if (s.Length == 0)
        {
            error = $"an empty value is not a duration: write {Expected}";
            return false;
        }

        if (s.Contains(':', StringComparison.Ordinal))
        {
            if (TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value))
            {
                return true;
            }

            error = $"'{text}' is not a duration: write {Expected}";
            return false;
        }

        var ticks = 0.0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i]))
            {
                i++;
            }

            if (unitStart == start || !double.TryParse(s.AsSpan(start, unitStart - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                error = $"'{text}' is not a duration: write {Expected}";
                return false;
            }

            var unit = s[unitStart..i];
            if (unit.Length == 0)
            {
                error = $"'{text}' has no unit: write {Expected}";
                return false;
            }

            long? perUnit = unit switch
            {
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                "d" => TimeSpan.TicksPerDay,
                "w" => 7 * TimeSpan.TicksPerDay,
                _ => null,
            };
            if (perUnit is not { } factor)
            {
                error = $"'{text}' has an unknown unit '{unit}': write {Expected}";
                return false;
            }

            ticks += number * factor;
        }

        if (ticks >= TimeSpan.MaxValue.Ticks)
        {
            error = $"'{text}' is longer than any duration this program takes";
            return false;
        }

        value = TimeSpan.FromTicks((long)Math.Round(ticks));
        return true;
    }

    /// <summary>Parses <paramref name="text"/>; null when it is not a duration.</summary>
    public static TimeSpan? Parse(string? text) => TryParse(text, out var value, out _) ? value : null;

    /// <summary>The short form of <paramref name="value"/>: <c>100ms</c>, <c>15m</c>, <c>1h30m</c>, <c>7d</c>.</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        var text = new StringBuilder(value < TimeSpan.Zero ? "-" : "");
        var ticks = Math.Abs(value.Ticks);
        foreach (var (unit, size) in new[] { ("d", TimeSpan.TicksPerDay), ("h", TimeSpan.TicksPerHour), ("m", TimeSpan.TicksPerMinute), ("s", TimeSpan.TicksPerSecond), ("ms", TimeSpan.TicksPerMillisecond) })
        {
            if (ticks >= size)
            {
                text.Append((ticks / size).ToString(CultureInfo.InvariantCulture)).Append(unit);
                ticks %= size;
            }
        }

        return text.Length == 0 || (text.Length == 1 && text[0] == '-') ? $"{value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms" : text.ToString();
    }

    /// <summary>
    /// Makes configuration binding read <see cref="TimeSpan"/> settings in either form (it converts through the
    /// type's <see cref="TypeConverter"/>). Once per process; called by the services that bind options.
    /// </summary>
    public static void UseInConfiguration()
    {
        if (Interlocked.Exchange(ref registered, 1) == 0)
        {
            TypeDescriptor.AddAttributes(typeof(TimeSpan), new TypeConverterAttribute(typeof(DurationConverter)));
        }
    }
}

/// <summary><see cref="TimeSpan"/>'s converter for configuration: <see cref="Duration"/>'s syntax, with its error messages.</summary>
public sealed class DurationConverter : TimeSpanConverter
{
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text
            ? Duration.TryParse(text, out var span, out var error) ? span : throw new FormatException(error)
            : base.ConvertFrom(context, culture, value);
}
