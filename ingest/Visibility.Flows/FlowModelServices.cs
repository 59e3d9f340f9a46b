using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;

namespace Visibility.Flows;

public static class FlowModelServices
{
    /// <summary>The finding rules (<c>Visibility:Findings</c>) ingest classifies with and queries report by.</summary>
    public static IServiceCollection AddFlowModel(this IServiceCollection services, IConfiguration configuration)
    {
        Duration.UseInConfiguration();
        services.AddOptions<FindingsOptions>().BindConfiguration(FindingsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => new FindingRules(sp.GetRequiredService<IOptions<FindingsOptions>>().Value));
        return services;
    }
}
