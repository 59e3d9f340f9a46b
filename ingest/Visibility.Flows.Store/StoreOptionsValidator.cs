using Microsoft.Extensions.Options;
using Visibility.Flows.Store.Server;

namespace Visibility.Flows.Store;

/// <summary>
/// What the attributes on <see cref="StoreOptions"/> cannot say: server mode needs a connection string the driver
/// accepts, and an unreplicated layout needs a cluster. Failure messages never repeat the connection string.
/// </summary>
public sealed class StoreOptionsValidator : IValidateOptions<StoreOptions>
{
    public ValidateOptionsResult Validate(string? name, StoreOptions options)
    {
        if (!options.Replicated && string.IsNullOrEmpty(options.Cluster))
        {
            // Replication is a property of a cluster's shards; without a cluster the setting would silently do nothing.
            return ValidateOptionsResult.Fail(
                "Visibility:Store:Replicated=false describes the shards of a cluster: set Visibility:Store:Cluster (server mode) or remove it.");
        }

        if (!string.Equals(options.Mode, "server", StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Success;
        }

        try
        {
            ServerFlowStore.ParseConnectionString(options.ConnectionString);
            return ValidateOptionsResult.Success;
        }
        catch (StoreException ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
    }
}
