using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Visibility.Flows;
using Visibility.Flows.Findings;
using Visibility.Query.Export.Syslog;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Security;

namespace Visibility.Query.Export.Streams;

/// <summary>What a sink streams: findings as they happen, or flow summaries per interval.</summary>
public enum ExportContent
{
    Findings,
    Summaries,
}

/// <summary>
/// A sink as configured (<c>Visibility:Export:Sinks:&lt;name&gt;:*</c>) or posted to <c>/api/v1/export/sinks</c>:
/// where records go (<see cref="Type"/> and its settings), what goes (<see cref="Content"/>, <see cref="Filter"/>,
/// <see cref="MinSeverity"/>, <see cref="GroupBy"/>), in which <see cref="Format"/>, and the stream's timing.
/// Durations are <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>1d</c> or <c>hh:mm:ss</c>. <see cref="Validate"/> names every
/// problem; <see cref="ToStream"/> gives the checked settings.
/// </summary>
public sealed partial class ExportSinkDefinition
{
    /// <summary><c>syslog</c>, <c>file</c> or <c>kafka</c>.</summary>
    [JsonPropertyName("type")]
    public string Type { get; set; } = "syslog";

    [JsonPropertyName("enabled")]
    public bool Enabled { get; set; } = true;

    /// <summary><c>findings</c> (as they happen) or <c>summaries</c> (flow summaries per interval).</summary>
    [JsonPropertyName("content")]
    public string Content { get; set; } = "findings";

    /// <summary><c>cef</c>, <c>leef</c>, <c>ocsf</c> or <c>json</c>.</summary>
    [JsonPropertyName("format")]
    public string Format { get; set; } = "cef";

    /// <summary>The filter language, as in the API (empty: everything).</summary>
    [JsonPropertyName("filter")]
    public string Filter { get; set; } = "";

    /// <summary>
    /// The access scope the sink is limited to (label selectors, as an API key's scope): only records touching it
    /// are exported. A sink created by a scoped principal gets that principal's scope, whatever the body says.
    /// </summary>
    [JsonPropertyName("scope")]
    public string Scope { get; set; } = "";

    /// <summary>Findings: the lowest severity sent (<c>low</c> … <c>critical</c>).</summary>
    [JsonPropertyName("minSeverity")]
    public string MinSeverity { get; set; } = "low";

    /// <summary>Summaries: the grouping, label keys as in the graph API.</summary>
    [JsonPropertyName("groupBy")]
    public string GroupBy { get; set; } = "app,env";

    /// <summary>Summaries: the summary interval. Findings: how often new findings are looked for.</summary>
    [JsonPropertyName("interval")]
    public string? Interval { get; set; }

    /// <summary>How long after an interval ends it is read, so records still on their way are in (late records beyond it are not exported).</summary>
    [JsonPropertyName("delay")]
    public string Delay { get; set; } = "1m";

    /// <summary>Findings: a finding (kind, ends, service) seen again within this long is not sent again.</summary>
    [JsonPropertyName("repeatAfter")]
    public string RepeatAfter { get; set; } = "1d";

    /// <summary>Where a new sink starts (RFC 3339); default: now. A sink with a checkpoint resumes from it.</summary>
    [JsonPropertyName("startAt")]
    public DateTimeOffset? StartAt { get; set; }

    /// <summary>syslog: <c>tcp</c>, <c>tls</c> or <c>udp</c>.</summary>
    [JsonPropertyName("protocol")]
    public string Protocol { get; set; } = "tcp";

    [JsonPropertyName("host")]
    public string Host { get; set; } = "";

    /// <summary>syslog: default 514 (tcp, udp) or 6514 (tls).</summary>
    [JsonPropertyName("port")]
    public int? Port { get; set; }

    /// <summary>syslog over TLS: a PEM file with the CA to trust instead of the system's, inside the operator's CA folder (<see cref="Sinks.ExportDestinations"/>).</summary>
    [JsonPropertyName("caFile")]
    public string? CaFile { get; set; }

