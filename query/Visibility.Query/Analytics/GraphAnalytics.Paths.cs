using QuikGraph;

namespace Visibility.Query.Analytics;

public sealed partial class GraphAnalytics
{
    /// <summary>
    /// Paths from the nodes of <paramref name="from"/> to the nodes of <paramref name="to"/>, at most
    /// <see cref="PathOptions.Hops"/> edges long, sources in id order.
    /// <para>Shortest (the default): for each source, one shortest path to every target it reaches (a
    /// breadth-first search per source, the nearest targets first, ties by id; a path is never from a node
    /// to itself).</para>
    /// <para>All simple paths: every path without a repeated node that ends at the first target it meets,
    /// found depth first.</para>
    /// Both first compute each node's distance to the targets, against the edges, and then enter only nodes from
    /// which a target is still within the hop budget, so dead ends of a dense graph are not explored. Both stop
    /// at <see cref="PathOptions.MaxPaths"/> or <see cref="PathOptions.MaxWork"/> edges examined and say which.
    /// </summary>
    public AnalyticsResult<PathsResult> Paths(NodeSelector from, NodeSelector to, PathOptions options, CancellationToken cancellationToken = default)
    {
        if (options.Validate() is { } error)
        {
            return AnalyticsResult.Invalid<PathsResult>(error);
        }

        var sources = Match(from);
        var targets = Match(to);
        var isTarget = new bool[_nodes.Length];
        foreach (var t in targets)
        {
            isTarget[t] = true;
        }

        long work = 0;
        var paths = new List<GraphPath>();
        string? truncatedBy = null;
        if (!_bfs.Run(targets, options.Hops, reverse: true, toTarget: null, examined: null, ref work, options.MaxWork))
        {
            truncatedBy = "maxWork";
        }
        else
        {
            var toTarget = new int[_nodes.Length];
            Array.Fill(toTarget, -1);
            foreach (var v in _bfs.Order)
            {
                toTarget[v] = _bfs.Dist[v];
            }

            truncatedBy = options.AllSimplePaths
                ? SimplePaths(sources, isTarget, toTarget, options, paths, ref work, cancellationToken)
                : ShortestPaths(sources, isTarget, toTarget, options, paths, ref work, cancellationToken);
        }

        return AnalyticsResult.Ok(new PathsResult(
            from.Text, to.Text, options.AllSimplePaths ? "simple" : "shortest", options.Hops, sources.Length, targets.Length,
            paths, Math.Min(work, options.MaxWork), truncatedBy is not null, truncatedBy));
    }

    private string? ShortestPaths(int[] sources, bool[] isTarget, int[] toTarget, PathOptions options, List<GraphPath> paths, ref long work, CancellationToken cancellationToken)
    {
        var found = new List<int>();
        foreach (var s in sources)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (toTarget[s] < 0)
            {
                continue;
            }

            var complete = _bfs.Run([s], options.Hops, reverse: false, toTarget, examined: null, ref work, options.MaxWork);
            found.Clear();
            foreach (var v in _bfs.Order)
            {
                if (isTarget[v] && v != s)
                {
                    found.Add(v);
                }
            }

            var dist = _bfs.Dist;
            found.Sort((a, b) => dist[a] != dist[b] ? dist[a].CompareTo(dist[b]) : a.CompareTo(b));
            foreach (var t in found)
            {
                if (paths.Count == options.MaxPaths)
                {
                    return "maxPaths";
                }

                var nodes = new string[dist[t] + 1];
                for (var (v, i) = (t, dist[t]); i >= 0; i--)
                {
                    nodes[i] = _nodes[v].Id;
                    v = i > 0 ? _index[_edges[_bfs.ParentEdge[v]].Source] : v;
                }

                paths.Add(new GraphPath(_nodes[s].Id, _nodes[t].Id, dist[t], nodes));
            }

            if (!complete)
            {
                return "maxWork";
            }
        }

        return null;
    }

    private string? SimplePaths(int[] sources, bool[] isTarget, int[] toTarget, PathOptions options, List<GraphPath> paths, ref long work, CancellationToken cancellationToken)
    {
        var onPath = new bool[_nodes.Length];
        var path = new List<int>(options.Hops + 1);
        var frames = new Stack<IEnumerator<STaggedEdge<int, int>>>(options.Hops + 1);
        try
        {
            foreach (var s in sources)
            {
                if (toTarget[s] < 0)
                {
                    continue;
                }

                Push(s);
                while (frames.Count > 0)
                {
                    var edges = frames.Peek();
                    if (!edges.MoveNext())
                    {
                        Pop();
                        continue;
                    }

                    if (++work > options.MaxWork)
                    {
                        return "maxWork";
                    }

                    if ((work & 0xFFF) == 0)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                    }

                    var v = edges.Current.Target;
                    var length = path.Count;
                    if (onPath[v])
                    {
                        continue;
                    }

                    if (isTarget[v])
                    {
                        if (paths.Count == options.MaxPaths)
                        {
                            return "maxPaths";
                        }

                        var nodes = new string[length + 1];
                        for (var i = 0; i < length; i++)
                        {
                            nodes[i] = _nodes[path[i]].Id;
                        }

                        nodes[length] = _nodes[v].Id;
                        paths.Add(new GraphPath(nodes[0], nodes[length], length, nodes));
                    }
                    else if (length < options.Hops && toTarget[v] >= 0 && length + toTarget[v] <= options.Hops)
                    {
                        Push(v);
                    }
                }
            }

            return null;
        }
        finally
        {
            while (frames.Count > 0)
            {
                Pop();
            }
        }

        void Push(int v)
        {
            onPath[v] = true;
            path.Add(v);
            frames.Push(_graph.OutEdges(v).GetEnumerator());
        }

        void Pop()
        {
            frames.Pop().Dispose();
            onPath[path[^1]] = false;
            path.RemoveAt(path.Count - 1);
        }
    }
}
