using Microsoft.Extensions.DependencyInjection;
using Visibility.Ingest.Demo;
using Visibility.Ingest.Kafka;

namespace Visibility.Ingest;

/// <summary>Development tooling for a process without a Kafka cluster, or one showing the demo.</summary>
public static class DevServices
{
    /// <summary>The in-process development broker, started before ingest and stopped after it.</summary>
    public static IServiceCollection AddDevBroker(this IServiceCollection services)
    {
        services.AddSingleton<DevBrokerService>();
        services.AddHostedService(sp => sp.GetRequiredService<DevBrokerService>());
        return services;
    }

    /// <summary><c>serve --demo</c>: the demo estate and its traffic.</summary>
    public static IServiceCollection AddDemoTraffic(this IServiceCollection services) =>
        services.AddHostedService<DemoTrafficService>();
}
