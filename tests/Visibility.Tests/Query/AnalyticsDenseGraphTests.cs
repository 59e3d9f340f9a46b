using QuikGraph;
using QuikGraph.Algorithms;
using Visibility.Query.Analytics;
using Visibility.Query.Graph;
using static Visibility.Tests.Query.AnalyticsTestGraphs;

namespace Visibility.Tests.Query;

/// <summary>300 nodes, 5,000 distinct random edges (seeded): results checked against independent references.</summary>
public sealed class AnalyticsDenseGraphTests
{
    private static readonly GraphResponse Response = Random(300, 5_000, seed: 20_260_101);
    private static readonly GraphAnalytics Graph = GraphAnalytics.Build(Response);
    private static readonly HashSet<(string, string)> EdgeSet = Response.Edges.Select(e => (e.Source, e.Target)).ToHashSet();

    [Theory]
    [InlineData("id=n007", 1, false)]
    [InlineData("id=n007", 2, false)]
    [InlineData("id=n007", 3, false)]
    [InlineData("id=n123", 2, true)]
    [InlineData("env=dev,role=db", 1, false)]
    [InlineData("env=dev,role=db", 2, true)]
    [InlineData("env=test,role=db", 10, false)]
    public void Reach_Distances_MatchNaiveReference(string selector, int hops, bool reverse)
    {
        var starts = Graph.Select(Sel(selector)).Select(n => n.Id).ToList();
        var expected = NaiveDistances(Response, starts, hops, reverse);

        var r = Ok(Graph.Reach(Sel(selector), new ReachOptions { Hops = hops, Reverse = reverse, MaxNodes = 10_000, MaxEdges = 50_000 }));

        Assert.False(r.Truncated);
        Assert.Equal(
            expected.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}:{p.Value}"),
            r.Nodes.OrderBy(n => n.Id, StringComparer.Ordinal).Select(n => $"{n.Id}:{n.Hop}"));
        Assert.Equal(expected.Count - starts.Count, r.ReachedCount);

