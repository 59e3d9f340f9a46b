using Visibility.Query.Analytics;
using static Visibility.Tests.Query.AnalyticsTestGraphs;

namespace Visibility.Tests.Query;

public sealed class AnalyticsPathTests
{
    private static string Paths(PathsResult r) => string.Join(' ', r.Paths.Select(p => string.Join('>', p.Nodes)));

    private static PathsResult Shortest(GraphAnalytics graph, string from, string to, int hops = 4, int maxPaths = 100) =>
        Ok(graph.Paths(Sel(from), Sel(to), new PathOptions { Hops = hops, MaxPaths = maxPaths }));

    private static PathsResult Simple(GraphAnalytics graph, string from, string to, int hops = 4, int maxPaths = 100) =>
        Ok(graph.Paths(Sel(from), Sel(to), new PathOptions { Hops = hops, MaxPaths = maxPaths, AllSimplePaths = true }));

    [Fact]
    public void Shortest_Diamond_OnePathThroughTheFirstBranch()
    {
        var graph = Analytics("a>b a>c b>d c>d d>e");

        var r = Shortest(graph, "name=a", "name=e");

        Assert.Equal("a>b>d>e", Paths(r));
        var path = Assert.Single(r.Paths);
        Assert.Equal(("a", "e", 3), (path.Source, path.Target, path.Hops));
        Assert.Equal("shortest", r.Mode);
        Assert.False(r.Truncated);
        Assert.Null(r.TruncatedBy);
    }

    [Fact]
    public void Shortest_GroupToGroup_OnePathPerPairNearestFirst()
    {
        var graph = Analytics(
            "d1>api api>db1 api>cache cache>db2 d2>db2 d2>d1 db1>db2",
            Node("d1", "env=dev"), Node("d2", "env=dev"), Node("db1", "env=prod", "role=db"), Node("db2", "env=prod", "role=db"));

        var r = Shortest(graph, "env=dev", "env=prod,role=db");

        // db2 is reached through db1 before cache (db1 was reached first): a shortest path may pass another target.
        Assert.Equal("d1>api>db1 d1>api>db1>db2 d2>db2 d2>d1>api>db1", Paths(r));
        Assert.Equal([2, 3, 1, 3], r.Paths.Select(p => p.Hops));
        Assert.Equal((2, 2), (r.SourceCount, r.TargetCount));
    }

    [Fact]
    public void Shortest_HopLimit_TargetAtKFoundAndBeyondKNot()
    {
        var graph = Analytics("a>b b>c c>d d>e");

        Assert.Empty(Shortest(graph, "name=a", "name=e", hops: 3).Paths);
        Assert.Equal("a>b>c>d>e", Paths(Shortest(graph, "name=a", "name=e", hops: 4)));
    }

    [Fact]
    public void Shortest_MorePairsThanCap_StopsAtCapAndSaysMaxPaths()
    {
        var graph = Analytics("s1>t1 s1>t2 s2>t1 s2>t2 s3>t1 s3>t2", Node("s1", "g=s"), Node("s2", "g=s"), Node("s3", "g=s"), Node("t1", "g=t"), Node("t2", "g=t"));

        var cut = Shortest(graph, "g=s", "g=t", maxPaths: 4);
        Assert.Equal("s1>t1 s1>t2 s2>t1 s2>t2", Paths(cut));
        Assert.True(cut.Truncated);
        Assert.Equal("maxPaths", cut.TruncatedBy);

        var exact = Shortest(graph, "g=s", "g=t", maxPaths: 6);
        Assert.Equal(6, exact.Paths.Count);
        Assert.False(exact.Truncated);
    }

    [Fact]
    public void Shortest_NodeInBothGroups_HasNoPathToItself()
    {
        var graph = Analytics("a>a a>b b>a", Node("a", "g=x"), Node("b", "g=x"));

        Assert.Equal("a>b b>a", Paths(Shortest(graph, "g=x", "g=x")));
    }

    [Fact]
    public void Simple_Diamond_EveryPathInDepthFirstOrder()
    {
        var graph = Analytics("a>b a>c a>d b>d c>d");

        var r = Simple(graph, "name=a", "name=d");

        Assert.Equal("a>b>d a>c>d a>d", Paths(r));
        Assert.Equal("simple", r.Mode);
        Assert.False(r.Truncated);
    }

    [Fact]
    public void Simple_Cycle_NeverRepeatsANode()
    {
        var graph = Analytics("a>b b>a b>c c>b c>c c>d");

        Assert.Equal("a>b>c>d", Paths(Simple(graph, "name=a", "name=d", hops: 10)));
    }

    [Fact]
    public void Simple_PathEndsAtTheFirstTargetItMeets()
    {
        var graph = Analytics("a>t1 t1>t2 a>x x>t2", Node("t1", "role=db"), Node("t2", "role=db"));

        Assert.Equal("a>t1 a>x>t2", Paths(Simple(graph, "name=a", "role=db")));
    }

    [Fact]
    public void Simple_HopLimit_PathOfKIncludedLongerExcluded()
    {
        var graph = Analytics("a>b b>c c>d a>x x>d");

        Assert.Equal("a>x>d", Paths(Simple(graph, "name=a", "name=d", hops: 2)));
        Assert.Equal("a>b>c>d a>x>d", Paths(Simple(graph, "name=a", "name=d", hops: 3)));
    }

    [Fact]
    public void Simple_MorePathsThanCap_SaysMaxPaths()
    {
        var graph = Analytics("a>b a>c a>d b>z c>z d>z");

        var r = Simple(graph, "name=a", "name=z", maxPaths: 2);

        Assert.Equal("a>b>z a>c>z", Paths(r));
        Assert.Equal("maxPaths", r.TruncatedBy);
        Assert.False(Simple(graph, "name=a", "name=z", maxPaths: 3).Truncated);
    }

    [Fact]
    public void Paths_WorkBudget_StopsAndSaysMaxWork()
    {
        var graph = Analytics("a>b a>c a>d b>z c>z d>z");

        var r = Ok(graph.Paths(Sel("name=a"), Sel("name=z"), new PathOptions { AllSimplePaths = true, MaxWork = 9 }));

        // 6 edges to measure distances to z, then a>b, b>z (a path), a>c, and c>z is one too many.
        Assert.Equal("maxWork", r.TruncatedBy);
        Assert.True(r.Truncated);
        Assert.Equal(9, r.EdgesExamined);
        Assert.Equal("a>b>z", Paths(r));
    }
}
