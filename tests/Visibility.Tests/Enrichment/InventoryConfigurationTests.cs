using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Ingest.Enrichment;

namespace Visibility.Tests.Enrichment;

/// <summary>The configuration keys the README documents bind and take effect.</summary>
public sealed class InventoryConfigurationTests
{
    private static InventoryOptions Bind(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var options = new InventoryOptions();
        configuration.GetSection(InventoryOptions.Section).Bind(options);
        return options;
    }

    private static UInt128 Ip(string text) => IpAddressKey.TryParse(text.AsSpan(), out var key) ? key : throw new ArgumentException(text);

    [Fact]
    public void NetworksRulesAndInternalRanges_FromConfiguration_ClassifyAndLabel()
    {
        var options = Bind(new()
        {
            ["Visibility:Inventory:InternalNetworks:0"] = "198.51.100.0/24",
            ["Visibility:Inventory:Networks:0:Name"] = "corp-vpn",
            ["Visibility:Inventory:Networks:0:Cidrs:0"] = "192.168.50.0/24",
            ["Visibility:Inventory:Networks:0:Labels:env"] = "corp",
            ["Visibility:Inventory:Rules:0:NamePattern"] = "^(?<app>[a-z]+)-(?<role>web|db)-",
            ["Visibility:Inventory:Rules:0:Labels:app"] = "${app}",
            ["Visibility:Inventory:Rules:0:Labels:role"] = "${role}",
        });
        var inventory = new WorkloadInventory(Options.Create(options));
        inventory.Upsert([new WorkloadSpec { Name = "shop-db-1", Addresses = ["10.1.1.1"] }]);

        var index = inventory.Current;
        Assert.Equal("corp-vpn", index.Lookup(Ip("192.168.50.9")).Kind);
        Assert.Equal("corp", index.Lookup(Ip("192.168.50.9")).Env);
        Assert.Equal(Endpoint.UnknownKind, index.Lookup(Ip("198.51.100.9")).Kind);
        Assert.Equal(("shop", "db"), (index.Lookup(Ip("10.1.1.1")).App, index.Lookup(Ip("10.1.1.1")).Role));
    }

    [Fact]
    public void InvalidConfiguration_IsReportedWithEveryProblem()
    {
        var options = Bind(new()
        {
            ["Visibility:Inventory:InternalNetworks:0"] = "10.0.0.1/8",
            ["Visibility:Inventory:Networks:0:Name"] = "internet",
            ["Visibility:Inventory:Networks:0:Cidrs:0"] = "nonsense",
            ["Visibility:Inventory:Rules:0:NamePattern"] = "([",
            ["Visibility:Inventory:Rules:1:Labels:env"] = "dev",
        });

        var error = Assert.Throws<OptionsValidationException>(() => new WorkloadInventory(Options.Create(options)));
        Assert.Contains(error.Failures, f => f.StartsWith("InternalNetworks[0]", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Networks[0]:", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Networks[0].Cidrs[0]", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Rules[0].NamePattern", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Rules[1]: needs Cidr or NamePattern", StringComparison.Ordinal));
    }

    [Fact]
    public void KubernetesProfile_FromConfiguration_ReplacesOrExtendsTheDefaults()
    {
        var options = Bind(new()
        {
            ["Visibility:Inventory:Kubernetes:PodLabels:team:0"] = "owner",
            ["Visibility:Inventory:Kubernetes:PodLabels:app:0"] = "service",
        });
        var mapper = new KubernetesLabelMapper(options.Kubernetes);

        var labels = mapper.Map("shop", new Dictionary<string, string> { ["owner"] = "blue", ["service"] = "cart", ["app.kubernetes.io/name"] = "cart-v2" }, null);

        Assert.Equal("blue", labels["team"]);
        Assert.Equal("cart", labels["app"]);
    }
}
