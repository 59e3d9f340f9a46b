using Visibility.Query.Filtering;
using Visibility.Query.Planning;
using Visibility.Query.Security;
using Visibility.Tests.Query;

namespace Visibility.Tests.Security;

/// <summary>
/// Label scopes: parsing, and the restriction of any filter to the flows touching the scope, checked in chDB
/// against a C# evaluation written independently of the filter compiler.
/// </summary>
[Collection(FilterTableDefinition.Name)]
public sealed class AccessScopeTests(FilterTable table)
{
    public static TheoryData<string> Scopes => new()
    {
        "env=prod",
        "app=pay,env=prod",
        "env=prod;app=ledger",
        "env=a' OR 1=1 --",
        "workload=pay-api",
        "team=x;app.kubernetes.io/name=web",
        "env=Prod",
    };

    public static readonly string[] UserFilters = ["", "env = dev", "not src.env = prod", "port < 1024 or proto = udp", "dst.app = ledger and finding = cross_env"];

    [Theory]
    [MemberData(nameof(Scopes))]
    public async Task Restrict_SelectsExactlyTheRowsOfTheFilterTouchingTheScope(string scopeText)
    {
        Assert.True(AccessScope.TryParse(scopeText, out var scope, out var error), error);
        var touching = table.Rows.Where(r => Touches(scope, r)).Select(r => r.Id).ToHashSet();
        Assert.NotEqual(table.Rows.Count, touching.Count);

        foreach (var text in UserFilters)
        {
            Assert.True(FilterClause.TryCreate(text, out var clause, out var filterError), filterError);
            var restricted = scope.Restrict(clause);
            var compiled = FilterCompiler.Compile(restricted.Expression);
            FilterSql.AssertOnlyPlaceholders(compiled);
            Assert.Equal(compiled.Sql, restricted.Sql);

            var selected = await table.SelectAsync(compiled);
            var expected = table.Expected(clause.Expression is MatchAllFilter ? MatchAllFilter.Instance : clause.Expression).Where(touching.Contains).ToList();
            Assert.Equal(expected, selected);
            Assert.All(selected, id => Assert.Contains(id, touching));
        }
    }

    [Fact]
    public void Unrestricted_LeavesTheFilterAsItIs()
    {
        Assert.True(FilterClause.TryCreate("env = dev", out var clause, out _));
        Assert.Same(clause, AccessScope.Unrestricted.Restrict(clause));
        Assert.True(AccessScope.TryParse(" ; ", out var empty, out _));
        Assert.True(empty.IsUnrestricted);
    }

    [Theory]
    [InlineData("env=prod", "env=prod")]
    [InlineData(" env = prod ", "env=prod")]
    [InlineData("role=db,app=pay", "app=pay,role=db")]
    [InlineData("env=prod;app=pay;env=prod", "app=pay;env=prod")]
    public void Parse_GivesCanonicalText(string text, string canonical)
    {
        Assert.True(AccessScope.TryParse(text, out var scope, out var error), error);
        Assert.Equal(canonical, scope.Text);
        Assert.Equal(scope, AccessScope.Parse(scope.Text));
    }

    [Theory]
    [InlineData("env", "'env' is not key=value")]
    [InlineData("env=", "'env=' is not key=value")]
    [InlineData("=prod", "'' is not a label key")]
    [InlineData("kind=pod", "'kind' is not a label key")]
    [InlineData("port=22", "'port' is not a label key")]
    [InlineData("env=dev,env=prod", "names 'env' twice")]
    [InlineData("env=a\nb", "control characters")]
    [InlineData("1abc=x", "'1abc' is not a label key")]
    public void Parse_NamesTheProblem(string text, string problem)
    {
        Assert.False(AccessScope.TryParse(text, out _, out var error));
        Assert.Contains(problem, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BoundsSelectorsAndPairs()
    {
        var many = string.Join(";", Enumerable.Range(0, AccessScope.MaxSelectors + 1).Select(i => $"app=a{i}"));
        Assert.False(AccessScope.TryParse(many, out _, out var error));
        Assert.Contains($"at most {AccessScope.MaxSelectors} selectors", error, StringComparison.Ordinal);
        var wide = string.Join(",", Enumerable.Range(0, AccessScope.MaxPairs + 1).Select(i => $"k{i}=v"));
        Assert.False(AccessScope.TryParse(wide, out _, out error));
        Assert.Contains($"more than {AccessScope.MaxPairs} pairs", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Matches_AWorkloadWhenOneSelectorHoldsEntirely()
    {
        var scope = AccessScope.Parse("app=pay,env=prod;workload=ledger-1");
        Assert.True(scope.Matches("x", new Dictionary<string, string> { ["app"] = "pay", ["env"] = "prod", ["role"] = "db" }));
        Assert.False(scope.Matches("x", new Dictionary<string, string> { ["app"] = "pay", ["env"] = "dev" }));
        Assert.True(scope.Matches("ledger-1", new Dictionary<string, string>()));
        Assert.False(scope.Matches("ledger-2", new Dictionary<string, string> { ["env"] = "prod" }));
        Assert.True(AccessScope.Unrestricted.Matches(null, new Dictionary<string, string>()));
    }

    private static bool Touches(AccessScope scope, FilterFlowRow row) => scope.Matches(row.Src.Workload, Labels(row.Src)) || scope.Matches(row.Dst.Workload, Labels(row.Dst));

    private static Dictionary<string, string> Labels(FilterFlowEnd end)
    {
        var labels = new Dictionary<string, string>(end.Labels);
        foreach (var (key, value) in new[] { ("role", end.Role), ("app", end.App), ("env", end.Env), ("loc", end.Loc) })
        {
            if (value.Length > 0)
            {
                labels[key] = value;
            }
        }

        return labels;
    }
}
