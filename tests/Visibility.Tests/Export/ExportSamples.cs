using System.Buffers;
using System.Text;
using Visibility.Query.Export;
using Visibility.Query.Findings;
using Visibility.Query.Graph;

namespace Visibility.Tests.Export;

/// <summary>Records to export: ordinary ones, hostile ones (every character a format must escape) and seeded random ones.</summary>
public static class ExportSamples
{
    public static readonly DateTimeOffset Time = new(2026, 3, 14, 9, 26, 53, 589, TimeSpan.Zero);

    /// <summary>Every value a format has to escape or carry through: delimiters, escapes, line breaks, quotes, non-ASCII.</summary>
    public const string Hostile = "a|b\\c=d\ne\rf\tg \"q\" 'x' ünï 漢字 😀 \\=\\|";

    public static FindingEvent OrdinaryFinding() => new(
        "f-0001",
        Time,
        new Finding(
            "cross_env",
            "high",
            new FindingEnd("dev-api", "workload", Labels(("app", "api"), ("env", "dev"), ("role", "backend"))),
            new FindingEnd("prod-db", "workload", Labels(("app", "db"), ("env", "prod"))),
            "tcp/5432",
            12,
            48_213,
            Time.AddMinutes(-42),
            Time.AddSeconds(-3)));

    /// <summary>A policy violation: computed at query time (issue 20), exported like the stored kinds.</summary>
    public static FindingEvent PolicyViolationFinding() => new(
        "f-0003",
        Time,
        new Finding(
            "policy_violation",
            "high",
            new FindingEnd("prod-api-1", "vm", Labels(("app", "api"), ("env", "prod"), ("role", "backend"))),
            new FindingEnd("prod-db-1", "vm", Labels(("app", "db"), ("env", "prod"), ("role", "database"))),
            "tcp/6432",
            3,
            1_532,
            Time.AddMinutes(-7),
            Time.AddSeconds(-12)));

    /// <summary>
    /// Blocked attempts (issue 20): an internet source refused 37 times on 12 ports of 3 destinations, the first with
    /// its destination and service named; and one refused 10 times on one destination and service, with hostile
    /// values in the target and the policies.
    /// </summary>
    public static FindingEvent BlockedAttemptsFinding() => new(
        "f-0004",
        Time,
        new Finding(
            "blocked_attempts",
            "high",
            new FindingEnd("", "internet", Labels()),
            new FindingEnd("", "", Labels()),
            "",
            0,
            0,
            Time.AddMinutes(-3),
            Time.AddSeconds(-20))
        {
            BlockedAttempts = new BlockedAttemptsDetail(
                37,
                3,
                12,
                Time.AddMinutes(-5),
                [
                    new BlockedTarget(new FindingEnd("prod-db-1", "vm", Labels(("app", "db"), ("env", "prod"))), "tcp/5432", 9),
                    new BlockedTarget(new FindingEnd("prod-api-1", "vm", Labels(("app", "api"), ("env", "prod"))), "tcp/22", 4),
                    new BlockedTarget(new FindingEnd("", "unknown", Labels()), "udp/53", 1),
                ],
                ["edge/deny-inbound", "prod/default-deny"]),
        });

    /// <inheritdoc cref="BlockedAttemptsFinding"/>
    public static FindingEvent HostileBlockedAttemptsFinding() => new(
        "f-0005",
        Time,
        new Finding(
            "blocked_attempts",
            "medium",
            new FindingEnd("dev-api", "host", Labels(("app", "api"), ("env", "dev"))),
            new FindingEnd(Hostile, "pod", Labels(("app", Hostile), ("env", "prod"))),
            "tcp/6432",
            0,
            0,
            Time.AddMinutes(-1),
            Time)
        {
            BlockedAttempts = new BlockedAttemptsDetail(
                10, 1, 1, Time.AddMinutes(-2),
                [new BlockedTarget(new FindingEnd(Hostile, "pod", Labels(("app", Hostile), ("env", "prod"))), "tcp/6432", 10)],
                [Hostile, "a,b"]),
        });

    public static FindingEvent HostileFinding() => new(
        "f=|\\0002\n",
        Time,
        new Finding(
            "unknown|source\\x",
            "critical",
            new FindingEnd(Hostile, "unknown", Labels(("app", Hostile), ("env", ""), ("we ird=key", "v\tw"))),
            new FindingEnd("10.10.3.10", "internet", Labels()),
            "udp/53",
            1,
            0,
            Time.AddMilliseconds(-1),
            Time));

    public static FlowSummary OrdinarySummary() => new(
        "s-2026-03-14T09:00-api-db",
        Time.AddMinutes(-26).AddSeconds(-53).AddMilliseconds(-589),
        Time.AddMinutes(33).AddSeconds(7).AddMilliseconds(-589),
        ["app", "env"],
        new GraphNode("app=api,env=dev", "workload", Labels(("app", "api"), ("env", "dev"))),
        new GraphNode("app=db,env=prod", "workload", Labels(("app", "db"), ("env", "prod"))),
        1_204,
        9_876_543_210,
        7_654_321,
        ["tcp/5432"],
        ["cross_env"],
        "high");

