using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;

namespace Visibility.Query.Export;

/// <summary>UTF-8 text written straight into the output: literals, numbers and escaped values.</summary>
/// <summary>Writes a value with a format's escaping (CEF's or LEEF's).</summary>
internal delegate void ValueWriter(IBufferWriter<byte> output, ReadOnlySpan<char> text);

internal static class ExportText
{
    private static readonly SearchValues<char> CefHeaderSpecial = SearchValues.Create("\\|\r\n");
    private static readonly SearchValues<char> CefValueSpecial = SearchValues.Create("\\=\r\n");
    private static readonly SearchValues<char> LeefValueSpecial = SearchValues.Create("\\\t\r\n");

    public static void Literal(IBufferWriter<byte> output, ReadOnlySpan<byte> utf8) => output.Write(utf8);

    public static void Text(IBufferWriter<byte> output, ReadOnlySpan<char> text)
    {
        if (!text.IsEmpty)
        {
            Encoding.UTF8.GetBytes(text, output);
        }
    }

    public static void Number(IBufferWriter<byte> output, long value)
    {
        var span = output.GetSpan(20);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        output.Advance(written);
    }

    public static void Byte(IBufferWriter<byte> output, byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }

    /// <summary>A CEF or LEEF header field: <c>\</c> and <c>|</c> escaped; line breaks become spaces (headers cannot hold them).</summary>
    public static void HeaderField(IBufferWriter<byte> output, ReadOnlySpan<char> text) =>
        Escaped(output, text, CefHeaderSpecial, static c => c switch
        {
            '\\' => "\\\\",
            '|' => "\\|",
            _ => " ",
        });

    /// <summary>A CEF extension value: <c>\</c> and <c>=</c> escaped, line breaks as <c>\n</c> and <c>\r</c>.</summary>
    public static void CefValue(IBufferWriter<byte> output, ReadOnlySpan<char> text) =>
        Escaped(output, text, CefValueSpecial, static c => c switch
        {
            '\\' => "\\\\",
            '=' => "\\=",
            '\n' => "\\n",
            _ => "\\r",
        });

    /// <summary>A LEEF attribute value with the tab delimiter: <c>\</c>, tab and line breaks escaped.</summary>
    public static void LeefValue(IBufferWriter<byte> output, ReadOnlySpan<char> text) =>
        Escaped(output, text, LeefValueSpecial, static c => c switch
        {
            '\\' => "\\\\",
            '\t' => "\\t",
            '\n' => "\\n",
            _ => "\\r",
        });

    private static void Escaped(IBufferWriter<byte> output, ReadOnlySpan<char> text, SearchValues<char> special, Func<char, string> escape)
    {
        while (!text.IsEmpty)
        {
            var next = text.IndexOfAny(special);
            if (next < 0)
            {
                Text(output, text);
                return;
            }

            Text(output, text[..next]);
            Text(output, escape(text[next]));
            text = text[(next + 1)..];
        }
    }

    /// <summary>Splits a service (<c>tcp/5432</c>) into protocol and port; the port is -1 when absent or not a number.</summary>
    public static (string Protocol, int Port) Service(string service)
    {
        var slash = service.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return (service, -1);
        }

        var port = int.TryParse(service.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : -1;
        return (service[..slash], port);
    }

    /// <summary>
    /// Whether a name is an IP address in canonical form (peers without a workload are named by their address).
    /// The comparison with the formatted address keeps names such as <c>1</c> or <c>10.1</c>, which
    /// <see cref="IPAddress.TryParse(string?, out IPAddress?)"/> accepts, out of the address fields.
    /// </summary>
    public static bool IsAddress(string name) =>
        name.Length is > 0 and <= 45 && IPAddress.TryParse(name, out var address) && address.ToString() == name;

    /// <summary>
    /// A severity on a 0-10 scale (CEF, LEEF): low 3, medium 5, high 8, critical 10; anything else, including no
    /// severity, 0.
    /// </summary>
    public static int Severity10(string? severity) => severity switch
    {
        "low" => 3,
        "medium" => 5,
        "high" => 8,
        "critical" => 10,
        _ => 0,
    };

    /// <summary>OCSF <c>severity_id</c>: 2 low, 3 medium, 4 high, 5 critical; 1 (informational) without a severity, 0 for unknown names.</summary>
    public static int OcsfSeverity(string? severity) => severity switch
    {
        null or "" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    };

    public static string OcsfSeverityName(int id) => id switch
    {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        _ => "Unknown",
    };

    /// <summary><c>{separator}key=value</c>, left out when the value is empty (CEF and LEEF cannot tell empty from missing).</summary>
    public static void Attribute(IBufferWriter<byte> output, byte separator, ValueWriter escape, string key, string value)
    {
        if (value.Length == 0)
        {
            return;
        }

        Byte(output, separator);
        Text(output, key);
        Byte(output, (byte)'=');
        escape(output, value);
    }

    /// <summary>A list as one value, its items comma-separated; left out when that text would be empty.</summary>
    public static void Attribute(IBufferWriter<byte> output, byte separator, ValueWriter escape, string key, IReadOnlyList<string> values)
    {
        if (values.Count == 0 || (values.Count == 1 && values[0].Length == 0))
        {
            return;
        }

        Byte(output, separator);
        Text(output, key);
        Byte(output, (byte)'=');
        for (var i = 0; i < values.Count; i++)
        {
            if (i > 0)
            {
                Byte(output, (byte)',');
            }

            escape(output, values[i]);
        }
    }

    public static void Attribute(IBufferWriter<byte> output, byte separator, string key, long value)
    {
        Byte(output, separator);
        Text(output, key);
        Byte(output, (byte)'=');
        Number(output, value);
    }

    /// <summary><c>Vendor|Product|Version|</c>, the header fields CEF and LEEF share after their version prefix.</summary>
    public static void IdentityFields(IBufferWriter<byte> output, ExportIdentity identity)
    {
        HeaderField(output, identity.Vendor);
        Byte(output, (byte)'|');
        HeaderField(output, identity.Product);
        Byte(output, (byte)'|');
        HeaderField(output, identity.Version);
        Byte(output, (byte)'|');
    }
}