    /// <summary>syslog over TLS: the name the receiver's certificate carries (default: the host).</summary>
    [JsonPropertyName("serverName")]
    public string? ServerName { get; set; }

    /// <summary>syslog: facility 0–23 (default 16, local0).</summary>
    [JsonPropertyName("facility")]
    public int Facility { get; set; } = 16;

    /// <summary>syslog: APP-NAME.</summary>
    [JsonPropertyName("appName")]
    public string AppName { get; set; } = "visibility";

    /// <summary>file: the file written (rotated to <c>.1</c>, <c>.2</c> …), relative to the export directory (<see cref="Sinks.ExportDestinations"/>).</summary>
    [JsonPropertyName("path")]
    public string Path { get; set; } = "";

    [JsonPropertyName("maxBytes")]
    public long MaxBytes { get; set; } = 100L * 1024 * 1024;

    [JsonPropertyName("maxFiles")]
    public int MaxFiles { get; set; } = 5;

    /// <summary>kafka: the topic written.</summary>
    [JsonPropertyName("topic")]
    public string Topic { get; set; } = "";

    /// <summary>kafka: brokers (default: the ones ingest reads from, with their TLS/SASL settings).</summary>
    [JsonPropertyName("bootstrapServers")]
    public string BootstrapServers { get; set; } = "";

    public static readonly string[] Types = ["syslog", "file", "kafka"];

    public static readonly string[] Formats = ["cef", "leef", "ocsf", "json"];

    /// <summary>Sink names: letters, digits, '-', '_' (they appear in URLs, metrics and checkpoints).</summary>
    public static bool IsName(string? name) => name is not null && NamePattern().IsMatch(name);

    /// <summary>
    /// Every problem of the definition itself, each naming its field; empty when it is well formed. Whether its
    /// destination is allowed is <see cref="Sinks.ExportDestinations.Check"/>'s to say.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        switch (Type)
        {
            case "syslog":
                if (Protocol is not ("tcp" or "tls" or "udp"))
                {
                    problems.Add($"protocol '{Protocol}' is not one of tcp, tls, udp");
                }

                if (string.IsNullOrWhiteSpace(Host))
                {
                    problems.Add("host is required for a syslog sink");
                }

                if (Port is < 1 or > 65535)
                {
                    problems.Add($"port {Port} is not between 1 and 65535");
                }

                if (Facility is < 0 or > 23)
                {
                    problems.Add($"facility {Facility} is not between 0 and 23");
                }

                break;
            case "file":
                if (string.IsNullOrWhiteSpace(Path))
                {
                    problems.Add("path is required for a file sink");
                }

                if (MaxBytes < 4096)
                {
                    problems.Add("maxBytes must be at least 4096");
                }

                if (MaxFiles is < 1 or > 1000)
                {
                    problems.Add("maxFiles must be between 1 and 1000");
                }

                break;
            case "kafka":
                if (!TopicPattern().IsMatch(Topic))
                {
                    problems.Add($"topic '{Topic}' is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)");
                }

                break;
            default:
                problems.Add($"type '{Type}' is not one of {string.Join(", ", Types)}");
                break;
        }

