using System.Diagnostics;
using Visibility.Flows.Store;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// Passes the writes to the real store's writer and times the inserts: the time spent inside
/// <see cref="IFlowWriter.InsertFlowsAsync"/> summed over calls, and the wall time during which at least one insert
/// was in flight. When the latter approaches the whole run, the pipeline is waiting on the store.
/// </summary>
internal sealed class TimedFlowWriter(IFlowWriter inner) : IFlowWriter
{
    private readonly Lock gate = new();
    private int inFlight;
    private long busySince;
    private long busyTicks;
    private long callTicks;
    private long calls;

    public int Calls => (int)Interlocked.Read(ref calls);

    /// <summary>Time inside insert calls, summed (two concurrent calls count twice).</summary>
    public TimeSpan CallTime => TimeSpan.FromSeconds(Interlocked.Read(ref callTicks) / (double)Stopwatch.Frequency);

    /// <summary>Wall time with at least one insert in flight.</summary>
    public TimeSpan BusyTime => TimeSpan.FromSeconds(Interlocked.Read(ref busyTicks) / (double)Stopwatch.Frequency);

    public Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, InsertToken token, CancellationToken cancellationToken) =>
        TimeAsync(() => inner.InsertFlowsAsync(chunks, encoding, token, cancellationToken));

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
}
