using System.Diagnostics;
using System.Text;
using Visibility.Query.Filtering;

namespace Visibility.Tests.Query;

/// <summary>
/// Seeded mutation fuzzing: random characters, token soups, and truncated, spliced or corrupted valid filters.
/// Parsing never throws and stays fast; whatever parses prints back to itself, compiles to placeholder-only SQL,
/// and a sample runs in chDB and agrees with the reference evaluator.
/// </summary>
[Collection(FilterTableDefinition.Name)]
public sealed class FilterFuzzTests(FilterTable table)
{
    private const int Inputs = 24_000;

    private static readonly string[] Vocabulary =
    [
        "src.env", "dst.app", "env", "team", "port", "src.port", "proto", "finding", "ip", "src.ip", "kind", "dst.kind",
        "workload", "src.app.kubernetes.io/name", "srcc.env", "src.", "src.proto", "and", "AND", "or", "Or", "not", "in",
        "=", "!=", "!", "<", "<=", ">", ">=", "(", ")", ",", "\"", "'", "\\", "prod", "\"a b\"", "'it\\'s'", "\"\"",
        "10.0.0.0/8", "10.1.2.3/8", "2001:db8::1", "::ffff:10.0.0.1", "fe80::/10", "443", "70000", "-1", "tcp", "icmpv6",
        "cross_env", "new_edge", "policy_violation", "internet", "unknown", "pod", "*", ";", "--", "é", "\0", "\n", " ", "  ",
        "verdict", "policy", "allowed", "blocked", "Blocked", "shop/deny-dev-to-prod", "\"prod/deny-all\"", "vis:prod:3",
    ];

    private static readonly string[] Seeds =
    [
        "src.env = prod and not dst.env in (dev, staging) or port >= 1024",
        "(ip in (10.0.0.0/8, 2001:db8::/32) or kind = internet) and finding != cross_env",
        "team = \"a \\\"b\\\" c\" and proto in (tcp, udp, 132)",
        "not (src.port < 1024 or dst.port > 60000) and src.x/y = 'q\\'q'",
        "workload = \"\" and dst.ip = ::ffff:10.0.0.1",
        "verdict = blocked and policy in (shop/deny-dev-to-prod, \"vis:prod:3\") or not verdict != allowed",
        "policy != \"prod/deny-all\" and (finding = policy_violation or verdict = allowed)",
    ];

    [Fact]
    public async Task Fuzz_ParseNeverThrows_AndEverythingParsedCompilesAndRuns()
    {
        var random = new Random(1234);
        var generator = new FilterGenerator(seed: 99);
        var parsed = new List<FilterExpression>();
        var slowest = TimeSpan.Zero;
        var total = Stopwatch.StartNew();
        for (var i = 0; i < Inputs; i++)
        {
            var input = (i % 4) switch
            {
                0 => RandomChars(random),
                1 => TokenSoup(random),
                2 => Mutate(random, Seeds[random.Next(Seeds.Length)]),
                _ => Mutate(random, generator.Next().ToString()),
            };

            var watch = Stopwatch.StartNew();
            var result = FilterParser.Parse(input);
            slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
            if (!result.IsSuccess)
            {
                Assert.Matches(@"^position [0-9]+: \S", result.Error.Message);
                Assert.InRange(result.Error.Position, 1, input.Length + 1);
                continue;
            }

            var printed = result.Filter.ToString();
            var reparsed = FilterParser.Parse(printed);
            Assert.True(reparsed.IsSuccess, $"{input} printed as {printed}: {reparsed.Error?.Message}");
            Assert.Equal(result.Filter, reparsed.Filter);
            FilterSql.AssertOnlyPlaceholders(FilterCompiler.Compile(result.Filter));
            parsed.Add(result.Filter);
        }

        Assert.True(total.Elapsed < TimeSpan.FromSeconds(20), $"{Inputs} inputs took {total.Elapsed}");
        Assert.True(slowest < TimeSpan.FromSeconds(1), $"slowest parse took {slowest}");
        Assert.True(parsed.Count > 1000, $"only {parsed.Count} inputs parsed; the fuzzer is not reaching the compiler");

        foreach (var filter in parsed.Where(f => f is not MatchAllFilter).OrderBy(_ => random.Next()).Take(150))
        {
            var compiled = FilterCompiler.Compile(filter);
            Assert.Equal(table.Expected(filter), await table.SelectAsync(compiled));
        }
    }

    [Fact]
    public void Fuzz_LongInputs_AreHandledQuickly()
    {
        var random = new Random(5);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 200; i++)
        {
            var sb = new StringBuilder();
            while (sb.Length < FilterParser.MaxLength + random.Next(-50, 50))
            {
                sb.Append(Vocabulary[random.Next(Vocabulary.Length)]).Append(random.Next(3) == 0 ? "" : " ");
            }

            _ = FilterParser.Parse(sb.ToString());
            _ = FilterParser.Parse(new string('(', sb.Length / 2) + sb);
            _ = FilterParser.Parse(string.Concat(Enumerable.Repeat("not ", 1000)));
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    private static string RandomChars(Random random)
    {
        var length = random.Next(0, 40);
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = random.Next(10) switch
            {
                0 => (char)random.Next(0, 32),
                1 => (char)random.Next(0x80, 0xffff),
                _ => (char)random.Next(32, 127),
            };
        }

        return new string(chars);
    }

    private static string TokenSoup(Random random)
    {
        var sb = new StringBuilder();
        var count = random.Next(1, 12);
        for (var i = 0; i < count; i++)
        {
            sb.Append(Vocabulary[random.Next(Vocabulary.Length)]).Append(random.Next(4) == 0 ? "" : " ");
        }

        return sb.ToString();
    }

    private static string Mutate(Random random, string valid)
    {
        var text = valid;
        var edits = random.Next(0, 4);
        for (var e = 0; e < edits && text.Length > 0; e++)
        {
            var at = random.Next(text.Length + 1);
            text = random.Next(5) switch
            {
                0 => text[..at],
                1 => text.Insert(at, Vocabulary[random.Next(Vocabulary.Length)]),
                2 => text.Remove(Math.Min(at, text.Length - 1), Math.Min(random.Next(1, 4), text.Length - Math.Min(at, text.Length - 1))),
                3 => text.Insert(at, ((char)random.Next(32, 127)).ToString()),
                _ => text + " " + Seeds[random.Next(Seeds.Length)][..random.Next(Seeds[0].Length / 2)],
            };
        }

        return text;
    }
}
