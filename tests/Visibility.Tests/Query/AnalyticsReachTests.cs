using System.Text.Json;
using Visibility.Query.Analytics;
using static Visibility.Tests.Query.AnalyticsTestGraphs;

namespace Visibility.Tests.Query;

public sealed class AnalyticsReachTests
{
    private static string Hops(ReachResult r) => string.Join(' ', r.Nodes.Select(n => $"{n.Id}:{n.Hop}"));

    private static string Edges(ReachResult r) => string.Join(' ', r.Edges.Select(e => $"{e.Source}>{e.Target}:{e.Hop}"));

    [Fact]
    public void Reach_Chain_ListsDistancesViaAndTraversedEdges()
    {
        var graph = Analytics("a>b b>c c>d d>e");

        var r = Ok(graph.Reach(Sel("name=a"), new ReachOptions { Hops = 3 }));

        Assert.Equal("a:0 b:1 c:2 d:3", Hops(r));
        Assert.Equal([null, "a", "b", "c"], r.Nodes.Select(n => n.Via));
        Assert.Equal("a>b:1 b>c:2 c>d:3", Edges(r));
        Assert.Equal([1, 1, 1, 1], r.CountByHop);
        Assert.Equal(1, r.StartCount);
        Assert.Equal(3, r.ReachedCount);
        Assert.Equal(3, r.EdgeCount);
        Assert.Equal("forward", r.Direction);
        Assert.False(r.Truncated);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(9)]
    [InlineData(10)]
    public void Reach_ChainOfEleven_NodeAtExactlyKIncludedAndKPlusOneExcluded(int k)
    {
        var graph = Analytics(string.Join(' ', Enumerable.Range(0, 11).Select(i => $"n{i:D2}>n{i + 1:D2}")));

        var r = Ok(graph.Reach(Sel("name=n00"), new ReachOptions { Hops = k }));

        Assert.Equal(k, r.ReachedCount);
        Assert.Equal($"n{k:D2}", r.Nodes[^1].Id);
        Assert.Equal(k, r.Nodes[^1].Hop);
        Assert.DoesNotContain(r.Nodes, n => n.Id == $"n{k + 1:D2}");
        Assert.Equal(k, r.EdgeCount);
    }

    [Fact]
    public void Reach_Diamond_ReachesJoinOnceAtShortestHopAndListsBothBranches()
    {
        var graph = Analytics("a>b a>c b>d c>d d>e");

        var two = Ok(graph.Reach(Sel("name=a"), new ReachOptions { Hops = 2 }));
        Assert.Equal("a:0 b:1 c:1 d:2", Hops(two));
        Assert.Equal("b", two.Nodes.Single(n => n.Id == "d").Via);
        Assert.Equal("a>b:1 a>c:1 b>d:2 c>d:2", Edges(two));
        Assert.Equal([1, 2, 1], two.CountByHop);

        var one = Ok(graph.Reach(Sel("name=a"), new ReachOptions { Hops = 1 }));
        Assert.Equal("a:0 b:1 c:1", Hops(one));
        Assert.Equal("a>b:1 a>c:1", Edges(one));
    }

    [Fact]
    public void Reach_Reverse_ListsWhoCanReachTheGroupWithEdgesInTheirOwnDirection()
    {
        var graph = Analytics("a>b b>c c>d x>c d>y");

        var r = Ok(graph.Reach(Sel("name=d"), new ReachOptions { Hops = 2, Reverse = true }));

        Assert.Equal("d:0 c:1 b:2 x:2", Hops(r));
        Assert.Equal([null, "d", "c", "c"], r.Nodes.Select(n => n.Via));
        Assert.Equal("c>d:1 b>c:2 x>c:2", Edges(r));
        Assert.Equal("reverse", r.Direction);
        Assert.DoesNotContain(r.Nodes, n => n.Id is "a" or "y");
    }

    [Fact]
    public void Reach_DisconnectedParts_StayApart()
    {
        var graph = Analytics("a>b b>c x>y y>z");

        var r = Ok(graph.Reach(Sel("name=x"), new ReachOptions { Hops = 10 }));

        Assert.Equal("x:0 y:1 z:2", Hops(r));
        Assert.Equal(2, r.EdgeCount);
    }

