using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Web.Commands;
using Visibility.Web.Hosting;

namespace Visibility.Tests.Web;

/// <summary>
/// The configuration typo check: the known keys come from the options types the program binds; a key nothing binds
/// is named with the nearest known key.
/// </summary>
public sealed partial class ConfigurationKeysTests
{
    private static readonly ConfigurationKeys Program = ConfigurationCheck.KnownKeys(new ConfigurationBuilder().Build());

    [Theory]
    [InlineData("Visibility:Kafka:BootstrapServer", "Visibility:Kafka:BootstrapServers")]
    [InlineData("Visibility:Export:Sinks:x:Fromat", "Visibility:Export:Sinks:x:Format")]
    [InlineData("visibility:store:pth", "Visibility:Store:Path")]
    [InlineData("Visibility:Kafka:Embeded", "Visibility:Kafka:Embedded")]
    [InlineData("Visibility:Inventory:Networks:3:Cidr:0", "Visibility:Inventory:Networks:3:Cidrs:0")]
    [InlineData("Visibility:Auth:Oidc:Authorty", "Visibility:Auth:Oidc:Authority")]
    [InlineData("Visibility:Ingest:BatchSise", "Visibility:Ingest:BatchSize")]
    public void UnknownKey_IsNamed_WithTheNearestKnownKey(string key, string nearest)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = "x" }).Build();
        var problem = Assert.Single(Program.Problems(configuration));
        Assert.Contains($"unknown configuration key {key}", problem, StringComparison.Ordinal);
        Assert.Contains($"did you mean {nearest}?", problem, StringComparison.Ordinal);
        Assert.Equal(nearest, Program.NearestTo(key));
    }

    [Theory]
    [InlineData("Visibility:Kafka:BootstrapServers")]
    [InlineData("VISIBILITY:KAFKA:bootstrapservers")]
    [InlineData("Visibility:Kafka:Embedded")]
    [InlineData("Visibility:Kafka:Topics:dns-events")]
    [InlineData("Visibility:Kafka:Properties:sasl.mechanism")]
    [InlineData("Visibility:Export:Sinks:siem-1:Format")]
    [InlineData("Visibility:Export:Sinks:siem-1:Port")]
    [InlineData("Visibility:Export:AllowedDestinations:0")]
    [InlineData("Visibility:Findings:Severities:test->prod")]
    [InlineData("Visibility:Findings:ProtectedEnvironments:1")]
    [InlineData("Visibility:Decoding:AwsFieldOrder:0")]
    [InlineData("Visibility:Decoding:AttemptWindow")]
    [InlineData("Visibility:Decoding:NflogBlockedWords:0")]
    [InlineData("Visibility:Decoding:NflogAllowedWords:0")]
    [InlineData("Visibility:Inventory:Networks:0:Labels:team")]
    [InlineData("Visibility:Inventory:Kubernetes:PodLabels:app:0")]
    [InlineData("Visibility:Http:CorsOrigins")]
    [InlineData("Visibility:Http:CorsOrigins:0")]
    [InlineData("Visibility:Http:Certificate:KeyPath")]
    [InlineData("Visibility:Auth:Disabled")]
    [InlineData("Visibility:Auth:Oidc:RoleClaim")]
    [InlineData("Visibility:Limits:MaxViewsPerPrincipal")]
    [InlineData("Visibility:Store:ConnectionString")]
    public void KeysTheProgramBinds_AreKnown(string key) => Assert.True(Program.IsKnown(key, emptyValue: false), key);

    [Theory]
    [InlineData("Visibility:Kafka:Topics:0:x")]
    [InlineData("Visibility:Export:Sinks:x")]
    [InlineData("Visibility:Findings:ProtectedEnvironments:first")]
    [InlineData("Visibility:Kafka")]
    [InlineData("Visibility:Nothing:Here")]
    public void KeysNothingBinds_AreUnknown(string key) => Assert.False(Program.IsKnown(key, emptyValue: false), key);

    [Fact]
    public void EmptySection_IsAccepted_ButNotAValueThere()
    {
        // An empty map in appsettings.json or an empty variable sits on the section itself.
        Assert.True(Program.IsKnown("Visibility:Kafka:Topics", emptyValue: true));
        Assert.False(Program.IsKnown("Visibility:Kafka:Topics", emptyValue: false));
    }

    [Fact]
    public void KnownKeys_FollowTheOptionsTypes_NotAList()
    {
        var keys = ConfigurationKeys.From([("Visibility:Sample", typeof(SampleOptions))]);
        Assert.Equal(
            ["Visibility:Sample:Name", "Visibility:Sample:Every", "Visibility:Sample:Tags", "Visibility:Sample:Tags:N", "Visibility:Sample:Targets:<name>:Host",
             "Visibility:Sample:Targets:<name>:Port", "Visibility:Sample:Inner:Level"],
            keys.Patterns);
        Assert.False(keys.IsKnown("Visibility:Sample:Computed", emptyValue: false));
    }

    [Fact]
    public void TheOrigin_OfAKey_IsNamed()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Visibility:Kafka:Topic"] = "flows" })
            .AddEnvironmentVariables()
            .Build();
        Environment.SetEnvironmentVariable("Visibility__Kafka__GroupIdd", "g");
        try
        {
            configuration.Reload();
            var problem = Assert.Single(Program.Problems(configuration));
            Assert.Contains("(environment variable Visibility__Kafka__GroupIdd): did you mean Visibility:Kafka:GroupId?", problem, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("Visibility__Kafka__GroupIdd", null);
        }
    }

    [Fact]
    public void EveryOptionsTypeTheProgramBinds_DeclaresItsSection()
    {
        // A type bound from configuration without a Section constant would leave its keys unknown: every start would stop.
        var services = new ServiceCollection().AddVisibilityServices(new ConfigurationBuilder().Build(), new(), ingestOnly: false, demo: true, embeddedBroker: true);
        var bound = services.Select(d => d.ServiceType)
            .Where(t => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IOptionsChangeTokenSource<>))
            .Select(t => t.GenericTypeArguments[0])
            .Where(t => t.Namespace?.StartsWith("Visibility.", StringComparison.Ordinal) == true)
            .ToList();
        Assert.NotEmpty(bound);
        Assert.All(bound, t => Assert.StartsWith("Visibility:", ConfigurationKeys.SectionOf(t) ?? $"{t.Name} has no Section", StringComparison.Ordinal));
        var sections = ConfigurationKeys.BoundOptions(services).Select(b => b.Section).ToList();
        foreach (var section in new[] { "Visibility:Kafka", "Visibility:Store", "Visibility:Ingest", "Visibility:Inventory", "Visibility:Decoding", "Visibility:Findings", "Visibility:Export", "Visibility:Http", "Visibility:Limits", "Visibility:Auth" })
        {
            Assert.Contains(section, sections);
        }
    }

    [Fact]
    public void DeclaredSections_CoverEveryBoundSection()
    {
        // Options classes are found by their Section constant as well as by registration, so a section registered
        // outside AddVisibilityServices is not refused.
        var services = new ServiceCollection().AddVisibilityServices(new ConfigurationBuilder().Build(), new(), ingestOnly: false, demo: true, embeddedBroker: true);
        var declared = ConfigurationCheck.DeclaredSections().ToList();
        Assert.All(ConfigurationKeys.BoundOptions(services), bound => Assert.Contains(bound, declared));
    }

    [Fact]
    public void EveryKeyTheRepositorySets_IsKnown()
    {
        // Tests, benchmarks, deployment files and the documentation set these; a stale one would stop their start.
        var root = Repository.Root;
        var files = new[] { "tests", "benchmarks", "infra", "web", "docs" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(root, d), "*", SearchOption.AllDirectories))
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".env", StringComparison.Ordinal)
                || f.EndsWith(".md", StringComparison.Ordinal) || f.EndsWith("Dockerfile", StringComparison.Ordinal))
            .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("node_modules", StringComparison.Ordinal))
            .Where(f => !f.EndsWith("ConfigurationKeysTests.cs", StringComparison.Ordinal) && !f.EndsWith("ConfigurationEndToEndTests.cs", StringComparison.Ordinal))
            .Append(Path.Combine(root, "README.md"))
            .Append(Path.Combine(root, "Makefile"));
        var unknown = new List<string>();
        foreach (var file in files)
        {
            // Lines showing a misspelling on purpose say so.
            var lines = File.ReadLines(file).Where(l => !l.Contains("typo", StringComparison.OrdinalIgnoreCase) && !l.Contains("misspel", StringComparison.OrdinalIgnoreCase));
            foreach (Match match in lines.SelectMany(l => SetKey().Matches(l)))
            {
                if (match.Value.Split("__").Any(s => s.Length == 1 && char.IsAsciiLetterUpper(s[0])))
                {
                    continue;
                }

                var key = match.Value.Replace("__", ":", StringComparison.Ordinal);
                if (!Program.IsKnown(key, emptyValue: true))
                {
                    unknown.Add($"{Path.GetRelativePath(root, file)}: {match.Value} (nearest {Program.NearestTo(key)})");
                }
            }
        }

        Assert.True(unknown.Count == 0, string.Join('\n', unknown.Distinct()));
    }

    [Theory]
    [InlineData("grap", "graph")]
    [InlineData("polcy", "policy")]
    [InlineData("--gruop-by", "--group-by")]
    public void Nearest_FindsTheIntendedWord(string typed, string intended) =>
        Assert.Equal(intended, Nearest.Of(typed, ["serve", "ingest", "graph", "policy", "flows", "--group-by", "--filter"], maxDistance: 3));

    [Fact]
    public void Nearest_IsNull_WhenNothingIsClose() => Assert.Null(Nearest.Of("frobnicate", ["serve", "graph"], maxDistance: 3));

    // Concrete keys only: placeholders (<name>, N, …) in documentation are not keys; a sentence's full stop is not part of one.
    [GeneratedRegex(@"(?<![A-Za-z0-9_])Visibility__[A-Za-z0-9]+(__[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*)*(?![A-Za-z0-9_<…])")]
    private static partial Regex SetKey();

    private sealed class SampleOptions
    {
        public string Name { get; set; } = "";

        public TimeSpan Every { get; set; }

        public List<string> Tags { get; } = [];

        public Dictionary<string, Target> Targets { get; } = [];

        public InnerOptions Inner { get; } = new();

        public int Computed => Name.Length;
    }

    private sealed class Target
    {
        public string Host { get; set; } = "";

        public int? Port { get; set; }
    }

    private sealed class InnerOptions
    {
        public string Level { get; set; } = "";
    }
}
