using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Tests.Labels;

public sealed class WorkloadIndexTests
{
    private static WorkloadSpec Spec(string name, string env, params string[] addresses) => new()
    {
        Name = name,
        Addresses = addresses,
        Labels = new Dictionary<string, string> { ["env"] = env, ["app"] = name, ["team"] = "t-" + name },
    };

    private static UInt128 Ip(string text) => IpAddressKey.TryParse(text.AsSpan(), out var key) ? key : throw new ArgumentException(text);

    [Fact]
    public void Lookup_ExactAddressBeatsPrefix_AndLongestPrefixWins()
    {
        var index = WorkloadIndex.Build([
            Spec("net8", "prod", "10.0.0.0/8"),
            Spec("net24", "dev", "10.1.2.0/24"),
            Spec("host", "test", "10.1.2.3"),
        ]);

        Assert.Equal("host", index.Lookup(Ip("10.1.2.3")).Workload);
        Assert.Equal("net24", index.Lookup(Ip("10.1.2.4")).Workload);
        Assert.Equal("net8", index.Lookup(Ip("10.9.9.9")).Workload);
        Assert.Equal("dev", index.Lookup(Ip("10.1.2.4")).Env);
        Assert.Equal("t-net24", index.Lookup(Ip("10.1.2.4")).Labels["team"]);
    }

    [Theory]
    [InlineData("192.168.1.1", Endpoint.UnknownKind)]
    [InlineData("172.20.0.1", Endpoint.UnknownKind)]
    [InlineData("fd12::1", Endpoint.UnknownKind)]
    [InlineData("8.8.8.8", Endpoint.InternetKind)]
    [InlineData("2001:db8::1", Endpoint.InternetKind)]
    public void Lookup_UnownedAddress_IsClassified(string address, string kind)
    {
        var endpoint = WorkloadIndex.Empty.Lookup(Ip(address));
        Assert.False(endpoint.IsWorkload);
        Assert.Equal(kind, endpoint.Kind);
    }

    [Fact]
    public void Lookup_ConfiguredInternalNetwork_IsUnknownNotInternet()
    {
        Assert.True(Prefix.TryParse("198.51.100.0/24", out var corporate, out _));
        var index = WorkloadIndex.Build([], new LabelSettings { InternalNetworks = [corporate] });
        Assert.Equal(Endpoint.UnknownKind, index.Lookup(Ip("198.51.100.7")).Kind);
        Assert.Equal(Endpoint.InternetKind, index.Lookup(Ip("198.51.101.7")).Kind);
    }

    [Fact]
    public void Lookup_IPv6Prefix_Matches()
    {
        var index = WorkloadIndex.Build([Spec("v6", "prod", "2001:db8:1::/48")]);
        Assert.Equal("v6", index.Lookup(Ip("2001:db8:1:ffff::1")).Workload);
        Assert.Equal(Endpoint.InternetKind, index.Lookup(Ip("2001:db8:2::1")).Kind);
    }

    [Fact]
    public void Lookup_Allocates_Nothing()
    {
        var index = WorkloadIndex.Build([Spec("a", "prod", "10.1.0.0/16"), Spec("b", "dev", "10.2.3.4")]);
        var addresses = new[] { Ip("10.1.5.5"), Ip("10.2.3.4"), Ip("8.8.8.8"), Ip("192.168.0.1") };
        for (var i = 0; i < 10_000; i++)
        {
            // Warm every path first, so tiered compilation is not counted.
            index.Lookup(addresses[i & 3]);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            index.Lookup(addresses[i & 3]);
        }

        // Any allocation per lookup would be at least 24 bytes each (240,000 in all); what the JIT allocates
        // while it recompiles hot code is a few hundred bytes once.
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 10_000);
    }

    [Theory]
    [InlineData("10.1.2.3/24", "host bits set")]
    [InlineData("10.1.2.0/33", "invalid prefix length")]
    [InlineData("10.1.2", "not an IP address")]
    [InlineData("banana", "not an IP address")]
    public void Prefix_Invalid_ExplainsWhy(string text, string expected)
    {
        Assert.False(Prefix.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ReportsEachProblemWithItsWorkload()
    {
        var problems = WorkloadValidation.Validate([
            new WorkloadSpec { Name = "", Addresses = ["10.0.0.1"] },
            new WorkloadSpec { Name = "x", Kind = "toaster", Addresses = [] },
            new WorkloadSpec { Name = "y", Addresses = ["10.0.0.1/8"], Labels = new Dictionary<string, string> { ["9bad"] = "v" } },
        ]);
        Assert.Contains(problems, p => p.StartsWith("[0]", StringComparison.Ordinal) && p.Contains("name is required", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'x'", StringComparison.Ordinal) && p.Contains("kind 'toaster'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'x'", StringComparison.Ordinal) && p.Contains("at least one", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'y'", StringComparison.Ordinal) && p.Contains("host bits", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'y'", StringComparison.Ordinal) && p.Contains("'9bad'", StringComparison.Ordinal));
    }
}
