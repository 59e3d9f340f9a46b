using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store.Server;

namespace Visibility.Flows.Store;

public static class StoreServices
{
    /// <summary>The store (<c>Visibility:Store</c>): embedded chDB, or a ClickHouse server when Mode is <c>server</c>.</summary>
    public static IServiceCollection AddFlowStore(this IServiceCollection services, IConfiguration configuration)
    {
        Duration.UseInConfiguration();
        services.AddOptions<StoreOptions>().BindConfiguration(StoreOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<StoreOptions>, StoreOptionsValidator>();

        // An unknown mode registers the embedded store but never reaches it: StoreOptions validation stops the start.
        if (string.Equals(configuration[$"{StoreOptions.Section}:Mode"], "server", StringComparison.Ordinal))
        {
            services.AddSingleton<ServerFlowStore>();
            services.AddSingleton<IFlowStore>(sp => sp.GetRequiredService<ServerFlowStore>());
        }
        else
        {
            services.AddSingleton<IFlowStore, EmbeddedFlowStore>();
        }

        // Consumers take the part they use; each part is the one store.
        services.AddSingleton<IFlowWriter>(sp => sp.GetRequiredService<IFlowStore>());
        services.AddSingleton<IFlowReader>(sp => sp.GetRequiredService<IFlowStore>());
        services.AddSingleton<IFlowCatalog>(sp => sp.GetRequiredService<IFlowStore>());

        return services;
    }

    /// <summary>
    /// Checks the configuration and opens the store (checking its schema: see <see cref="IFlowCatalog.InitializeAsync"/>) before the host starts, so that a wrong
    /// setting or an unreachable store stops the program with its one-line reason instead of a host failure logged
    /// with a stack trace. Hosted services find the store already open.
    /// </summary>
    public static async Task OpenStoreAsync(this IServiceProvider services, CancellationToken cancellationToken)
    {
        services.GetRequiredService<IStartupValidator>().Validate();
        await services.GetRequiredService<IFlowCatalog>().InitializeAsync(cancellationToken);
    }
}
