using Visibility.Flows.Labels;

namespace Visibility.Flows.Store;

/// <summary>
/// Everything but flows: opening the store (and checking its schema), the stored workloads, and the few rows of the
/// control tables (API keys, saved views, audit entries, export checkpoints and sinks). These writes are rare and
/// small, unlike <see cref="IFlowWriter"/>'s; what they read back goes through <see cref="IFlowReader"/>.
/// </summary>
public interface IFlowCatalog
{
    /// <summary>
    /// Opens the store and checks its schema (<see cref="SchemaMigrator"/>): applies pending migrations when
    /// <see cref="StoreOptions.MigratesOnStart"/>, else waits for <c>visibility migrate</c> up to
    /// <see cref="StoreOptions.SchemaWait"/>; refuses a schema a newer release migrated. Idempotent.
    /// </summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Connects without looking at the schema, for <c>visibility migrate</c>, which then owns it. Idempotent.</summary>
    Task OpenAsync(CancellationToken cancellationToken);

    /// <summary>The schema versions applied, ascending.</summary>
    Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Inserts a few rows into a control table (keys, views, audit, export state): <paramref name="insertSql"/> is
    /// <c>INSERT INTO db.table (columns)</c>, <paramref name="data"/> rows in <paramref name="format"/>.
    /// </summary>
    Task InsertRowsAsync(string insertSql, string format, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    Task UpsertWorkloadsAsync(IReadOnlyList<WorkloadSpec> workloads, CancellationToken cancellationToken);

    Task<IReadOnlyList<WorkloadSpec>> LoadWorkloadsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Deletes a stored workload by writing a tombstone (a later version marked deleted), as upserts write versions:
    /// <see cref="LoadWorkloadsAsync"/> no longer returns it, and an upsert of the name later brings it back. False,
    /// writing nothing, when no live workload of that name is stored.
    /// </summary>
    Task<bool> DeleteWorkloadAsync(string name, CancellationToken cancellationToken);
}
