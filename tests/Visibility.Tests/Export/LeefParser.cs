using System.Text;

namespace Visibility.Tests.Export;

/// <summary>
/// A LEEF 2.0 reader written from the QRadar specification, independent of the writer: six header fields
/// (<c>LEEF:2.0</c>, vendor, product, version, event id, delimiter) split on unescaped <c>|</c>, the delimiter
/// given as a character or <c>xHH</c>, then attributes split on the delimiter, each at its first <c>=</c>.
/// </summary>
public static class LeefParser
{
    public static (List<string> Header, Dictionary<string, string> Attributes) Parse(string line)
    {
        Assert.StartsWith("LEEF:2.0|", line, StringComparison.Ordinal);
        var header = new List<string>();
        var field = new StringBuilder();
        var i = 0;
        while (header.Count < 6)
        {
            Assert.True(i < line.Length, $"LEEF header ends early: {line}");
            var c = line[i++];
            if (c == '\\')
            {
                Assert.True(i < line.Length, "LEEF header ends in an escape");
                var escaped = line[i++];
                Assert.True(escaped is '\\' or '|', $"LEEF header escape \\{escaped} is unexpected");
                field.Append(escaped);
            }
            else if (c == '|')
            {
                header.Add(field.ToString());
                field.Clear();
            }
            else
            {
                Assert.True(c is not '\n' and not '\r', "LEEF header holds a line break");
                field.Append(c);
            }
        }

        var delimiterField = header[5];
        var delimiter = delimiterField.Length == 1
            ? delimiterField[0]
            : (char)Convert.ToInt32(delimiterField.TrimStart('x', 'X', '0').PadLeft(1, '0'), 16);
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var attribute in line[i..].Split(delimiter))
        {
            var equals = attribute.IndexOf('=', StringComparison.Ordinal);
            Assert.True(equals > 0, $"LEEF attribute without a key: {attribute}");
            var key = attribute[..equals];
            Assert.True(attributes.TryAdd(key, Unescape(attribute[(equals + 1)..])), $"LEEF key {key} appears twice");
        }

        return (header, attributes);
    }

    private static string Unescape(string value)
    {
        var text = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            Assert.True(c is not '\n' and not '\r', "LEEF value holds a raw line break");
            if (c != '\\')
            {
                text.Append(c);
                continue;
            }

            Assert.True(++i < value.Length, "LEEF value ends in an escape");
            text.Append(value[i] switch
            {
                '\\' => '\\',
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                var other => throw new InvalidOperationException($"LEEF value escape \\{other} is unexpected"),
            });
        }

        return text.ToString();
    }
}
