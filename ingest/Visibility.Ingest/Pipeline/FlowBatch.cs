using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
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
    private readonly Dictionary<KafkaPartition, PartitionSpan> partitions = [];
    private bool encoded;
    private Activity? reading;

    public FlowEncoding Encoding => encoding;

    public int Count { get; private set; }

    public int Messages { get; private set; }

    public long StartedAt { get; private set; }

    /// <summary>When the batch was handed to the writer (Environment.TickCount64).</summary>
    public long HandedAt { get; set; }

    /// <summary>
    /// The batch's trace span (<see cref="IngestTelemetry.Batch"/>), carried with the batch from the consume thread to
    /// the writer's, where the store and commit spans become its children; null while no tracer listens.
    /// </summary>
    public Activity? Trace { get; private set; }

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

    /// <summary>
    /// Records that the message at <paramref name="offset"/> of <paramref name="partition"/> was read into this batch;
    /// <paramref name="row"/> when it became one of the batch's rows (the last <see cref="Add"/>), not a dead letter or a skip.
    /// </summary>
    public void Track(KafkaPartition partition, long offset, bool row = false)
    {
        if (Messages++ == 0)
        {
            StartedAt = Environment.TickCount64;
        }

        ref var span = ref CollectionsMarshal.GetValueRefOrAddDefault(partitions, partition, out _);
        span.Next = offset + 1;
        if (row)
        {
            span.FirstRow = span.Rows == 0 ? offset : span.FirstRow;
            span.LastRow = offset;
            span.Rows++;
        }
    }

    /// <summary>Per partition with rows in this batch, the offsets of its first and last row, and how many there are.</summary>
    public IEnumerable<(KafkaPartition Partition, RowRange Range)> RowRanges =>
        partitions.Where(p => p.Value.Rows > 0).Select(p => (p.Key, new RowRange(p.Value.FirstRow, p.Value.LastRow, p.Value.Rows)));

    /// <summary>Adds this batch's next offsets to <paramref name="pending"/>, keeping the highest per partition.</summary>
    public void MergeOffsetsInto(Dictionary<KafkaPartition, long> pending)
    {
        foreach (var (partition, span) in partitions)
        {
            var next = span.Next;
            if (!pending.TryGetValue(partition, out var current) || next > current)
            {
                pending[partition] = next;
            }
        }
    }

    /// <summary>The batch takes its first record: its trace starts (when a tracer listens).</summary>
    public void BeginTrace() => (Trace, reading) = IngestTelemetry.StartBatch();

    /// <summary>The batch is due: its read span ends (the first call does).</summary>
    public void EndRead()
    {
        if (reading is not null)
        {
            IngestTelemetry.Stop(reading);
            reading = null;
        }
    }

    /// <summary>The batch is committed, or given up (<paramref name="failure"/> says why): its trace ends.</summary>
    public void EndTrace(string? failure = null)
    {
        EndRead();
        if (Trace is { } trace)
        {
            if (trace.IsAllDataRequested)
            {
                trace.SetTag("visibility.records", Messages);
                trace.SetTag("visibility.rows", Count);
            }

            if (failure is not null)
            {
                trace.SetStatus(ActivityStatusCode.Error, failure);
            }

            IngestTelemetry.Stop(trace);
            Trace = null;
        }
    }

    public void Reset()
    {
        EndTrace();
        rows.ResetWrittenCount();
        block?.Reset();
        encoded = false;
        partitions.Clear();
        Count = 0;
        Messages = 0;
    }
}

/// <summary>Offsets of a batch's first and last row from one partition, and its rows from that partition.</summary>
public readonly record struct RowRange(long First, long Last, int Rows);

/// <summary>A batch's records from one partition: the offset after the last one, and the span of those that became rows.</summary>
internal struct PartitionSpan
{
    public long Next;
    public long FirstRow;
    public long LastRow;
    public int Rows;
}
