using System.Globalization;
using System.Text.RegularExpressions;
using Visibility.Query.Filtering;

namespace Visibility.Tests.Query;

/// <summary>Random filters from the grammar, over the value pools of <see cref="FilterData"/>.</summary>
public sealed class FilterGenerator(int seed)
{
    private static readonly string[] TextKeys = ["workload", "role", "app", "env", "loc", "team", "tier", "owner", "x/y", "missing"];
    private readonly Random random = new(seed);

    public FilterExpression Next(int depth = 3)
    {
        var roll = random.Next(10);
        if (depth == 0 || roll < 4)
        {
            return Comparison();
        }

        if (roll == 4)
        {
            return new NotFilter(Next(depth - 1));
        }

        // Nested operands of the same kind are spliced in, as the parser does.
        var operands = Enumerable.Range(0, random.Next(2, 4)).Select(_ => Next(depth - 1)).ToList();
        return roll < 7
            ? new AndFilter([.. operands.SelectMany(o => o is AndFilter and ? and.Operands : [o])])
            : new OrFilter([.. operands.SelectMany(o => o is OrFilter or ? or.Operands : [o])]);
    }

    private ComparisonFilter Comparison()
    {
        var side = (FieldSide)random.Next(3);
        switch (random.Next(10))
        {
            case 0:
                var portSide = (FieldSide)(random.Next(3) switch { 0 => (int)FieldSide.Src, 1 => (int)FieldSide.Dst, _ => (int)FieldSide.None });
                var op = (FilterOperator)random.Next(8);
                return Build(new FilterField(portSide, "port"), op, () => Port());
            case 1:
                return Build(new FilterField(FieldSide.None, "proto"), EqualityOperator(), () => random.Next(3) == 0
                    ? FilterData.Pick(random, FilterFields.Protocols).Name
                    : FilterData.Pick(random, FilterData.Protos).ToString(CultureInfo.InvariantCulture));
            case 2:
                return Build(new FilterField(FieldSide.None, "finding"), EqualityOperator(), () => FilterData.Pick(random, Visibility.Flows.Findings.FindingKinds.AllNames));
            case 3:
                return Build(new FilterField(side, "kind"), EqualityOperator(), () => FilterData.Pick(random, FilterFields.Kinds));
            case 4:
            case 5:
                return Build(new FilterField(side, "ip"), EqualityOperator(), () => random.Next(2) == 0
                    ? FilterData.Pick(random, FilterData.Networks)
                    : AddressRange.TryParse(FilterData.Pick(random, FilterData.Addresses), out var a, out _) ? a.Text : throw new InvalidOperationException());
            case 6:
                return Build(new FilterField(FieldSide.None, "verdict"), EqualityOperator(), () => FilterData.Pick(random, FilterData.Verdicts));
            case 7:
                return Build(new FilterField(FieldSide.None, "policy"), EqualityOperator(), () => FilterData.Pick(random, FilterData.Policies));
            default:
                var key = random.Next(4) == 0 ? FilterData.Pick(random, FilterData.LabelKeys) : FilterData.Pick(random, TextKeys);
                if (side == FieldSide.Either && key.Contains('.', StringComparison.Ordinal))
                {
                    side = FieldSide.Src;
                }

                return Build(new FilterField(side, key), EqualityOperator(), () => TextValue(key));
        }
    }

    private ComparisonFilter Build(FilterField field, FilterOperator op, Func<string> value)
    {
        var count = op is FilterOperator.In or FilterOperator.NotIn ? random.Next(1, 4) : 1;
        return new ComparisonFilter(field, op, [.. Enumerable.Range(0, count).Select(_ => value())]);
    }

    private FilterOperator EqualityOperator() => (FilterOperator)random.Next(4);

    private string Port() => (random.Next(3) == 0 ? random.Next(65536) : FilterData.Pick(random, FilterData.Ports)).ToString(CultureInfo.InvariantCulture);

    private string TextValue(string key) => key switch
    {
        "workload" => random.Next(4) == 0 ? "" : FilterData.Pick(random, FilterData.Workloads),
        "role" => FilterData.Pick(random, FilterData.Roles),
        "app" => FilterData.Pick(random, FilterData.Apps),
        "env" => FilterData.Pick(random, FilterData.Envs),
        "loc" => FilterData.Pick(random, FilterData.Locs),
        _ => FilterData.Pick(random, FilterData.LabelValues),
    };
}

/// <summary>Checks that compiled SQL holds nothing but known column names, operators and placeholders.</summary>
public static partial class FilterSql
{
    private static readonly HashSet<string> Words = new(StringComparer.Ordinal)
    {
        "src_workload", "src_kind", "src_role", "src_app", "src_env", "src_loc", "src_labels", "src_ip", "src_port",
        "dst_workload", "dst_kind", "dst_role", "dst_app", "dst_env", "dst_loc", "dst_labels", "dst_ip", "dst_port",
        "proto", "findings", "verdict", "policies", "bitAnd", "has", "hasAny", "AND", "OR", "NOT", "IN", "BETWEEN", "true", "false",
    };

    [GeneratedRegex(@"\{([A-Za-z_]+[0-9]+):(String|UInt16|UInt8|IPv6)\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"\G(?:(?<word>[A-Za-z_][A-Za-z0-9_]*)|!=|<=|>=|[()\[\],=<>]|\b0\b|\s+)")]
    private static partial Regex SafeToken();

    /// <summary>Asserts the SQL is placeholders, whitelisted words and punctuation, and uses exactly its parameters.</summary>
    public static void AssertOnlyPlaceholders(CompiledFilter compiled)
    {
        var used = Placeholder().Matches(compiled.Sql).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(compiled.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal), used.Order(StringComparer.Ordinal));

        var rest = Placeholder().Replace(compiled.Sql, " ");
        var at = 0;
        while (at < rest.Length)
        {
            var token = SafeToken().Match(rest, at);
            Assert.True(token.Success && token.Length > 0, $"unexpected SQL at {at}: '{rest[at..]}' in {compiled.Sql}");
            if (token.Groups["word"].Success)
            {
                Assert.Contains(token.Groups["word"].Value, Words);
            }

            at += token.Length;
        }
    }
}
