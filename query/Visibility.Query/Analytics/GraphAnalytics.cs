using QuikGraph;
using QuikGraph.Algorithms;
using Visibility.Query.Graph;

namespace Visibility.Query.Analytics;

/// <summary>
/// Reachability, paths and cycles over one <see cref="GraphResponse"/>. Build it once per request with
/// <see cref="Build"/>; every method then reads the same QuikGraph graph, whose vertices are node indices in
/// id order (so sorting by index is sorting by id) and whose edge tags index <see cref="GraphResponse.Edges"/>.
/// All edges are kept, whatever their flow count, in the direction the connections were initiated.
/// </summary>
/// <remarks>
/// Reachability and paths use a bounded breadth-first search of our own over the QuikGraph graph rather than
/// QuikGraph's <c>BreadthFirstSearchAlgorithm</c>: that one starts from a single root (a group has many), has
/// no depth cut (its edge filter sees edges, not depths) and resets a colour for every vertex on each run,
/// which a search per source node would pay again and again. Cycles use QuikGraph's strongly connected
/// components as they are. An instance is not safe for concurrent use: the searches share scratch arrays.
/// </remarks>
public sealed partial class GraphAnalytics
{
    private readonly GraphNode[] _nodes;
    private readonly GraphEdge[] _edges;
    private readonly Dictionary<string, int> _index;
    private readonly BidirectionalGraph<int, STaggedEdge<int, int>> _graph;
    private readonly BoundedBfs _bfs;

    private GraphAnalytics(GraphNode[] nodes, GraphEdge[] edges, Dictionary<string, int> index, BidirectionalGraph<int, STaggedEdge<int, int>> graph)
    {
        _nodes = nodes;
        _edges = edges;
        _index = index;
        _graph = graph;
        _bfs = new BoundedBfs(graph, nodes.Length);
    }

    public int NodeCount => _nodes.Length;

    public int EdgeCount => _edges.Length;

    /// <summary>
    /// The graph of <paramref name="response"/>. An edge whose end is missing from its nodes gets a bare node
    /// (empty kind, no labels) so that no traffic is dropped; a node listed twice keeps its first entry.
    /// </summary>
    public static GraphAnalytics Build(GraphResponse response)
    {
        var byId = new Dictionary<string, GraphNode>(StringComparer.Ordinal);
        foreach (var node in response.Nodes)
        {
            byId.TryAdd(node.Id, node);
        }

        var noLabels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var edge in response.Edges)
        {
            byId.TryAdd(edge.Source, new GraphNode(edge.Source, "", noLabels));
            byId.TryAdd(edge.Target, new GraphNode(edge.Target, "", noLabels));
        }

        var nodes = byId.Values.ToArray();
        Array.Sort(nodes, (a, b) => string.CompareOrdinal(a.Id, b.Id));
        var index = new Dictionary<string, int>(nodes.Length, StringComparer.Ordinal);
        var graph = new BidirectionalGraph<int, STaggedEdge<int, int>>(allowParallelEdges: true, nodes.Length);
        for (var i = 0; i < nodes.Length; i++)
        {
            index.Add(nodes[i].Id, i);
            graph.AddVertex(i);
        }

        var edges = response.Edges.ToArray();
        for (var i = 0; i < edges.Length; i++)
        {
            graph.AddEdge(new STaggedEdge<int, int>(index[edges[i].Source], index[edges[i].Target], i));
        }

