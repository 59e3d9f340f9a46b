using System.Buffers;
using Confluent.Kafka;
using Visibility.Flows.Model;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Records encoded for the store (RowBinary) plus, per partition, the offset to commit once the store has them.
/// Offsets of records that produced no row (dead-lettered, skipped) are tracked too, so they are committed.
/// Reused: <see cref="Reset"/> keeps the buffer.
/// </summary>
public sealed class FlowBatch
{
    private readonly ArrayBufferWriter<byte> rows = new(1 << 20);
    private readonly Dictionary<TopicPartition, long> nextOffsets = [];

    public int Count { get; private set; }

    public int Messages { get; private set; }

    public long StartedAt { get; private set; }

    /// <summary>When the batch was handed to the writer (Environment.TickCount64).</summary>
    public long HandedAt { get; set; }

    public ReadOnlyMemory<byte> Rows => rows.WrittenMemory;

    public void Add(in FlowRecord record)
    {
        FlowSchema.WriteRow(rows, record);
        Count++;
    }

    public void Track(TopicPartitionOffset position)
    {
        if (Messages++ == 0)
        {
            StartedAt = Environment.TickCount64;
        }

        nextOffsets[position.TopicPartition] = position.Offset.Value + 1;
    }

    /// <summary>Adds this batch's next offsets to <paramref name="pending"/>, keeping the highest per partition.</summary>
    public void MergeOffsetsInto(Dictionary<TopicPartition, long> pending)
    {
        foreach (var (partition, next) in nextOffsets)
        {
            if (!pending.TryGetValue(partition, out var current) || next > current)
            {
                pending[partition] = next;
            }
        }
    }

    public void Reset()
    {
        rows.ResetWrittenCount();
        nextOffsets.Clear();
        Count = 0;
        Messages = 0;
    }
}
