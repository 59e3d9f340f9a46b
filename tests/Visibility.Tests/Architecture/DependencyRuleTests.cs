using System.Xml.Linq;

namespace Visibility.Tests.Architecture;

/// <summary>
/// The projects follow the pipeline (README, "Where things are"): model ← store ← ingest and query; query ← export
/// and policy; the program (web) on top. Development tooling is referenced by the program alone. Each product
/// project's references, read from its .csproj, must be among those the rule allows, and the model and query carry
/// no broker or store client.
/// </summary>
public sealed class DependencyRuleTests
{
    /// <summary>Every product project and the projects it may reference directly.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Allowed = new Dictionary<string, string[]>
    {
        ["ingest/Visibility.Flows"] = [],
        ["ingest/Visibility.Flows.Store"] = ["ingest/Visibility.Flows"],
        ["ingest/Visibility.Ingest"] = ["ingest/Visibility.Flows", "ingest/Visibility.Flows.Store"],
        ["ingest/Visibility.Ingest.Dev"] = ["ingest/Visibility.Flows", "ingest/Visibility.Flows.Store", "ingest/Visibility.Ingest"],
        ["query/Visibility.Query"] = ["ingest/Visibility.Flows", "ingest/Visibility.Flows.Store"],
        ["query/Visibility.Query.Export"] = ["ingest/Visibility.Flows", "ingest/Visibility.Flows.Store", "query/Visibility.Query"],
        ["query/Visibility.Query.Policy"] = ["ingest/Visibility.Flows", "ingest/Visibility.Flows.Store", "query/Visibility.Query"],
        ["web"] =
        [
            "ingest/Visibility.Flows", "ingest/Visibility.Flows.Store", "ingest/Visibility.Ingest", "ingest/Visibility.Ingest.Dev",
            "query/Visibility.Query", "query/Visibility.Query.Export", "query/Visibility.Query.Policy",
        ],
    };

    /// <summary>Packages a project must not carry: clients of what it must not talk to.</summary>
    private static readonly IReadOnlyDictionary<string, string[]> ForbiddenPackages = new Dictionary<string, string[]>
    {
        ["ingest/Visibility.Flows"] = ["ClickHouse.Driver", "Confluent.Kafka", "KubernetesClient"],
        ["query/Visibility.Query"] = ["Confluent.Kafka", "KubernetesClient"],
    };

    public static TheoryData<string> Projects => [.. Allowed.Keys];

    [Theory]
    [MemberData(nameof(Projects))]
    public void ProjectReferences_StayWithinTheRule(string project)
    {
        var references = References(Repository.Root, project);
        var beyond = references.Except(Allowed[project], StringComparer.Ordinal).ToList();
        Assert.True(beyond.Count == 0, $"{project} reaches past the dependency rule: {string.Join(", ", beyond)}");
    }

    [Theory]
    [MemberData(nameof(Projects))]
    public void Packages_LeaveOutForbiddenClients(string project)
    {
        var packages = Project(Repository.Root, project).Descendants("PackageReference").Select(p => (string?)p.Attribute("Include")).ToList();
        var forbidden = packages.Intersect(ForbiddenPackages.GetValueOrDefault(project, []), StringComparer.Ordinal).ToList();
        Assert.True(forbidden.Count == 0, $"{project} must not reference {string.Join(", ", forbidden)}");
    }

    [Fact]
    public void EveryProductProject_IsUnderTheRule()
    {
        var root = Repository.Root;
        var projects = new[] { "ingest", "query", "web" }
            .SelectMany(top => Directory.EnumerateFiles(Path.Combine(root, top), "*.csproj", SearchOption.AllDirectories))
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}node_modules{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(p => Path.GetRelativePath(root, Path.GetDirectoryName(p)!).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(Allowed.Keys.Order(StringComparer.Ordinal), projects);
    }

    [Fact]
    public void CompiledAssemblies_ReferenceNoMoreThanTheirProjects()
    {
        // The model as built: nothing of the store, ingest, query or the clients they use.
        var model = typeof(global::Visibility.Flows.Model.FlowRecord).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain(model, name => name!.StartsWith("Visibility.", StringComparison.Ordinal));
        Assert.DoesNotContain(model, name => name is "ClickHouse.Driver" or "Confluent.Kafka");
        var query = typeof(global::Visibility.Query.Graph.GraphQuery).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain(query, name => name is "Visibility.Ingest" or "Visibility.Query.Export" or "Visibility.Query.Policy" or "Confluent.Kafka");
    }

    /// <summary>The projects <paramref name="project"/> references, as folders relative to the repository.</summary>
    internal static IReadOnlyList<string> References(string root, string project)
    {
        var folder = Path.Combine(root, project);
        return [.. Project(root, project).Descendants("ProjectReference")
            .Select(r => Path.GetRelativePath(root, Path.GetDirectoryName(Path.GetFullPath(Path.Combine(folder, (string)r.Attribute("Include")!)))!).Replace('\\', '/'))];
    }

    private static XDocument Project(string root, string project) =>
        XDocument.Load(Directory.EnumerateFiles(Path.Combine(root, project), "*.csproj").Single());
}