        problems.AddRange(ValidateStream());
        return problems;
    }

    /// <summary>The problems of what is streamed and how (content, format, filter, timing), without the destination.</summary>
    public IReadOnlyList<string> ValidateStream()
    {
        var problems = new List<string>();
        if (!Formats.Contains(Format, StringComparer.Ordinal))
        {
            problems.Add($"format '{Format}' is not one of {string.Join(", ", Formats)}");
        }

        if (Content is not ("findings" or "summaries"))
        {
            problems.Add($"content '{Content}' is not one of findings, summaries");
        }

        if (!FilterClause.TryCreate(Filter, out _, out var filterError))
        {
            problems.Add(filterError!);
        }

        if (!AccessScope.TryParse(Scope, out _, out var scopeError))
        {
            problems.Add($"scope: {scopeError}");
        }

        if (FindingRules.Rank(MinSeverity) < 0)
        {
            problems.Add($"minSeverity '{MinSeverity}' is not one of {string.Join(", ", FindingRules.Levels)}");
        }

        if (!GroupKey.TryParseList(GroupBy, out _, out var groupError))
        {
            problems.Add(groupError!);
        }

        CheckDuration(problems, "interval", Interval ?? DefaultInterval, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1));
        CheckDuration(problems, "delay", Delay, TimeSpan.Zero, TimeSpan.FromDays(1));
        CheckDuration(problems, "repeatAfter", RepeatAfter, TimeSpan.Zero, TimeSpan.FromDays(30));
        return problems;
    }

    private string DefaultInterval => Content == "summaries" ? "5m" : "10s";

    /// <summary>The checked stream settings (the destination is checked by <see cref="Validate"/>); throws <see cref="ArgumentException"/> naming the problems when invalid.</summary>
    public ExportStreamSettings ToStream(string name)
    {
        if (!IsName(name))
        {
            throw new ArgumentException($"sink name '{name}' must be 1–64 letters, digits, '-' or '_'");
        }

        var problems = ValidateStream();
        if (problems.Count > 0)
        {
            throw new ArgumentException($"sink '{name}': {string.Join("; ", problems)}");
        }

        if (!FilterClause.TryCreate(Filter, out var filter, out var filterError) || !GroupKey.TryParseList(GroupBy, out var keys, out var groupError)
            || !AccessScope.TryParse(Scope, out var scope, out _))
        {
            throw new InvalidOperationException("a validated definition no longer parses");
        }

        filter = scope.Restrict(filter);

        return new ExportStreamSettings(
            name,
            Content == "summaries" ? ExportContent.Summaries : ExportContent.Findings,
            Format,
            filter,
            MinSeverity,
            keys,
            ParseDuration(Interval ?? DefaultInterval)!.Value,
            ParseDuration(Delay)!.Value,
            ParseDuration(RepeatAfter)!.Value,
            StartAt);
    }

    /// <summary>The syslog target this definition names (only for <c>type = syslog</c>).</summary>
    public SyslogTarget ToSyslogTarget() => new(
        Host,
        Port ?? (Protocol == "tls" ? 6514 : 514),
        Protocol switch { "tls" => SyslogProtocol.Tls, "udp" => SyslogProtocol.Udp, _ => SyslogProtocol.Tcp })
    {
        CaFile = string.IsNullOrEmpty(CaFile) ? null : CaFile,
        ServerName = string.IsNullOrEmpty(ServerName) ? null : ServerName,
    };

    /// <summary>A duration in the one syntax of <see cref="Duration"/> (<c>250ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>1d</c>); null when it is not one.</summary>
    public static TimeSpan? ParseDuration(string? text) => string.IsNullOrWhiteSpace(text) ? null : Duration.Parse(text);

    private static void CheckDuration(List<string> problems, string field, string? text, TimeSpan min, TimeSpan max)
    {
        if (ParseDuration(text) is not { } value)
        {
            problems.Add($"{field} '{text}' is not a duration: write {Duration.Expected}");
        }
        else if (value < min || value > max)
        {
            problems.Add($"{field} {text} is not between {Duration.Format(min)} and {Duration.Format(max)}");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,249}$")]
    private static partial Regex TopicPattern();
}

/// <summary>A sink's stream, checked: what it reads, how it is written, and its timing.</summary>
public sealed record ExportStreamSettings(
    string Name,
    ExportContent Content,
    string Format,
    FilterClause Filter,
    string MinSeverity,
    IReadOnlyList<GroupKey> GroupBy,
    TimeSpan Interval,
    TimeSpan Delay,
    TimeSpan RepeatAfter,
    DateTimeOffset? StartAt);
