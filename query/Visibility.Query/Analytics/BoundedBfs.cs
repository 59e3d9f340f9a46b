using QuikGraph;

namespace Visibility.Query.Analytics;

/// <summary>
/// Multi-source breadth-first search over a QuikGraph graph that stops at a hop limit, along edges or against
/// them. Its arrays are reused between runs: a vertex counts as seen only when its stamp is the current run's,
/// so a run costs what it visits, not the size of the graph.
/// </summary>
internal sealed class BoundedBfs(IBidirectionalGraph<int, STaggedEdge<int, int>> graph, int vertexCount)
{
    private readonly int[] _stamp = new int[vertexCount];
    private int _run;

    /// <summary>Hop distance of each vertex seen in the last run.</summary>
    public int[] Dist { get; } = new int[vertexCount];

    /// <summary>Tag of the edge each vertex was first reached through in the last run; -1 for start vertices.</summary>
    public int[] ParentEdge { get; } = new int[vertexCount];

    /// <summary>Vertices seen in the last run, in the order they were reached (so by non-decreasing distance).</summary>
    public List<int> Order { get; } = [];

    public bool Seen(int vertex) => _stamp[vertex] == _run;

    /// <summary>
    /// Searches from <paramref name="starts"/> up to <paramref name="hops"/> hops. With <paramref name="toTarget"/>
    /// (each vertex's distance to the nearest target, -1 when none is within reach), a vertex is only entered
    /// when a target is still reachable from it within the hop budget; vertices on shortest paths to targets
    /// always are, so distances to targets stay exact. Every edge looked at adds one to <paramref name="work"/>
    /// and, with the hop at which it is crossed, to <paramref name="examined"/>. Returns false when
    /// <paramref name="maxWork"/> ran out before the search finished.
    /// </summary>
    public bool Run(ReadOnlySpan<int> starts, int hops, bool reverse, int[]? toTarget, List<(int Edge, int Hop)>? examined, ref long work, long maxWork)
    {
        _run++;
        Order.Clear();
        foreach (var s in starts)
        {
            if (!Seen(s))
            {
                Enter(s, 0, -1);
            }
        }

        for (var head = 0; head < Order.Count; head++)
        {
            var u = Order[head];
            var next = Dist[u] + 1;
            if (next > hops)
            {
                // Order is by distance: every vertex after this one is at the limit too.
                break;
            }

            foreach (var edge in reverse ? graph.InEdges(u) : graph.OutEdges(u))
            {
                if (++work > maxWork)
                {
                    return false;
                }

                examined?.Add((edge.Tag, next));
                var w = reverse ? edge.Source : edge.Target;
                if (Seen(w) || (toTarget is not null && (toTarget[w] < 0 || next + toTarget[w] > hops)))
                {
                    continue;
                }

                Enter(w, next, edge.Tag);
            }
        }

        return true;
    }

    private void Enter(int vertex, int dist, int parentEdge)
    {
        _stamp[vertex] = _run;
        Dist[vertex] = dist;
        ParentEdge[vertex] = parentEdge;
        Order.Add(vertex);
    }
}
