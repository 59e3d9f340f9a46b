using Visibility.Query.Export;
using Visibility.Query.Findings;

namespace Visibility.Benchmarks.Support;

/// <summary>
/// Finding events for the export benchmark, built like the tests' <c>ExportSamples</c>: two labelled ends, a service,
/// counters and a time range, varied by a seeded random source. About one in ten carries values every format must
/// escape (delimiters, quotes, line breaks, non-ASCII). Deterministic for a given count.
/// </summary>
public static class BenchFindings
{
    private static readonly string[] Kinds = ["cross_env", "unknown_source", "internet_inbound", "new_edge"];
    private static readonly string[] Severities = ["low", "medium", "high", "critical"];
    private static readonly string[] Apps = ["payments", "checkout", "search", "ledger", "auth", "api", "db", "cache", "queue", "web"];
    private static readonly string[] Environments = ["prod", "staging", "dev", "test"];
    private static readonly string[] Roles = ["frontend", "backend", "database", "worker"];
    private static readonly string[] Hostile = ["pay|ments\\x=y", "line\nbreak\r\tend", "\"quoted\" 'too'", "ünï 漢字 😀", "a=b|c\\d"];

    public static FindingEvent[] Create(int count, int seed = 42)
    {
        var random = new Random(seed);
        var time = new DateTimeOffset(2026, 11, 27, 6, 0, 0, TimeSpan.Zero);
        var events = new FindingEvent[count];
        for (var i = 0; i < count; i++)
        {
            var hostile = random.Next(10) == 0;
            var source = End(random, hostile, $"10.{random.Next(1, 40)}.{random.Next(256)}.{random.Next(1, 255)}");
            var destination = random.Next(5) == 0
                ? new FindingEnd($"203.0.113.{random.Next(1, 255)}", "internet", new Dictionary<string, string>(StringComparer.Ordinal))
                : End(random, hostile: false, $"10.{random.Next(40, 80)}.{random.Next(256)}.{random.Next(1, 255)}");
            var first = time.AddSeconds(random.Next(0, 86_400));
            events[i] = new FindingEvent(
                $"finding-{i:D8}",
                first.AddSeconds(random.Next(1, 600)),
                new Finding(
                    Kinds[random.Next(Kinds.Length)],
                    Severities[random.Next(Severities.Length)],
                    source,
                    destination,
                    $"{(random.Next(5) == 0 ? "udp" : "tcp")}/{random.Next(1, 65536)}",
                    random.Next(1, 10_000),
                    random.NextInt64(100, 10_000_000_000),
                    first,
                    first.AddSeconds(random.Next(1, 600))));
        }

        return events;
    }

    private static FindingEnd End(Random random, bool hostile, string address)
    {
        var app = hostile ? Hostile[random.Next(Hostile.Length)] : Apps[random.Next(Apps.Length)];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["app"] = app,
            ["env"] = Environments[random.Next(Environments.Length)],
            ["role"] = Roles[random.Next(Roles.Length)],
        };
        if (random.Next(3) == 0)
        {
            labels["team"] = $"team-{random.Next(20)}";
        }

        return random.Next(4) == 0
            ? new FindingEnd(address, "unknown", labels)
            : new FindingEnd($"{app}-{random.Next(100)}", "workload", labels);
    }
}