        return new GraphAnalytics(nodes, edges, index, graph);
    }

    /// <summary>The nodes <paramref name="selector"/> names, sorted by id.</summary>
    public IReadOnlyList<GraphNode> Select(NodeSelector selector) => Match(selector).Select(i => _nodes[i]).ToList();

    /// <summary>
    /// The blast radius of a group: every node within <see cref="ReachOptions.Hops"/> hops of it, with its
    /// distance, and the edges usable within that many hops (see <see cref="ReachResult"/>).
    /// </summary>
    public AnalyticsResult<ReachResult> Reach(NodeSelector group, ReachOptions options)
    {
        if (options.Validate() is { } error)
        {
            return AnalyticsResult.Invalid<ReachResult>(error);
        }

        var starts = Match(group);
        var examined = new List<(int Edge, int Hop)>();
        long work = 0;
        _bfs.Run(starts, options.Hops, options.Reverse, toTarget: null, examined, ref work, long.MaxValue);

        var reached = _bfs.Order.ToArray();
        var dist = _bfs.Dist;
        Array.Sort(reached, (a, b) => dist[a] != dist[b] ? dist[a].CompareTo(dist[b]) : a.CompareTo(b));
        var countByHop = new int[options.Hops + 1];
        foreach (var v in reached)
        {
            countByHop[dist[v]]++;
        }

        var listedCount = Math.Min(reached.Length, options.MaxNodes);
        var listed = new bool[_nodes.Length];
        var nodes = new List<ReachedNode>(listedCount);
        for (var i = 0; i < listedCount; i++)
        {
            var v = reached[i];
            listed[v] = true;
            var parent = _bfs.ParentEdge[v];
            var via = parent < 0 ? null : options.Reverse ? _edges[parent].Target : _edges[parent].Source;
            nodes.Add(new ReachedNode(_nodes[v].Id, _nodes[v].Kind, _nodes[v].Labels, dist[v], via));
        }

        var edges = new List<ReachedEdge>(Math.Min(examined.Count, options.MaxEdges));
        var edgesCut = false;
        foreach (var (e, hop) in examined)
        {
            var edge = _edges[e];
            if (!listed[_index[edge.Source]] || !listed[_index[edge.Target]])
            {
                edgesCut = true;
            }
            else if (edges.Count == options.MaxEdges)
            {
                edgesCut = true;
                break;
            }
            else
            {
                edges.Add(new ReachedEdge(edge.Source, edge.Target, hop, edge.Flows, edge.Bytes));
            }
        }

        return AnalyticsResult.Ok(new ReachResult(
            group.Text, options.Reverse ? "reverse" : "forward", options.Hops, starts.Length, reached.Length - starts.Length,
            countByHop, examined.Count, nodes, edges, reached.Length > listedCount || edgesCut));
    }

    /// <summary>
    /// Strongly connected components of more than one node: groups in which every node reaches every other,
    /// that is dependency cycles. A node whose only cycle is a self-loop is not listed.
    /// </summary>
    public AnalyticsResult<CyclesResult> Cycles(CycleOptions options)
    {
        if (options.Validate() is { } error)
        {
            return AnalyticsResult.Invalid<CyclesResult>(error);
        }

        var componentOf = new Dictionary<int, int>(_nodes.Length);
        var count = _graph.StronglyConnectedComponents(componentOf);
        var members = new List<int>[count];
        for (var v = 0; v < _nodes.Length; v++)
        {
            (members[componentOf[v]] ??= []).Add(v);
        }

        var edgeCounts = new int[count];
        foreach (var edge in _graph.Edges)
        {
            if (componentOf[edge.Source] == componentOf[edge.Target])
            {
                edgeCounts[componentOf[edge.Source]]++;
            }
        }

        // Members are added in index order, so each list is sorted by id and its first entry is its smallest id.
        var cyclic = Enumerable.Range(0, count)
            .Where(c => members[c].Count > 1)
            .OrderByDescending(c => members[c].Count)
            .ThenBy(c => members[c][0])
            .ToList();

        var components = new List<CycleComponent>(Math.Min(cyclic.Count, options.MaxComponents));
        var budget = options.MaxNodes;
        var truncated = cyclic.Count > options.MaxComponents;
        foreach (var c in cyclic.Take(options.MaxComponents))
        {
            var list = members[c];
            var take = Math.Min(list.Count, budget);
            budget -= take;
            truncated |= take < list.Count;
            components.Add(new CycleComponent(list.Count, edgeCounts[c], list.Take(take).Select(v => _nodes[v].Id).ToList(), take < list.Count));
        }

        return AnalyticsResult.Ok(new CyclesResult(cyclic.Count, cyclic.Sum(c => members[c].Count), components, truncated));
    }

    private int[] Match(NodeSelector selector)
    {
        if (selector.Id is not null)
        {
            return _index.TryGetValue(selector.Id, out var i) ? [i] : [];
        }

        var matched = new List<int>();
        for (var i = 0; i < _nodes.Length; i++)
        {
            if (selector.Matches(_nodes[i]))
            {
                matched.Add(i);
            }
        }

        return matched.ToArray();
    }
}
