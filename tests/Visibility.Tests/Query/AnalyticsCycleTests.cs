using Visibility.Query.Analytics;
using Visibility.Query.Graph;
using static Visibility.Tests.Query.AnalyticsTestGraphs;

namespace Visibility.Tests.Query;

public sealed class AnalyticsCycleTests
{
    private static string Components(CyclesResult r) => string.Join(' ', r.Components.Select(c => string.Join(',', c.Nodes)));

    [Fact]
    public void Cycles_ThreeCycleAndSelfLoopSingleton_ListsOnlyTheThreeCycle()
    {
        var graph = Analytics("a>b b>c c>a c>d d>d e>a");

        var r = Ok(graph.Cycles(new CycleOptions()));

        var component = Assert.Single(r.Components);
        Assert.Equal(["a", "b", "c"], component.Nodes);
        Assert.Equal(3, component.Size);
        Assert.Equal(3, component.EdgeCount);
        Assert.Equal((1, 3), (r.ComponentCount, r.NodesInCycles));
        Assert.False(r.Truncated);
    }

    [Fact]
    public void Cycles_SeveralComponents_LargestFirstThenById()
    {
        var graph = Analytics("x>y y>x p>q q>p a>b b>c c>d d>a a>c q>a k>l");

        var r = Ok(graph.Cycles(new CycleOptions()));

        Assert.Equal("a,b,c,d p,q x,y", Components(r));
        Assert.Equal([4, 2, 2], r.Components.Select(c => c.Size));
        Assert.Equal([5, 2, 2], r.Components.Select(c => c.EdgeCount));
        Assert.Equal((3, 8), (r.ComponentCount, r.NodesInCycles));
    }

    [Fact]
    public void Cycles_DiamondAndDisconnectedChains_None()
    {
        var r = Ok(Analytics("a>b a>c b>d c>d x>y").Cycles(new CycleOptions()));

        Assert.Empty(r.Components);
        Assert.Equal((0, 0), (r.ComponentCount, r.NodesInCycles));
    }

    [Fact]
    public void Cycles_Caps_CutListsKeepSizesAndSayTruncated()
    {
        var graph = Analytics("a>b b>c c>a x>y y>x");

        var oneComponent = Ok(graph.Cycles(new CycleOptions { MaxComponents = 1 }));
        Assert.Equal("a,b,c", Components(oneComponent));
        Assert.Equal(2, oneComponent.ComponentCount);
        Assert.True(oneComponent.Truncated);

        var fourNodes = Ok(graph.Cycles(new CycleOptions { MaxNodes = 4 }));
        Assert.Equal("a,b,c x", Components(fourNodes));
        Assert.Equal([false, true], fourNodes.Components.Select(c => c.Truncated));
        Assert.Equal([3, 2], fourNodes.Components.Select(c => c.Size));
        Assert.True(fourNodes.Truncated);
    }

    [Fact]
    public void Cycles_RingAsLongAsTheGraphEdgeLimit_OneComponentWithoutOverflowingTheStack()
    {
        const int n = GraphQuery.MaxLimit;
        var graph = Analytics(string.Join(' ', Enumerable.Range(0, n).Select(i => $"n{i:D6}>n{(i + 1) % n:D6}")));

        var r = Ok(graph.Cycles(new CycleOptions { MaxNodes = 10 }));

        var component = Assert.Single(r.Components);
        Assert.Equal(n, component.Size);
        Assert.Equal(n, component.EdgeCount);
        Assert.Equal(10, component.Nodes.Count);
        Assert.Equal("n000000", component.Nodes[0]);
        Assert.True(r.Truncated);
    }
}
