using Visibility.Query.Analytics;
using static Visibility.Tests.Query.AnalyticsTestGraphs;

namespace Visibility.Tests.Query;

public sealed class AnalyticsSelectorTests
{
    private static readonly GraphAnalytics Mixed = Analytics(
        "api>db api>cache dev-api>api api>internet",
        Node("api", "env=prod", "role=web"),
        Node("db", "env=prod", "role=db"),
        Node("cache", "env=prod", "role=cache"),
        Node("dev-api", "env=dev", "role=web"),
        KindNode("internet", "internet"),
        KindNode("unknown", "unknown"),
        Node("app=api,env=prod", "env=prod"));

    private static string[] Ids(string selector) => Mixed.Select(Sel(selector)).Select(n => n.Id).ToArray();

    [Fact]
    public void Select_LabelPairs_MatchOnlyNodesWithAllValues()
    {
        Assert.Equal(["db"], Ids("env=prod,role=db"));
        Assert.Equal(["api", "app=api,env=prod", "cache", "db"], Ids("env=prod"));
        Assert.Equal(["api", "dev-api"], Ids(" role = web "));
        Assert.Empty(Ids("env=staging"));
    }

    [Fact]
    public void Select_Kind_MatchesNodeKindAndCombinesWithLabels()
    {
        Assert.Equal(["internet"], Ids("kind=internet"));
        Assert.Equal(["unknown"], Ids("kind=unknown"));
        Assert.Equal(["api", "app=api,env=prod", "cache", "db"], Ids("kind=workload,env=prod"));
        Assert.Empty(Ids("kind=internet,env=prod"));
    }

    [Fact]
    public void Select_Id_TakesTheRestVerbatim()
    {
        Assert.Equal(["app=api,env=prod"], Ids("id=app=api,env=prod"));
        Assert.Equal(["db"], Ids("id=db"));
        Assert.Empty(Ids("id=app=api"));
    }

    [Theory]
    [InlineData("env", "selector 'env' needs key=value pairs such as env=prod,role=db")]
    [InlineData("env=prod,role", "selector 'role' needs key=value pairs such as env=prod,role=db")]
    [InlineData("env=prod,", "selector 'env=prod,' needs key=value pairs such as env=prod,role=db")]
    [InlineData("", "selector is empty; it needs key=value pairs such as env=prod,role=db, kind=internet or id=<node id>")]
    [InlineData("   ", "selector is empty; it needs key=value pairs such as env=prod,role=db, kind=internet or id=<node id>")]
    [InlineData(null, "selector is empty; it needs key=value pairs such as env=prod,role=db, kind=internet or id=<node id>")]
    [InlineData("env=", "selector 'env=' needs a value after '='")]
    [InlineData("=prod", "selector key '' is not a valid label key (a letter, then letters, digits, '_', '.', '-', '/')")]
    [InlineData("9env=prod", "selector key '9env' is not a valid label key (a letter, then letters, digits, '_', '.', '-', '/')")]
    [InlineData("env=prod,env=dev", "selector names 'env' twice")]
    [InlineData("kind=internet,kind=unknown", "selector names 'kind' twice")]
    [InlineData("kind=pod", "selector 'kind=pod': kind is one of unknown, internet, workload")]
    [InlineData("env=prod,id=db", "selector 'id=' must stand alone: node ids contain ',' and '=', so id= takes the whole rest of the selector")]
    [InlineData("id=", "selector 'id=' needs a node id, e.g. id=app=api,env=prod")]
    public void Parse_BadInput_ReturnsMessageWithoutThrowing(string? text, string expected)
    {
        var parsed = NodeSelector.Parse(text);

        Assert.False(parsed.IsValid);
        Assert.Null(parsed.Value);
        Assert.Equal(expected, parsed.Error);
    }

    [Fact]
    public void Parse_TooManyTermsOrTooLong_ReturnsMessage()
    {
        var many = string.Join(',', Enumerable.Range(0, NodeSelector.MaxTerms + 1).Select(i => $"k{i}=v"));
        Assert.Equal($"selector '{many}' has more than 16 key=value pairs", NodeSelector.Parse(many).Error);
        Assert.Equal("selector is longer than 1024 characters", NodeSelector.Parse("env=" + new string('x', 1100)).Error);
    }

    [Fact]
    public void Options_Defaults_AreValid()
    {
        Assert.Null(new ReachOptions().Validate());
        Assert.Null(new PathOptions().Validate());
        Assert.Null(new CycleOptions().Validate());
    }

    [Fact]
    public void Options_OutOfRange_AreReportedNotThrown()
    {
        var reach = Mixed.Reach(Sel("id=api"), new ReachOptions { Hops = 11 });
        Assert.False(reach.IsValid);
        Assert.Equal("hops must be between 1 and 10, was 11", reach.Error);

        Assert.Equal("hops must be between 1 and 10, was 0", Mixed.Paths(Sel("id=api"), Sel("id=db"), new PathOptions { Hops = 0 }).Error);
        Assert.Equal("maxPaths must be between 1 and 1000, was 0", Mixed.Paths(Sel("id=api"), Sel("id=db"), new PathOptions { MaxPaths = 0 }).Error);
        Assert.Equal("maxNodes must be between 1 and 10000, was 0", Mixed.Reach(Sel("id=api"), new ReachOptions { MaxNodes = 0 }).Error);
        Assert.Equal("maxComponents must be between 1 and 10000, was 0", Mixed.Cycles(new CycleOptions { MaxComponents = 0 }).Error);
    }
}
