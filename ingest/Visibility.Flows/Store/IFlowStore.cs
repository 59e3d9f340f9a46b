using Visibility.Flows.Labels;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

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
    /// Inserts the concatenation of several encoded batches as one insert (fewer, larger parts under load). Stores
    /// override this to send the chunks without copying them together.
    /// </summary>
    Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> rowBinaryChunks, CancellationToken cancellationToken)
    {
        if (rowBinaryChunks.Count == 1)
        {
            return InsertFlowsAsync(rowBinaryChunks[0], cancellationToken);
        }

        var joined = new byte[rowBinaryChunks.Sum(c => c.Length)];
        var at = 0;
        foreach (var chunk in rowBinaryChunks)
        {
            chunk.Span.CopyTo(joined.AsSpan(at));
            at += chunk.Length;
        }

        return InsertFlowsAsync(joined, cancellationToken);
    }

    /// <summary>
    /// Records that the store holds every record of these partitions below their offsets; called after the insert
    /// that stored them was acknowledged and before the offsets are committed to Kafka (see <see cref="IngestProgress"/>).
    /// </summary>
    Task RecordProgressAsync(IReadOnlyList<PartitionProgress> progress, CancellationToken cancellationToken);

    /// <summary>
    /// Where to resume <paramref name="partitions"/> according to the store, after deleting rows of any insert whose
    /// progress was never recorded. Called when partitions are assigned, before any of their records are read.
    /// </summary>
    Task<IReadOnlyList<PartitionResume>> ResumeAsync(IReadOnlyCollection<KafkaPartition> partitions, CancellationToken cancellationToken);

    /// <summary>Runs a read query; <paramref name="format"/> is a ClickHouse output format.</summary>
    Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken);

    Task UpsertWorkloadsAsync(IReadOnlyList<WorkloadSpec> workloads, CancellationToken cancellationToken);

    Task<IReadOnlyList<WorkloadSpec>> LoadWorkloadsAsync(CancellationToken cancellationToken);

    /// <summary>The schema versions applied, ascending.</summary>
    Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken);
}