        // Usable edges: exactly those leaving (entering, in reverse) a node closer than the limit.
        var usable = Response.Edges.Count(e => expected.TryGetValue(reverse ? e.Target : e.Source, out var d) && d < hops);
        Assert.Equal(usable, r.EdgeCount);
        Assert.Equal(usable, r.Edges.Count);
    }

    [Fact]
    public void Reach_OneHop_StartsFromARealSampleWithKnownSize()
    {
        // Guards the generator: a reference that agrees with an empty graph would prove nothing.
        var r = Ok(Graph.Reach(Sel("id=n007"), new ReachOptions { Hops = 1 }));

        Assert.Equal(Response.Edges.Count(e => e.Source == "n007" && e.Target != "n007"), r.ReachedCount);
        Assert.InRange(r.ReachedCount, 5, 40);
    }

    [Fact]
    public void Shortest_Paths_AreRealEdgesAndAsShortAsQuikGraphDijkstraSays()
    {
        var r = Ok(Graph.Paths(Sel("env=dev,role=db"), Sel("env=prod,role=db"), new PathOptions { Hops = 3, MaxPaths = 1_000 }));

        Assert.False(r.Truncated);
        Assert.Equal((10, 10), (r.SourceCount, r.TargetCount));

        // Independent reference: QuikGraph's Dijkstra with unit weights over a graph of ids.
        var reference = new AdjacencyGraph<string, SEdge<string>>();
        reference.AddVertexRange(Response.Nodes.Select(n => n.Id));
        reference.AddVerticesAndEdgeRange(Response.Edges.Select(e => new SEdge<string>(e.Source, e.Target)));
        var expectedPairs = 0;
        foreach (var source in Graph.Select(Sel("env=dev,role=db")))
        {
            var tryPath = reference.ShortestPathsDijkstra(_ => 1.0, source.Id);
            foreach (var target in Graph.Select(Sel("env=prod,role=db")))
            {
                if (target.Id == source.Id || !tryPath(target.Id, out var edges) || edges.Count() > 3)
                {
                    Assert.DoesNotContain(r.Paths, p => p.Source == source.Id && p.Target == target.Id);
                    continue;
                }

                expectedPairs++;
                var path = Assert.Single(r.Paths, p => p.Source == source.Id && p.Target == target.Id);
                Assert.Equal(edges.Count(), path.Hops);
                AssertRealPath(path);
            }
        }

        Assert.Equal(expectedPairs, r.Paths.Count);
        Assert.True(expectedPairs > 20, $"only {expectedPairs} pairs: the sample is too sparse to test anything");
    }

    [Fact]
    public void Simple_CapOnADenseGraph_ReturnsPromptlyWithValidPaths()
    {
        var r = Ok(Graph.Paths(Sel("env=dev"), Sel("env=prod,role=db"), new PathOptions { Hops = 10, MaxPaths = 1_000, AllSimplePaths = true }));

        Assert.True(r.Truncated);
        Assert.Equal("maxPaths", r.TruncatedBy);
        Assert.Equal(1_000, r.Paths.Count);
        // Bounded work, not wall time (this machine is shared): the search stays within its budget.
        Assert.InRange(r.EdgesExamined, 1, new PathOptions().MaxWork);
        var targets = Graph.Select(Sel("env=prod,role=db")).Select(n => n.Id).ToHashSet();
        foreach (var path in r.Paths)
        {
            AssertRealPath(path);
            Assert.Equal(path.Nodes.Count, path.Nodes.Distinct().Count());
            Assert.InRange(path.Hops, 1, 10);
            Assert.Equal("dev", Response.Nodes.Single(n => n.Id == path.Source).Labels["env"]);
            Assert.Contains(path.Target, targets);
            Assert.DoesNotContain(path.Nodes.Take(path.Hops), targets.Contains);
        }
    }

    [Fact]
    public void Simple_UnreachableTargets_WorkBudgetStopsTheSearchPromptly()
    {
        // Every edge into the targets removed: the distance pass prunes everything, so a wide search costs nothing.
        var targets = Response.Nodes.Where(n => n.Labels["role"] == "db").Select(n => n.Id).ToHashSet();
        var cut = GraphAnalytics.Build(Response with { Edges = Response.Edges.Where(e => !targets.Contains(e.Target)).ToList() });
        var none = Ok(cut.Paths(Sel("env=dev"), Sel("role=db"), new PathOptions { Hops = 10, AllSimplePaths = true, MaxPaths = 1_000 }));
        Assert.Empty(none.Paths);
        Assert.False(none.Truncated);

        // Reachable but plentiful, with a small budget: stops at the budget, not at the path cap.
        var r = Ok(Graph.Paths(Sel("env=dev"), Sel("env=prod,role=db"), new PathOptions { Hops = 10, MaxPaths = 1_000, AllSimplePaths = true, MaxWork = 5_100 }));

        // The distance pass examines each of the 5,000 edges at most once, leaving at least 100 for the search.
        Assert.Equal("maxWork", r.TruncatedBy);
        Assert.Equal(5_100, r.EdgesExamined);
        Assert.InRange(r.Paths.Count, 1, 99);
    }

    [Fact]
    public void Shortest_EveryNodeToEveryNode_StopsAtTheWorkBudget()
    {
        // 5,000 edges to measure distances, 5,000 for the first source's search, the second runs out part way.
        var r = Ok(Graph.Paths(Sel("kind=workload"), Sel("kind=workload"), new PathOptions { Hops = 10, MaxPaths = 1_000, MaxWork = 12_000 }));

        Assert.Equal("maxWork", r.TruncatedBy);
        Assert.Equal(12_000, r.EdgesExamined);
        Assert.Equal(299, r.Paths.Count(p => p.Source == "n000"));
        Assert.InRange(r.Paths.Count, 300, 999);
        Assert.All(r.Paths, AssertRealPath);
    }

    private static void AssertRealPath(GraphPath path)
    {
        Assert.Equal(path.Hops + 1, path.Nodes.Count);
        Assert.Equal(path.Source, path.Nodes[0]);
        Assert.Equal(path.Target, path.Nodes[^1]);
        for (var i = 0; i < path.Hops; i++)
        {
            Assert.Contains((path.Nodes[i], path.Nodes[i + 1]), EdgeSet);
        }
    }
}
