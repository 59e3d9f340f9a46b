using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Query.Findings;
using Visibility.Query.Flows;
using Visibility.Query.Graph;
using Visibility.Query.Views;

namespace Visibility.Query;

public static class QueryServices
{
    /// <summary>
    /// The readers of the store: the graph (node sizes from <see cref="IWorkloadCatalog"/>), findings (with the
    /// <c>blocked_attempts</c> kind computed at query time), flow search, the policy names flows name, and saved views.
    /// They plan over the store's retentions (<c>Visibility:Store</c>).
    /// </summary>
    public static IServiceCollection AddQuery(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(sp => new GraphQuery(
            sp.GetRequiredService<IFlowReader>(),
            sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions,
            sp.GetRequiredService<FindingRules>())
        {
            WorkloadCounter = sp.GetRequiredService<IWorkloadCatalog>().Count,
        });
        services.AddSingleton<IFindingSource>(sp => new BlockedAttemptsFindings(
            sp.GetRequiredService<IFlowReader>(),
            sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions,
            sp.GetRequiredService<IOptions<FindingsOptions>>().Value.BlockedAttempts,
            rules: sp.GetRequiredService<FindingRules>()));
        services.AddSingleton(sp => new FindingsQuery(
            sp.GetRequiredService<IFlowReader>(),
            sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions,
            sp.GetRequiredService<FindingRules>())
        {
            Sources = [.. sp.GetServices<IFindingSource>()],
        });
        services.AddSingleton<FlowSearch>();
        services.AddSingleton(sp => new ObservedPolicies(
            sp.GetRequiredService<IFlowReader>(),
            sp.GetRequiredService<IOptions<StoreOptions>>().Value.Retentions));
        services.AddSingleton<SavedViewStore>();
        return services;
    }
}
