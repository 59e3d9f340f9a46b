using Visibility.Query.Filtering;

namespace Visibility.Tests.Query;

public sealed class FilterParserTests
{
    private static ComparisonFilter C(FieldSide side, string key, FilterOperator op, params string[] values) =>
        new(new FilterField(side, key), op, new ValueList<string>(values));

    private static readonly ComparisonFilter A1 = C(FieldSide.Either, "a", FilterOperator.Equal, "1");
    private static readonly ComparisonFilter B2 = C(FieldSide.Either, "b", FilterOperator.Equal, "2");
    private static readonly ComparisonFilter C3 = C(FieldSide.Either, "c", FilterOperator.Equal, "3");

    public static TheoryData<string, FilterExpression> Valid => new()
    {
        { "", MatchAllFilter.Instance },
        { " \t\n ", MatchAllFilter.Instance },
        { "src.env = prod", C(FieldSide.Src, "env", FilterOperator.Equal, "prod") },
        { "dst.workload != pay-api", C(FieldSide.Dst, "workload", FilterOperator.NotEqual, "pay-api") },
        { "env = prod", C(FieldSide.Either, "env", FilterOperator.Equal, "prod") },
        { "team=blue", C(FieldSide.Either, "team", FilterOperator.Equal, "blue") },
        { "app in (pay, ledger)", C(FieldSide.Either, "app", FilterOperator.In, "pay", "ledger") },
        { "src.app not in (pay)", C(FieldSide.Src, "app", FilterOperator.NotIn, "pay") },
        { "src.app NOT IN(pay,ledger)", C(FieldSide.Src, "app", FilterOperator.NotIn, "pay", "ledger") },
        { "src.app.kubernetes.io/name = web", C(FieldSide.Src, "app.kubernetes.io/name", FilterOperator.Equal, "web") },
        { "port = 443", C(FieldSide.None, "port", FilterOperator.Equal, "443") },
        { "port = 080", C(FieldSide.None, "port", FilterOperator.Equal, "80") },
        { "src.port <= 1023", C(FieldSide.Src, "port", FilterOperator.LessOrEqual, "1023") },
        { "port>=1024 and port<2000", new AndFilter([C(FieldSide.None, "port", FilterOperator.GreaterOrEqual, "1024"), C(FieldSide.None, "port", FilterOperator.Less, "2000")]) },
        { "dst.port > 0", C(FieldSide.Dst, "port", FilterOperator.Greater, "0") },
        { "proto = TCP", C(FieldSide.None, "proto", FilterOperator.Equal, "tcp") },
        { "proto in (udp, 47, icmpv6)", C(FieldSide.None, "proto", FilterOperator.In, "udp", "47", "icmpv6") },
        { "finding = cross_env", C(FieldSide.None, "finding", FilterOperator.Equal, "cross_env") },
        { "finding != NEW_EDGE", C(FieldSide.None, "finding", FilterOperator.NotEqual, "new_edge") },
        { "verdict = Blocked", C(FieldSide.None, "verdict", FilterOperator.Equal, "blocked") },
        { "verdict in (allowed, blocked)", C(FieldSide.None, "verdict", FilterOperator.In, "allowed", "blocked") },
        { "policy = shop/deny-dev", C(FieldSide.None, "policy", FilterOperator.Equal, "shop/deny-dev") },
        { "policy not in (a, \"B c\")", C(FieldSide.None, "policy", FilterOperator.NotIn, "a", "B c") },
        { "src.kind = Internet", C(FieldSide.Src, "kind", FilterOperator.Equal, "internet") },
        { "kind in (pod, unknown)", C(FieldSide.Either, "kind", FilterOperator.In, "pod", "unknown") },
        { "src.ip in 10.0.0.0/8", C(FieldSide.Src, "ip", FilterOperator.In, "10.0.0.0/8") },
        { "dst.ip = 2001:DB8:0::1", C(FieldSide.Dst, "ip", FilterOperator.Equal, "2001:db8::1") },
        { "src.ip in (10.0.0.0/8, 192.168.0.0/16)", C(FieldSide.Src, "ip", FilterOperator.In, "10.0.0.0/8", "192.168.0.0/16") },
        { "ip = ::ffff:10.0.0.1", C(FieldSide.Either, "ip", FilterOperator.Equal, "::ffff:10.0.0.1") },
        { "ip != 10.0.0.1/32", C(FieldSide.Either, "ip", FilterOperator.NotEqual, "10.0.0.1/32") },
        { "src.ip = \"::/0\"", C(FieldSide.Src, "ip", FilterOperator.Equal, "::/0") },
        { "src.env = \"a b\"", C(FieldSide.Src, "env", FilterOperator.Equal, "a b") },
        { "src.env = 'it\\'s'", C(FieldSide.Src, "env", FilterOperator.Equal, "it's") },
        { "src.env = \"say \\\"hi\\\" \\\\o/\"", C(FieldSide.Src, "env", FilterOperator.Equal, "say \"hi\" \\o/") },
        { "src.env = ''", C(FieldSide.Src, "env", FilterOperator.Equal, "") },
        { "src.env = \"and\"", C(FieldSide.Src, "env", FilterOperator.Equal, "and") },
        { "src.env = \"ünï ✓\"", C(FieldSide.Src, "env", FilterOperator.Equal, "ünï ✓") },
        { "a = 1 or b = 2 and c = 3", new OrFilter([A1, new AndFilter([B2, C3])]) },
        { "a = 1 and b = 2 or c = 3", new OrFilter([new AndFilter([A1, B2]), C3]) },
        { "(a = 1 or b = 2) and c = 3", new AndFilter([new OrFilter([A1, B2]), C3]) },
        { "a = 1 and (b = 2 and c = 3)", new AndFilter([A1, B2, C3]) },
        { "a = 1 or (b = 2 or c = 3)", new OrFilter([A1, B2, C3]) },
        { "((a = 1))", A1 },
        { "not a = 1 and b = 2", new AndFilter([new NotFilter(A1), B2]) },
        { "not (a = 1 and b = 2)", new NotFilter(new AndFilter([A1, B2])) },
        { "not not a = 1", new NotFilter(new NotFilter(A1)) },
        { "a = 1 AND b = 2 Or NoT c = 3", new OrFilter([new AndFilter([A1, B2]), new NotFilter(C3)]) },
        { "a = 1 or not (b = 2 or c = 3) and a = 1", new OrFilter([A1, new AndFilter([new NotFilter(new OrFilter([B2, C3])), A1])]) },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parse_ValidFilter_GivesExpectedTree(string text, FilterExpression expected)
    {
        var result = FilterParser.Parse(text);

        Assert.True(result.IsSuccess, result.Error?.Message);
        Assert.Equal(expected, result.Filter);
    }

    [Theory]
    [MemberData(nameof(Valid))]
    public void Format_ParsedFilter_ParsesBackToEqualTree(string text, FilterExpression expected)
    {
        var printed = FilterParser.Parse(text).Filter!.ToString();

        var reparsed = FilterParser.Parse(printed);

        Assert.True(reparsed.IsSuccess, $"{printed}: {reparsed.Error?.Message}");
        Assert.Equal(expected, reparsed.Filter);
        Assert.Equal(printed, reparsed.Filter.ToString());
    }

    [Theory]
    [InlineData("a = 1 AND (b = 2 OR c=3)", "a = 1 and (b = 2 or c = 3)")]
    [InlineData("NOT (a=1 or b=2)", "not (a = 1 or b = 2)")]
    [InlineData("src.env in prod", "src.env in (prod)")]
    [InlineData("src.env = \"and\"", "src.env = \"and\"")]
    [InlineData("src.env = 'a\"b\\\\c'", "src.env = \"a\\\"b\\\\c\"")]
    [InlineData("src.env = ''", "src.env = \"\"")]
    [InlineData("proto IN (TCP,6)", "proto in (tcp, 6)")]
    [InlineData("ip = 2001:DB8::0:1", "ip = 2001:db8::1")]
    [InlineData("  ", "")]
    public void Format_GivesCanonicalText(string text, string canonical)
    {
        var result = FilterParser.Parse(text);

        Assert.True(result.IsSuccess, result.Error?.Message);
        Assert.Equal(canonical, result.Filter.ToString());
    }

    [Fact]
    public void Parse_SameTextTwice_GivesEqualTreesAndHashes()
    {
        var a = FilterParser.Parse("env in (a, b) and not port < 10").Filter!;
        var b = FilterParser.Parse("env in (a, b) and not port < 10").Filter!;
        var c = FilterParser.Parse("env in (b, a) and not port < 10").Filter!;

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, c);
    }
}
