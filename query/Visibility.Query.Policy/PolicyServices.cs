using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;

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
        return services;
    }
}
