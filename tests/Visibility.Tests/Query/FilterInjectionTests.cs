using Visibility.Query.Filtering;

namespace Visibility.Tests.Query;

/// <summary>User text reaches the engine only as bound parameters, whatever it holds.</summary>
[Collection(FilterTableDefinition.Name)]
public sealed class FilterInjectionTests(FilterTable table)
{
    public static TheoryData<string, string> Hostile => new()
    {
        { "src.env = \"'; DROP TABLE x --\"", "'; DROP TABLE x --" },
        { "src.env = \"a' OR 1=1 --\"", "a' OR 1=1 --" },
        { "env in ('x\\'); SELECT 1; --', \"y\")", "x'); SELECT 1; --" },
        { "owner = \"back\\\\slash\\\\\"", "back\\slash\\" },
        { "owner = \"back\\\\slash\"", "back\\slash" },
        { "team = \"nul\0byte\"", "nul\0byte" },
        { "team = \"tab\there\"", "tab\there" },
        { "team = \"line\nfeed\"", "line\nfeed" },
        { "team = \"ünï ✓ 𝄞\"", "ünï ✓ 𝄞" },
        { "team = \"{f0:String}\"", "{f0:String}" },
        { "team = \"') OR ('1'='1\"", "') OR ('1'='1" },
        { "src.workload = \"`x` /* */ \\\"\"", "`x` /* */ \"" },
        { "dst.x/y = \"]\"", "]" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task HostileValue_AppearsOnlyInParameters_AndMatchesItself(string text, string value)
    {
        var parsed = FilterParser.Parse(text);
        Assert.True(parsed.IsSuccess, parsed.Error?.Message);

        var compiled = FilterCompiler.Compile(parsed.Filter);

        FilterSql.AssertOnlyPlaceholders(compiled);
        Assert.Contains(compiled.Parameters, p => p.Value == value);
        Assert.DoesNotContain("'", compiled.Sql, StringComparison.Ordinal);
        Assert.Equal(table.Expected(parsed.Filter), await table.SelectAsync(compiled));
    }

    [Theory]
    [InlineData("team")]
    [InlineData("x/y")]
    [InlineData("app.kubernetes.io/name")]
    public void FreeFormLabelKey_IsAParameter(string key)
    {
        var compiled = FilterCompiler.Compile(FilterParser.Parse($"src.{key} = v").Filter!);

        FilterSql.AssertOnlyPlaceholders(compiled);
        Assert.Equal("(src_labels[{f0:String}] = {f1:String})", compiled.Sql);
        Assert.Equal([new("f0", key), new("f1", "v")], compiled.Parameters);
    }

    [Fact]
    public async Task HostileValuesInTheTable_AreFoundByTheirExactText()
    {
        // The rows hold FilterData.Hostile in labels: the filter must find exactly those rows, no more.
        var filter = FilterParser.Parse($"owner = {FilterFormatter.FormatValue(FilterData.Hostile)} or team = {FilterFormatter.FormatValue(FilterData.Hostile)}").Filter!;

        var actual = await table.SelectAsync(FilterCompiler.Compile(filter));

        Assert.NotEmpty(actual);
        Assert.Equal(table.Expected(filter), actual);
    }

    [Theory]
    [InlineData("")]
    [InlineData("f1")]
    [InlineData("f-")]
    [InlineData("f x")]
    public void Compile_PrefixThatCouldCollideOrInject_IsRefused(string prefix)
    {
        Assert.Throws<ArgumentException>(() => FilterCompiler.Compile(MatchAllFilter.Instance, prefix));
    }

    [Fact]
    public void Compile_ShapesAndColumns()
    {
        var compiled = FilterCompiler.Compile(FilterParser.Parse("env != prod and src.ip in (10.0.0.0/8, 10.1.2.3) and finding in (cross_env, new_edge) and proto = udp and port > 1023").Filter!, "p");

        Assert.Equal(
            "(NOT (src_env = {p0:String} OR dst_env = {p0:String}) AND (src_ip = {p1:IPv6} OR (src_ip BETWEEN {p2:IPv6} AND {p3:IPv6})) AND (bitAnd(findings, {p4:UInt8}) != 0) AND proto = {p5:UInt8} AND dst_port > {p6:UInt16})",
            compiled.Sql);
        Assert.Equal(
            [new("p0", "prod"), new("p1", "::ffff:10.1.2.3"), new("p2", "::ffff:10.0.0.0"), new("p3", "::ffff:10.255.255.255"), new("p4", "9"), new("p5", "17"), new("p6", "1023")],
            compiled.Parameters);
        Assert.Equal(["dst_env", "dst_port", "findings", "proto", "src_env", "src_ip"], compiled.Columns.Order(StringComparer.Ordinal));

        var rollup = new HashSet<string>(StringComparer.Ordinal) { "src_env", "dst_env", "dst_port", "proto", "findings" };
        Assert.False(compiled.CanRunOn(rollup));
        Assert.True(FilterCompiler.Compile(FilterParser.Parse("env != prod and port > 1023").Filter!).CanRunOn(rollup));
        Assert.Equal("(true)", FilterCompiler.Compile(MatchAllFilter.Instance).Sql);
    }

    [Fact]
    public void Compile_HandBuiltFilterWithInvalidValue_Throws()
    {
        var bad = new ComparisonFilter(new FilterField(FieldSide.Src, "port"), FilterOperator.Equal, ["http"]);
        var sided = new ComparisonFilter(new FilterField(FieldSide.Src, "proto"), FilterOperator.Equal, ["tcp"]);

        Assert.Throws<ArgumentException>(() => FilterCompiler.Compile(bad));
        Assert.Throws<ArgumentException>(() => FilterCompiler.Compile(sided));
    }
}
