using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Query.Findings;
using Visibility.Query.Policy.Decisions;

namespace Visibility.Query.Policy;

public static class PolicyServices
{
    /// <summary>Drafting rules from observed traffic (named networks from <see cref="IWorkloadCatalog"/>) and simulating them.</summary>
    public static IServiceCollection AddPolicy(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(sp => new PolicyTraffic(sp.GetRequiredService<IFlowReader>(), sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions));
        services.AddSingleton(sp => new PolicyDrafter(sp.GetRequiredService<PolicyTraffic>(), sp.GetRequiredService<IWorkloadCatalog>().Settings.Networks));
        services.AddSingleton<PolicySimulator>();
        services.AddOptions<PolicyOptions>().BindConfiguration(PolicyOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        // Decisions on the graph: the RulesetStore is registered with the rulesets API.
        services.AddSingleton(sp => new DecisionTraffic(sp.GetRequiredService<IFlowReader>(), sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions));
        services.AddSingleton<GraphDecisions>();
        services.AddSingleton<IFindingSource, PolicyViolationFindings>();
        return services;
    }
}
