using Visibility.Flows.Labels;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>
/// A whole store put together from its three parts, for a caller that takes <see cref="IFlowStore"/> while one part
/// is wrapped (inserts timed, or failed on purpose): the wrapper implements its one part, and this is the one place
/// that forwards every member to the part it belongs to.
/// </summary>
public sealed class FlowStore(IFlowWriter writer, IFlowReader reader, IFlowCatalog catalog) : IFlowStore
{
    public string Database => reader.Database;

    public Task InsertFlowsAsync(ReadOnlyMemory<byte> rowBinary, CancellationToken cancellationToken) =>
        writer.InsertFlowsAsync(rowBinary, cancellationToken);

    public Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, CancellationToken cancellationToken) =>
        writer.InsertFlowsAsync(chunks, encoding, cancellationToken);

    public Task RecordProgressAsync(IReadOnlyList<PartitionProgress> progress, CancellationToken cancellationToken) =>
        writer.RecordProgressAsync(progress, cancellationToken);

    public Task<IReadOnlyList<PartitionResume>> ResumeAsync(IReadOnlyCollection<KafkaPartition> partitions, CancellationToken cancellationToken) =>
        writer.ResumeAsync(partitions, cancellationToken);

    public Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken) =>
        reader.QueryAsync(sql, format, read, parameters, cancellationToken);

    public Task InitializeAsync(CancellationToken cancellationToken) => catalog.InitializeAsync(cancellationToken);

    public Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken) => catalog.AppliedMigrationsAsync(cancellationToken);

    public Task InsertRowsAsync(string insertSql, string format, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        catalog.InsertRowsAsync(insertSql, format, data, cancellationToken);

    public Task UpsertWorkloadsAsync(IReadOnlyList<WorkloadSpec> workloads, CancellationToken cancellationToken) =>
        catalog.UpsertWorkloadsAsync(workloads, cancellationToken);

    public Task<IReadOnlyList<WorkloadSpec>> LoadWorkloadsAsync(CancellationToken cancellationToken) => catalog.LoadWorkloadsAsync(cancellationToken);

    public Task<bool> DeleteWorkloadAsync(string name, CancellationToken cancellationToken) => catalog.DeleteWorkloadAsync(name, cancellationToken);
}
