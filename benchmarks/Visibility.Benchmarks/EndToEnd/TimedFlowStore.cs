using System.Diagnostics;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// Passes everything to the real store and times the inserts: the time spent inside
/// <see cref="IFlowStore.InsertFlowsAsync"/> summed over calls, and the wall time during which at least one insert
/// was in flight. When the latter approaches the whole run, the pipeline is waiting on the store.
/// </summary>
internal sealed class TimedFlowStore(IFlowStore inner) : IFlowStore
{
    private readonly Lock gate = new();
    private int inFlight;
    private long busySince;
    private long busyTicks;
    private long callTicks;
    private long calls;

    public string Database => inner.Database;

    public int Calls => (int)Interlocked.Read(ref calls);

    /// <summary>Time inside insert calls, summed (two concurrent calls count twice).</summary>
    public TimeSpan CallTime => TimeSpan.FromSeconds(Interlocked.Read(ref callTicks) / (double)Stopwatch.Frequency);

    /// <summary>Wall time with at least one insert in flight.</summary>
    public TimeSpan BusyTime => TimeSpan.FromSeconds(Interlocked.Read(ref busyTicks) / (double)Stopwatch.Frequency);

    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public Task InsertFlowsAsync(ReadOnlyMemory<byte> rowBinary, CancellationToken cancellationToken) =>
        TimeAsync(() => inner.InsertFlowsAsync(rowBinary, cancellationToken));

    public Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, CancellationToken cancellationToken) =>
        TimeAsync(() => inner.InsertFlowsAsync(chunks, encoding, cancellationToken));

    public Task RecordProgressAsync(IReadOnlyList<PartitionProgress> progress, CancellationToken cancellationToken) =>
        inner.RecordProgressAsync(progress, cancellationToken);

    public Task<IReadOnlyList<PartitionResume>> ResumeAsync(IReadOnlyCollection<KafkaPartition> partitions, CancellationToken cancellationToken) =>
        inner.ResumeAsync(partitions, cancellationToken);

    private async Task TimeAsync(Func<Task> insert)
    {
        var start = Stopwatch.GetTimestamp();
        lock (gate)
        {
            if (inFlight++ == 0)
            {
                busySince = start;
            }
        }

        try
        {
            await insert();
        }
        finally
        {
            var end = Stopwatch.GetTimestamp();
            Interlocked.Add(ref callTicks, end - start);
            Interlocked.Increment(ref calls);
            lock (gate)
            {
                if (--inFlight == 0)
                {
                    busyTicks += end - busySince;
                }
            }
        }
    }

    public Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken)
        => inner.QueryAsync(sql, format, read, parameters, cancellationToken);

    public Task InsertRowsAsync(string insertSql, string format, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        => inner.InsertRowsAsync(insertSql, format, data, cancellationToken);

    public Task UpsertWorkloadsAsync(IReadOnlyList<WorkloadSpec> workloads, CancellationToken cancellationToken)
        => inner.UpsertWorkloadsAsync(workloads, cancellationToken);

    public Task<IReadOnlyList<WorkloadSpec>> LoadWorkloadsAsync(CancellationToken cancellationToken) => inner.LoadWorkloadsAsync(cancellationToken);

    public Task<bool> DeleteWorkloadAsync(string name, CancellationToken cancellationToken) => inner.DeleteWorkloadAsync(name, cancellationToken);

    public Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken) => inner.AppliedMigrationsAsync(cancellationToken);
}