    [Fact]
    public void Reach_SelfLoopsAndCycles_TerminateAndListEachEdgeOnce()
    {
        var graph = Analytics("a>a a>b b>a b>c c>c");

        var r = Ok(graph.Reach(Sel("name=a"), new ReachOptions { Hops = 10 }));

        Assert.Equal("a:0 b:1 c:2", Hops(r));
        Assert.Equal("a>a:1 a>b:1 b>a:2 b>c:2 c>c:3", Edges(r));
        Assert.Equal(5, r.EdgeCount);
    }

    [Fact]
    public void Reach_GroupOfSeveralNodes_MeasuresFromTheNearest()
    {
        var graph = Analytics("a>b b>c c>d d>e", Node("a", "env=dev"), Node("c", "env=dev"));

        var r = Ok(graph.Reach(Sel("env=dev"), new ReachOptions { Hops = 1 }));

        Assert.Equal("a:0 c:0 b:1 d:1", Hops(r));
        Assert.Equal([2, 2], r.CountByHop);
        Assert.Equal(2, r.StartCount);
        Assert.Equal(2, r.ReachedCount);
        Assert.Equal("a>b:1 c>d:1", Edges(r));
    }

    [Fact]
    public void Reach_NodeCap_KeepsNearestFirstCountsExactAndSaysTruncated()
    {
        var graph = Analytics("a>b5 a>b4 a>b3 a>b2 a>b1 b1>c b1>b2");

        var r = Ok(graph.Reach(Sel("name=a"), new ReachOptions { Hops = 3, MaxNodes = 3 }));

        Assert.Equal("a:0 b1:1 b2:1", Hops(r));
        Assert.True(r.Truncated);
        Assert.Equal(6, r.ReachedCount);
        Assert.Equal([1, 5, 1, 0], r.CountByHop);
        Assert.Equal(7, r.EdgeCount);
        Assert.Equal("a>b2:1 a>b1:1 b1>b2:2", Edges(r));
    }

    [Fact]
    public void Reach_EdgeCap_CutsEdgesAndSaysTruncated()
    {
        var graph = Analytics("a>b a>c a>d");

        var r = Ok(graph.Reach(Sel("name=a"), new ReachOptions { Hops = 1, MaxEdges = 2 }));

        Assert.Equal(4, r.Nodes.Count);
        Assert.Equal("a>b:1 a>c:1", Edges(r));
        Assert.Equal(3, r.EdgeCount);
        Assert.True(r.Truncated);

        Assert.False(Ok(graph.Reach(Sel("name=a"), new ReachOptions { Hops = 1, MaxEdges = 3 })).Truncated);
    }

    [Fact]
    public void Reach_SelectorMatchingNothing_IsAnEmptyResult()
    {
        var r = Ok(Analytics("a>b").Reach(Sel("env=prod"), new ReachOptions()));

        Assert.Equal(0, r.StartCount);
        Assert.Empty(r.Nodes);
        Assert.Empty(r.Edges);
        Assert.Equal([0, 0, 0, 0], r.CountByHop);
    }

    [Fact]
    public void Reach_Json_IsCamelCase()
    {
        var r = Ok(Analytics("a>b").Reach(Sel("name=a"), new ReachOptions { Hops = 1 }));

        var json = JsonSerializer.Serialize(r);

        Assert.Equal(
            """{"selector":"name=a","direction":"forward","hops":1,"startCount":1,"reachedCount":1,"countByHop":[1,1],"edgeCount":1,"nodes":[{"id":"a","kind":"workload","labels":{"name":"a"},"hop":0,"via":null},{"id":"b","kind":"workload","labels":{"name":"b"},"hop":1,"via":"a"}],"edges":[{"source":"a","target":"b","hop":1,"flows":1,"bytes":100}],"truncated":false}""",
            json);
    }

    [Fact]
    public void Build_EdgeToUnlistedNode_AddsBareNodeRatherThanDroppingTraffic()
    {
        var response = Graph("a>b") with { Nodes = [Node("a")] };

        var r = Ok(GraphAnalytics.Build(response).Reach(Sel("name=a"), new ReachOptions { Hops = 1 }));

        var b = r.Nodes.Single(n => n.Id == "b");
        Assert.Equal("", b.Kind);
        Assert.Empty(b.Labels);
    }
}
