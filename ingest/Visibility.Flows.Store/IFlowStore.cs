using Visibility.Flows.Labels;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>How flow rows are encoded for an insert.</summary>
public enum FlowEncoding
{
    /// <summary>RowBinary rows of <see cref="FlowSchema.FlowColumns"/>.</summary>
    RowBinary,

    /// <summary>Native blocks of <see cref="NativeFlowBlock.ColumnList"/>.</summary>
    Native,
}

/// <summary>
/// The ClickHouse store, whichever transport carries it. SQL is the same for all transports; values reach
/// the engine only as bound parameters.
/// </summary>
public interface IFlowStore
{
    /// <summary>The database holding the tables, unquoted.</summary>
    string Database { get; }

    /// <summary>Opens the store and applies pending migrations. Idempotent.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Inserts rows encoded by <see cref="FlowSchema.WriteRow"/>; returns when the store has them.</summary>
    Task InsertFlowsAsync(ReadOnlyMemory<byte> rowBinary, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts several encoded batches as one insert (fewer, larger parts under load), each chunk RowBinary rows
    /// (<see cref="FlowSchema.WriteRow"/>) or Native blocks (<see cref="NativeFlowBlock"/>) as
    /// <paramref name="encoding"/> says; sent as they are, without being copied together.
    /// </summary>
    Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, CancellationToken cancellationToken);

    /// <summary>
    /// Records that the store holds every record of these partitions below their offsets; called after the insert
    /// that stored them was acknowledged and before the offsets are committed to Kafka (see <see cref="IngestProgress"/>).
    /// </summary>
    Task RecordProgressAsync(IReadOnlyList<PartitionProgress> progress, CancellationToken cancellationToken);

    /// <summary>
    /// Where to resume <paramref name="partitions"/> according to the store, and which offsets beyond that it already
    /// holds (an insert whose progress was never recorded). Called when partitions are assigned, before any of their
    /// records are read.
    /// </summary>
    Task<IReadOnlyList<PartitionResume>> ResumeAsync(IReadOnlyCollection<KafkaPartition> partitions, CancellationToken cancellationToken);

    /// <summary>Runs a read query; <paramref name="format"/> is a ClickHouse output format.</summary>
    Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts a few rows into a control table (workloads, saved views): <paramref name="insertSql"/> is
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

    /// <summary>The schema versions applied, ascending.</summary>
    Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken);
}
