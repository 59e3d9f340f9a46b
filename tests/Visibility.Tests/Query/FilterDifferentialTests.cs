using Visibility.Query.Filtering;

namespace Visibility.Tests.Query;

/// <summary>The compiled SQL, run by chDB, selects exactly the rows the reference evaluator selects.</summary>
[Collection(FilterTableDefinition.Name)]
public sealed class FilterDifferentialTests(FilterTable table)
{
    private static readonly string[] HandWrittenTexts =
    [
        "",
        "src.env = prod",
        "env = prod",
        "env != prod",
        "env not in (prod, dev)",
        "src.env = \"a' OR 1=1 --\"",
        "src.workload = \"\"",
        "workload = \"\" and kind in (unknown, internet)",
        "src.kind = internet or dst.kind = unknown",
        "kind != pod",
        "team = blue",
        "team != blue",
        "team = \"\"",
        "src.team not in (blue, red)",
        "src.app.kubernetes.io/name = red or dst.x/y = \"back\\\\slash\"",
        "owner = \"'; DROP TABLE x --\"",
        "tier = \"ünï ✓\"",
        "src.ip in 10.0.0.0/8",
        "src.ip in (10.0.0.0/8, 192.168.0.0/16)",
        "ip = 10.0.0.1",
        "dst.ip = ::ffff:10.0.0.1",
        "ip != 2001:db8::/32",
        "dst.ip = 2001:db8::1",
        "src.ip in (8000::/1)",
        "src.ip in (128.0.0.0/1)",
        "ip in (::/0)",
        "ip not in (0.0.0.0/0)",
        "ip in (::ffff:0:0/96, 2001:db8::1, 10.1.2.3)",
        "port = 443",
        "port in (22, 80, 443)",
        "port >= 1024 and port < 32768",
        "src.port > 32767",
        "src.port <= 1023 or dst.port = 0",
        "port != 65535",
        "proto = tcp",
        "proto in (udp, icmp, 132)",
        "proto not in (tcp, udp)",
        "proto = 255",
        "finding = cross_env",
        "finding != new_edge",
        "finding in (unknown_source, internet_source)",
        "finding not in (cross_env, new_edge)",
        "verdict = blocked",
        "verdict != allowed and port < 1024",
        "policy = shop/deny-dev-to-prod",
        "policy in (\"prod/deny-all\", \"vis:prod:3\", \"'; DROP TABLE x --\")",
        "policy != \"prod/deny-all\" and verdict = blocked",
        "finding = policy_violation or verdict = blocked",
        "not (env = prod or env = dev) and port < 1024",
        "not not src.app = pay",
        "(src.env = prod and dst.env = dev) or (src.env = dev and dst.env = prod)",
    ];

    public static TheoryData<string> HandWritten => new(HandWrittenTexts);

    [Theory]
    [MemberData(nameof(HandWritten))]
    public async Task HandWrittenFilter_EngineAgreesWithReference(string text)
    {
        var parsed = FilterParser.Parse(text);
        Assert.True(parsed.IsSuccess, parsed.Error?.Message);
        var compiled = FilterCompiler.Compile(parsed.Filter);

        var actual = await table.SelectAsync(compiled);

        Assert.Equal(table.Expected(parsed.Filter), actual);
    }

    [Fact]
    public void HandWrittenFilters_SelectSomeButNotAllRows()
    {
        // Guards the differential test against passing vacuously on filters that match nothing or everything.
        var sizes = HandWrittenTexts.Select(t => table.Expected(FilterParser.Parse(t).Filter!).Count).ToList();

        Assert.True(sizes.Count(n => n > 0 && n < table.Rows.Count) >= HandWrittenTexts.Length - 3, string.Join(",", sizes));
    }

    [Fact]
    public async Task GeneratedFilters_EngineAgreesWithReference()
    {
        var generator = new FilterGenerator(seed: 42);
        var mismatches = new List<string>();
        var nontrivial = 0;
        for (var i = 0; i < 400; i++)
        {
            var filter = generator.Next();
            var text = filter.ToString();
            var parsed = FilterParser.Parse(text);
            Assert.True(parsed.IsSuccess, $"{text}: {parsed.Error?.Message}");
            Assert.Equal(filter, parsed.Filter);

            var compiled = FilterCompiler.Compile(parsed.Filter, "g");
            FilterSql.AssertOnlyPlaceholders(compiled);
            var expected = table.Expected(parsed.Filter);
            var actual = await table.SelectAsync(compiled);
            if (!expected.SequenceEqual(actual))
            {
                mismatches.Add($"{text}\n  expected {string.Join(",", expected)}\n  actual   {string.Join(",", actual)}\n  sql {compiled.Sql}");
            }

            nontrivial += expected.Count > 0 && expected.Count < table.Rows.Count ? 1 : 0;
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(5)));
        Assert.True(nontrivial > 200, $"only {nontrivial} generated filters select some but not all rows");
    }

    [Fact]
    public async Task TwoFiltersWithDifferentPrefixes_ShareOneQuery()
    {
        var a = FilterCompiler.Compile(FilterParser.Parse("env = prod or port = 443").Filter!, "a");
        var b = FilterCompiler.Compile(FilterParser.Parse("not team = blue").Filter!, "b");
        var both = new CompiledFilter($"{a.Sql} AND {b.Sql}", [.. a.Parameters, .. b.Parameters], a.Columns.Union(b.Columns).ToHashSet());

        var actual = await table.SelectAsync(both);

        Assert.Equal(table.Expected(FilterParser.Parse("(env = prod or port = 443) and not team = blue").Filter!), actual);
    }
}
