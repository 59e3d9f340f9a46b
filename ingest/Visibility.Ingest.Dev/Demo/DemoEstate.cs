using System.Collections.Frozen;
using Visibility.Flows.Labels;

namespace Visibility.Ingest.Demo;

/// <summary>
/// A small labelled estate for the demo: web, api and db in prod and in dev, the usual calls between them,
/// one dev → prod call (the finding to see), one unlabelled internal source and one internet client.
/// </summary>
public static class DemoEstate
{
    public static IReadOnlyList<WorkloadSpec> Workloads { get; } =
    [
        Workload("prod-web-1", "10.10.1.10", "web", "frontend", "prod"),
        Workload("prod-web-2", "10.10.1.11", "web", "frontend", "prod"),
        Workload("prod-api-1", "10.10.2.10", "api", "backend", "prod"),
        Workload("prod-db-1", "10.10.3.10", "db", "database", "prod"),
        Workload("dev-web-1", "10.20.1.10", "web", "frontend", "dev"),
        Workload("dev-api-1", "10.20.2.10", "api", "backend", "dev"),
        Workload("dev-db-1", "10.20.3.10", "db", "database", "dev"),
    ];

    /// <summary>An internal address no workload owns.</summary>
    public const string UnknownSource = "10.99.0.5";

    /// <summary>A documentation-range address standing in for an internet client.</summary>
    public const string InternetSource = "203.0.113.7";

    /// <summary>The conversations the generator repeats: source, destination, protocol, port.</summary>
    public static IReadOnlyList<(string Src, string Dst, byte Proto, ushort Port)> Conversations { get; } =
    [
        (InternetSource, "10.10.1.10", 6, 443),
        ("10.10.1.10", "10.10.2.10", 6, 8443),
        ("10.10.1.11", "10.10.2.10", 6, 8443),
        ("10.10.2.10", "10.10.3.10", 6, 5432),
        ("10.20.1.10", "10.20.2.10", 6, 8443),
        ("10.20.2.10", "10.20.3.10", 6, 5432),
        ("10.20.2.10", "10.10.3.10", 6, 5432),
        (UnknownSource, "10.10.1.11", 6, 22),
        ("10.10.2.10", "10.10.3.10", 17, 53),
    ];

    private static WorkloadSpec Workload(string name, string address, string app, string role, string env) => new()
    {
        Name = name,
        Kind = "vm",
        Addresses = [address],
        Labels = new Dictionary<string, string>
        {
            [LabelKeys.App] = app,
            [LabelKeys.Role] = role,
            [LabelKeys.Env] = env,
            [LabelKeys.Loc] = "eu-west-1",
        }.ToFrozenDictionary(),
    };
}
