using System.Buffers;
using Confluent.Kafka;
using Visibility.Flows.Model;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Records encoded for the store (RowBinary rows, or one Native block) plus, per partition, the offset to commit once
/// the store has them. Offsets of records that produced no row (dead-lettered, skipped) are tracked too, so they are
/// committed. Reused: <see cref="Reset"/> keeps the buffers.
/// </summary>
public sealed class FlowBatch(FlowEncoding encoding = FlowEncoding.RowBinary)
{
    private readonly ArrayBufferWriter<byte> rows = new(1 << 20);
    private readonly NativeFlowBlock? block = encoding == FlowEncoding.Native ? new NativeFlowBlock() : null;
    private readonly Dictionary<TopicPartition, long> nextOffsets = [];
    private bool encoded;

    public FlowEncoding Encoding => encoding;

    public int Count { get; private set; }

    public int Messages { get; private set; }

    public long StartedAt { get; private set; }

    /// <summary>When the batch was handed to the writer (Environment.TickCount64).</summary>
    public long HandedAt { get; set; }

    /// <summary>The encoded rows; a Native batch is encoded on first read, after which it takes no more records.</summary>
    public ReadOnlyMemory<byte> Rows
    {
        get
        {
            if (block is not null && !encoded)
            {
                block.WriteTo(rows);
                encoded = true;
            }

            return rows.WrittenMemory;
        }
    }

    public void Add(in FlowRecord record)
    {
        if (block is null)
        {
            FlowSchema.WriteRow(rows, record);
        }
        else
        {
            if (encoded)
            {
                throw new InvalidOperationException("This batch was already encoded.");
            }

            block.Add(record);
        }

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
        block?.Reset();
        encoded = false;
        nextOffsets.Clear();
        Count = 0;
        Messages = 0;
    }
}
