using Visibility.Query.Analytics;
using Visibility.Query.Graph;

namespace Visibility.Tests.Query;

/// <summary>Hand-built graphs for the analytics tests.</summary>
internal static class AnalyticsTestGraphs
{
    private static readonly DateTimeOffset Seen = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A workload labelled <c>name=&lt;id&gt;</c> plus <paramref name="labels"/> (<c>env=dev</c> ...).</summary>
    public static GraphNode Node(string id, params string[] labels) => KindNode(id, "workload", labels);

    public static GraphNode KindNode(string id, string kind, params string[] labels)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal) { ["name"] = id };
        foreach (var label in labels)
        {
            var parts = label.Split('=', 2);
            map[parts[0]] = parts[1];
        }

        return new GraphNode(id, kind, map);
    }

    public static GraphEdge Edge(string source, string target, long flows = 1) =>
        new(source, target, flows, flows * 100, flows * 2, ["tcp/443"], false, [], Seen, Seen);

    /// <summary>
    /// A graph from <c>"a>b b>c"</c>; nodes named only in edges are plain workloads, <paramref name="nodes"/>
    /// replace them when they carry more labels.
    /// </summary>
    public static GraphResponse Graph(string edges, params GraphNode[] nodes)
    {
        var edgeList = edges.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('>'))
            .Select(p => Edge(p[0], p[1]))
            .ToList();
        var byId = nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        foreach (var e in edgeList)
        {
            byId.TryAdd(e.Source, Node(e.Source));
            byId.TryAdd(e.Target, Node(e.Target));
        }

        return new GraphResponse(Seen, Seen.AddHours(1), ["name"], byId.Values.OrderBy(n => n.Id, StringComparer.Ordinal).ToList(), edgeList, false);
    }

    public static GraphAnalytics Analytics(string edges, params GraphNode[] nodes) => GraphAnalytics.Build(Graph(edges, nodes));

    public static NodeSelector Sel(string text)
    {
        var parsed = NodeSelector.Parse(text);
        Assert.True(parsed.IsValid, parsed.Error);
        return parsed.Value;
    }

    public static T Ok<T>(AnalyticsResult<T> result)
        where T : class
    {
        Assert.True(result.IsValid, result.Error);
        return result.Value;
    }

    /// <summary>
    /// A seeded random graph: <paramref name="nodeCount"/> nodes <c>n000</c>..., <paramref name="edgeCount"/>
    /// distinct directed edges (self-loops included), env cycling dev/prod/test, every tenth node role=db.
    /// </summary>
    public static GraphResponse Random(int nodeCount, int edgeCount, int seed)
    {
        var random = new Random(seed);
        var envs = new[] { "dev", "prod", "test" };
        var nodes = Enumerable.Range(0, nodeCount)
            .Select(i => i % 10 == 0
                ? Node(Name(i), "env=" + envs[i % 3], "role=db")
                : Node(Name(i), "env=" + envs[i % 3], "role=app"))
            .ToList();
        var seen = new HashSet<(int, int)>();
        var edges = new List<GraphEdge>(edgeCount);
        while (edges.Count < edgeCount)
        {
            var (s, t) = (random.Next(nodeCount), random.Next(nodeCount));
            if (seen.Add((s, t)))
            {
                edges.Add(Edge(Name(s), Name(t), random.Next(1, 50)));
            }
        }

        return new GraphResponse(Seen, Seen.AddHours(1), ["name"], nodes, edges, false);

        static string Name(int i) => $"n{i:D3}";
    }

    /// <summary>
    /// Reference hop distances: <paramref name="hops"/> rounds of relaxing every edge from the previous round's
    /// distances (Bellman-Ford with unit weights), nothing shared with the code under test.
    /// </summary>
    public static Dictionary<string, int> NaiveDistances(GraphResponse graph, IEnumerable<string> starts, int hops, bool reverse)
    {
        var dist = starts.ToDictionary(s => s, _ => 0, StringComparer.Ordinal);
        for (var round = 1; round <= hops; round++)
        {
            var next = new Dictionary<string, int>(dist, StringComparer.Ordinal);
            foreach (var e in graph.Edges)
            {
                var (from, to) = reverse ? (e.Target, e.Source) : (e.Source, e.Target);
                if (dist.ContainsKey(from) && !next.ContainsKey(to))
                {
                    next[to] = round;
                }
            }

            dist = next;
        }

        return dist;
    }
}