    public static FlowSummary HostileSummary() => new(
        Hostile,
        Time.AddHours(-1),
        Time,
        ["app", "we ird=key"],
        new GraphNode(Hostile, "workload", Labels(("app", Hostile), ("we ird=key", "x"), ("env", ""))),
        new GraphNode("2001:db8::7", "internet", Labels(("kind", "internet"))),
        0,
        0,
        0,
        ["tcp/443", "udp/53", "icmp/0"],
        [],
        null);

    /// <summary>Names the formats put in address fields: IP addresses as their canonical text.</summary>
    public static bool IsCanonicalAddress(string name) =>
        System.Net.IPAddress.TryParse(name, out var address) && address.ToString() == name;

    public static IReadOnlyDictionary<string, string> Labels(params (string Key, string Value)[] pairs)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in pairs)
        {
            labels[key] = value;
        }

        return labels;
    }

    public static string Render(IExportFormat format, FindingEvent record)
    {
        var output = new ArrayBufferWriter<byte>();
        format.Write(output, record);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    public static string Render(IExportFormat format, FlowSummary record)
    {
        var output = new ArrayBufferWriter<byte>();
        format.Write(output, record);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static readonly string[] Pieces =
    [
        "a", "Z", "0", "9", " ", "|", "\\", "=", "\n", "\r", "\t", "\"", "'", "{", "}", ",", ":", ";", "/", "ü", "漢", "😀", "\u00a0",
        "\u0001", "\\n", "\\=", "x=y", "10.0.0.1",
    ];

    private static readonly string[] Severities = ["low", "medium", "high", "critical"];

    /// <summary>A random string from the pieces above, sometimes empty.</summary>
    public static string RandomText(Random random, bool allowEmpty = true)
    {
        var length = random.Next(allowEmpty ? 0 : 1, 12);
        var text = new StringBuilder();
        for (var i = 0; i < length; i++)
        {
            text.Append(Pieces[random.Next(Pieces.Length)]);
        }

        return text.ToString();
    }

    /// <summary>A random header-safe word: what CEF and LEEF headers can carry losslessly (no line breaks).</summary>
    public static string RandomHeaderText(Random random) => RandomText(random, allowEmpty: false).Replace('\n', '_').Replace('\r', '_');

    // Label keys stay plain words: LEEF rewrites other characters in keys, which the hostile samples show.
    public static IReadOnlyDictionary<string, string> RandomLabels(Random random)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        string[] keys = ["app", "env", "role", "loc", "team"];
        foreach (var key in keys)
        {
            if (random.Next(4) > 0)
            {
                labels[key] = RandomText(random);
            }
        }

        return labels;
    }

    public static string RandomService(Random random) =>
        random.Next(5) == 0 ? RandomText(random, allowEmpty: false).Replace("/", "", StringComparison.Ordinal) : $"{(random.Next(2) == 0 ? "tcp" : "udp")}/{random.Next(0, 65536)}";

    public static FindingEvent RandomFinding(Random random)
    {
        var first = Time.AddMilliseconds(-random.Next(0, 100_000_000));
        return new FindingEvent(
            RandomText(random, allowEmpty: false),
            Time.AddMilliseconds(random.Next(0, 1000)),
            new Finding(
                RandomHeaderText(random),
                Severities[random.Next(Severities.Length)],
                new FindingEnd(RandomText(random), RandomText(random), RandomLabels(random)),
                new FindingEnd(random.Next(4) == 0 ? "192.168.7.9" : RandomText(random), RandomText(random), RandomLabels(random)),
                RandomService(random),
                random.NextInt64(0, long.MaxValue),
                random.NextInt64(0, long.MaxValue),
                first,
                first.AddMilliseconds(random.Next(0, 1000))));
    }

    public static FlowSummary RandomSummary(Random random)
    {
        var ports = Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomService(random)).ToList();
        var findings = Enumerable.Range(0, random.Next(0, 3)).Select(_ => RandomText(random, allowEmpty: false)).ToList();
        return new FlowSummary(
            RandomText(random, allowEmpty: false),
            Time,
            Time.AddMinutes(random.Next(1, 600)),
            ["app", "env"],
            new GraphNode(RandomText(random, allowEmpty: false), RandomText(random), RandomLabels(random)),
            new GraphNode(random.Next(4) == 0 ? "fd00::1" : RandomText(random, allowEmpty: false), RandomText(random), RandomLabels(random)),
            random.NextInt64(0, long.MaxValue),
            random.NextInt64(0, long.MaxValue),
            random.NextInt64(0, long.MaxValue),
            ports,
            findings,
            random.Next(5) == 0 ? null : Severities[random.Next(Severities.Length)]);
    }
}
