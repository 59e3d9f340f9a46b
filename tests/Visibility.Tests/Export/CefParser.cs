using System.Text;

namespace Visibility.Tests.Export;

/// <summary>
/// A CEF reader written from the ArcSight specification, independent of the writer: seven header fields split on
/// unescaped <c>|</c>, then extension pairs found by their unescaped <c>=</c> (a key is the word before it, a value
/// runs up to the space before the next key).
/// </summary>
public static class CefParser
{
    public static (List<string> Header, Dictionary<string, string> Extension) Parse(string line)
    {
        Assert.StartsWith("CEF:", line, StringComparison.Ordinal);
        var header = new List<string>();
        var field = new StringBuilder();
        var i = 0;
        while (header.Count < 7)
        {
            Assert.True(i < line.Length, $"CEF header ends early: {line}");
            var c = line[i++];
            if (c == '\\')
            {
                Assert.True(i < line.Length, "CEF header ends in an escape");
                var escaped = line[i++];
                Assert.True(escaped is '\\' or '|', $"CEF header escape \\{escaped} is not in the specification");
                field.Append(escaped);
            }
            else if (c == '|')
            {
                header.Add(field.ToString());
                field.Clear();
            }
            else
            {
                Assert.True(c is not '\n' and not '\r', "CEF header holds a line break");
                field.Append(c);
            }
        }

        return (header, ParseExtension(line[i..]));
    }

    public static Dictionary<string, string> ParseExtension(string extension)
    {
        // The positions of the unescaped '=': each ends a key.
        var equals = new List<int>();
        for (var i = 0; i < extension.Length; i++)
        {
            if (extension[i] == '\\')
            {
                i++;
            }
            else if (extension[i] == '=')
            {
                equals.Add(i);
            }
        }

        var keyStarts = equals.Select(e => extension.LastIndexOf(' ', e) + 1).ToList();
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var k = 0; k < equals.Count; k++)
        {
            var key = extension[keyStarts[k]..equals[k]];
            Assert.Matches("^[A-Za-z0-9_]+$", key);
            var valueEnd = k + 1 < equals.Count ? keyStarts[k + 1] - 1 : extension.Length;
            Assert.True(valueEnd >= equals[k] + 1, $"CEF key {key} has no value before the next key");
            Assert.True(pairs.TryAdd(key, Unescape(extension[(equals[k] + 1)..valueEnd])), $"CEF key {key} appears twice");
        }

        Assert.True(equals.Count == 0 || keyStarts[0] == 0, "CEF extension starts with text that is no key");
        return pairs;
    }

    private static string Unescape(string value)
    {
        var text = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            Assert.True(c is not '\n' and not '\r', "CEF value holds a raw line break");
            if (c != '\\')
            {
                text.Append(c);
                continue;
            }

            Assert.True(++i < value.Length, "CEF value ends in an escape");
            text.Append(value[i] switch
            {
                '\\' => '\\',
                '=' => '=',
                'n' => '\n',
                'r' => '\r',
                var other => throw new InvalidOperationException($"CEF value escape \\{other} is not in the specification"),
            });
        }

        return text.ToString();
    }
}
