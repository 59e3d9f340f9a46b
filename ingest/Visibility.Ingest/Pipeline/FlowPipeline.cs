using Microsoft.Extensions.Logging;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Decode → enrich → classify → batch, one record at a time, knowing nothing of where records come from: each
/// record becomes a row of the batch being filled, a skip, or a dead letter (returned as data for the source to
/// deliver). Records an unacknowledged insert already stored (see <see cref="SkipStored"/>) are passed over, so a
/// crash between insert and commit neither loses nor repeats one. Full batches go to the <see cref="BatchChannel"/>.
/// One record struct is reused for every record: the per-record path allocates nothing.
/// </summary>
public sealed class FlowPipeline
{
    private readonly IReadOnlyDictionary<string, IFlowDecoder> decoders;
    private readonly ILabelLookup labels;
    private readonly FindingRules findings;
    private readonly BatchChannel queue;
    private readonly PipelineMetrics metrics;
    private readonly ILogger logger;
    private readonly int batchSize;
    private readonly long lingerMs;

    // Per partition, offsets beyond its resume point that the store already holds; read and written by the thread
    // that feeds the pipeline (rebalance handlers run on it too).
    private readonly Dictionary<KafkaPartition, SortedSet<long>> storedAhead = [];
    private FlowRecord record;
    private WorkloadIndex index;
    private FlowBatch current;

    public FlowPipeline(
        IReadOnlyDictionary<string, IFlowDecoder> decoders, ILabelLookup labels, FindingRules findings, IngestOptions options,
        BatchChannel queue, PipelineMetrics metrics, ILogger logger)
    {
        this.decoders = decoders;
        this.labels = labels;
        this.findings = findings;
        this.queue = queue;
        this.metrics = metrics;
        this.logger = logger;
        batchSize = options.BatchSize;
        lingerMs = (long)options.BatchLinger.TotalMilliseconds;
        index = labels.Current;
        current = queue.Rent();
    }

    /// <summary>The batch being filled.</summary>
    public FlowBatch Current => current;

    /// <summary>Whether the batch being filled should go to the writer: it is full, or its first record waited the linger.</summary>
    public bool BatchDue => current.Messages > 0 && (current.Count >= batchSize || Environment.TickCount64 - current.StartedAt >= lingerMs);

    /// <summary>
    /// Takes one record into the batch being filled. <paramref name="deadLetter"/> describes it when the outcome is
    /// <see cref="RecordOutcome.DeadLettered"/>: the caller delivers it before the batch is stored.
    /// </summary>
    public RecordOutcome Accept(in SourceRecord source, out DeadLetter deadLetter)
    {
        deadLetter = default;
        metrics.CountIn();
        if (current.Messages == 0)
        {
            // A relabel takes effect from the next batch on.
            index = labels.Current;
            current.BeginTrace();
        }

        var partition = new KafkaPartition(source.Topic, source.Partition);
        if (storedAhead.Count > 0 && IsStoredAhead(partition, source.Offset))
        {
            metrics.CountAlreadyStored();
            current.Track(partition, source.Offset);
            return RecordOutcome.AlreadyStored;
        }

        var decoder = decoders[source.Topic];
        switch (decoder.Decode(source.Value, ref record, out var reason))
        {
            case DecodeStatus.Ok:
                if (record.StartMs == 0)
                {
                    // Some records carry no time (conntrack -L without timestamps): the time the source has for the
                    // message stands in.
                    record.StartMs = source.TimestampMs ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                }

                metrics.CountDecoded();
                FlowEnricher.Enrich(ref record, index);
                record.Findings = findings.Classify(record.Src!, record.Dst!);
                metrics.CountEnriched();
                record.SourceTopic = source.Topic;
                record.SourcePartition = source.Partition;
                record.SourceOffset = source.Offset;
                current.Add(record);
                current.Track(partition, source.Offset, row: true);
                return RecordOutcome.Row;
            case DecodeStatus.Skipped:
                metrics.CountSkipped();
                current.Track(partition, source.Offset);
                return RecordOutcome.Skipped;
            default:
                reason ??= "invalid";
                metrics.CountInvalid(reason);
                deadLetter = new DeadLetter(partition, source.Offset, decoder.Format, reason);
                current.Track(partition, source.Offset);
                return RecordOutcome.DeadLettered;
        }
    }

    /// <summary>Hands the batch being filled to the writer if the queue has room, and starts a new one.</summary>
    public bool TryHand()
    {
        current.EndRead();
        if (!queue.TryHand(current))
        {
            return false;
        }

        current = queue.Rent();
        return true;
    }

    /// <summary>Hands the batch being filled to the writer, waiting for room; false if <paramref name="cancellation"/> fires first.</summary>
    public bool Hand(CancellationToken cancellation)
    {
        current.EndRead();
        if (!queue.Hand(current, cancellation))
        {
            return false;
        }

        current = queue.Rent();
        return true;
    }

    /// <summary>Gives up the batch being filled (stopping before the writer took it); returns how many records it held.</summary>
    public int Abandon()
    {
        current.EndTrace("not handed to the store within the shutdown grace");
        queue.Abandon(current);
        return current.Messages;
    }

    /// <summary>
    /// Partitions resume where the store says: records it already holds beyond that (an insert that was never
    /// acknowledged) are skipped when they are read again.
    /// </summary>
    public void SkipStored(IReadOnlyList<PartitionResume> resumes)
    {
        foreach (var resume in resumes)
        {
            if (resume.StoredOffsets.Count > 0)
            {
                storedAhead[resume.Source] = [.. resume.StoredOffsets];
                logger.LogWarning("{Partition}: the store already holds {Rows} records from offset {Offset} on (an insert that was never acknowledged); they are skipped",
                    resume.Source, resume.StoredOffsets.Count, resume.NextOffset ?? 0);
            }
            else
            {
                storedAhead.Remove(resume.Source);
            }
        }
    }

    /// <summary>A partition left this consumer: what was known of it is dropped.</summary>
    public void Forget(KafkaPartition partition) => storedAhead.Remove(partition);

    /// <summary>Whether an unacknowledged insert already stored this record (see <see cref="SkipStored"/>).</summary>
    private bool IsStoredAhead(KafkaPartition partition, long offset)
    {
        if (!storedAhead.TryGetValue(partition, out var offsets))
        {
            return false;
        }

        var stored = offsets.Remove(offset);
        if (offsets.Count == 0 || offset >= offsets.Max)
        {
            storedAhead.Remove(partition);
        }

        return stored;
    }
}
