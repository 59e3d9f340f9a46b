using Visibility.Query.Export.Streams;
using Visibility.Query.Export.Syslog;

namespace Visibility.Tests.Export;

public sealed class ExportSinkDefinitionTests
{
    [Fact]
    public void Defaults_NeedOnlyTheDestination()
    {
        Assert.Equal(["host is required for a syslog sink"], new ExportSinkDefinition().Validate());
        Assert.Empty(new ExportSinkDefinition { Host = "siem.example" }.Validate());
        Assert.Empty(new ExportSinkDefinition { Type = "file", Path = "/var/log/visibility/findings.jsonl", Format = "json" }.Validate());
        Assert.Empty(new ExportSinkDefinition { Type = "kafka", Topic = "siem.findings" }.Validate());
    }

    [Fact]
    public void EveryProblem_IsNamed()
    {
        var problems = new ExportSinkDefinition
        {
            Type = "syslog", Protocol = "smtp", Port = 70000, Facility = 30, CaFile = "/nonexistent/ca.pem",
            Content = "flows", Format = "xml", Filter = "src.env = ", MinSeverity = "urgent", GroupBy = "",
            Interval = "0s", Delay = "soon", RepeatAfter = "90d",
        }.Validate();
        Assert.Contains("protocol 'smtp' is not one of tcp, tls, udp", problems);
        Assert.Contains("host is required for a syslog sink", problems);
        Assert.Contains("port 70000 is not between 1 and 65535", problems);
        Assert.Contains("facility 30 is not between 0 and 23", problems);
        Assert.DoesNotContain(problems, p => p.Contains("caFile", StringComparison.Ordinal));
        Assert.Contains("content 'flows' is not one of findings, summaries", problems);
        Assert.Contains("format 'xml' is not one of cef, leef, ocsf, json", problems);
        Assert.Contains(problems, p => p.StartsWith("filter: position ", StringComparison.Ordinal));
        Assert.Contains("minSeverity 'urgent' is not one of low, medium, high, critical", problems);
        Assert.Contains("groupBy needs at least one label key, e.g. groupBy=app,env", problems);
        Assert.Contains(problems, p => p.StartsWith("interval 0s is not between", StringComparison.Ordinal));
        Assert.Contains("delay 'soon' is not a duration: write a number and a unit (ms, s, m, h, d, w), e.g. 100ms, 15m, 1h, 7d", problems);
        Assert.Contains(problems, p => p.StartsWith("repeatAfter 90d is not between", StringComparison.Ordinal));
        Assert.Equal(12, problems.Count);

        Assert.Equal(["type 'mail' is not one of syslog, file, kafka"], new ExportSinkDefinition { Type = "mail" }.Validate());
        Assert.Contains("topic 'a b' is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)", new ExportSinkDefinition { Type = "kafka", Topic = "a b" }.Validate());
        Assert.Contains("maxBytes must be at least 4096", new ExportSinkDefinition { Type = "file", Path = "x", MaxBytes = 10 }.Validate());
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("30s", 30_000)]
    [InlineData("1.5m", 90_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("2d", 172_800_000)]
    [InlineData("00:05:00", 300_000)]
    [InlineData("5w", 3_024_000_000)]
    [InlineData("1h30m", 5_400_000)]
    public void Durations_Parse(string text, long milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), ExportSinkDefinition.ParseDuration(text));

    [Theory]
    [InlineData("")]
    [InlineData("5 minutes")]
    [InlineData("-5m")]
    [InlineData("5y")]
    public void Durations_Invalid_AreNull(string text) => Assert.Null(ExportSinkDefinition.ParseDuration(text));

    [Fact]
    public void ToStream_GivesTheCheckedSettings_AndTheSyslogTarget()
    {
        var definition = new ExportSinkDefinition
        {
            Host = "siem.example", Protocol = "tls", Content = "summaries", GroupBy = "role,env", Filter = "dst.env = prod",
            Interval = "15m", Delay = "2m",
        };
        var stream = definition.ToStream("soc-1");
        Assert.Equal(ExportContent.Summaries, stream.Content);
        Assert.Equal(["role", "env"], stream.GroupBy.Select(k => k.Name));
        Assert.Equal("dst.env = prod", stream.Filter.Text);
        Assert.Equal((TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(2), TimeSpan.FromDays(1)), (stream.Interval, stream.Delay, stream.RepeatAfter));
        Assert.Equal(new SyslogTarget("siem.example", 6514, SyslogProtocol.Tls), definition.ToSyslogTarget());
        Assert.Equal(TimeSpan.FromSeconds(10), new ExportSinkDefinition().ToStream("f").Interval);
        Assert.Throws<ArgumentException>(() => definition.ToStream("no spaces"));
        Assert.Throws<ArgumentException>(() => new ExportSinkDefinition { Format = "xml" }.ToStream("x"));
    }
}
