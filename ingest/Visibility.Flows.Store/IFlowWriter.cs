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
/// The ingest write path: flow inserts and the progress that makes them exactly-once. Separate from reads and
/// catalog work so that what stands between ingest and the store (a timer, an injected fault) wraps these three
/// members and nothing else.
/// </summary>
public interface IFlowWriter
{
    /// <summary>
    /// Inserts several encoded batches as one insert (fewer, larger parts under load), each chunk RowBinary rows
    /// (<see cref="FlowSchema.WriteRow"/>) or Native blocks (<see cref="NativeFlowBlock"/>) as
    /// <paramref name="encoding"/> says; sent as they are, without being copied together.
    /// </summary>
    Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, InsertToken token, CancellationToken cancellationToken);

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
}

/// <summary>Shorthands over <see cref="IFlowWriter"/>.</summary>
public static class FlowWriterExtensions
{
    /// <summary>Inserts rows encoded by <see cref="FlowSchema.WriteRow"/> under a <see cref="InsertToken.Unique"/> token; returns when the store has them.</summary>
    public static Task InsertFlowsAsync(this IFlowWriter writer, ReadOnlyMemory<byte> rowBinary, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(writer);
        return writer.InsertFlowsAsync([rowBinary], FlowEncoding.RowBinary, InsertToken.Unique(), cancellationToken);
    }
}
