using System.Globalization;
using System.Text.RegularExpressions;

namespace Visibility.EndToEnd.Tests;

/// <summary>A finding as a syslog receiver got it: an RFC 5424 line from <c>visibility</c> carrying a CEF record.</summary>
public sealed partial record CefSyslogFinding(string Host, string EventId, string Kind, string Service, long Sequence)
{
    public static CefSyslogFinding Parse(string line)
    {
        var match = SyslogLine().Match(line);
        Assert.True(match.Success, line);
        var body = match.Groups["body"].Value;
        string Field(string key) => Regex.Match(body, $" {key}=(\\S+)").Groups[1].Value;
        return new CefSyslogFinding(match.Groups["host"].Value, Field("externalId"), body.Split('|')[4], Field("cs6"),
            long.Parse(match.Groups["seq"].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex("^<\\d+>1 \\S+ (?<host>\\S+) visibility - finding \\[meta sequenceId=\"(?<seq>\\d+)\"\\] (?<body>CEF:0\\|.*)$")]
    private static partial Regex SyslogLine();
}
