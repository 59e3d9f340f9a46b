using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// One member of the ingest consumer group, wired from its stages: a <see cref="KafkaSource"/> thread consumes the
/// topics (each with its own decoder) and feeds the <see cref="FlowPipeline"/>, which decodes, enriches and
/// encodes records into batches; a <see cref="BatchWriter"/> inserts each batch and only then lets the
/// <see cref="KafkaCommitter"/> commit its offsets. Source and writer are joined by a bounded
/// <see cref="BatchChannel"/>: when the store falls behind, it fills and consumption waits; when it stays full (the
/// store is down or failing), the source pauses its partitions and keeps polling until the writer takes batches again.
/// </summary>
public sealed class IngestConsumer
{
    private readonly IReadOnlyCollection<string> topics;
    private readonly IngestOptions options;
    private readonly BatchChannel queue;
    private readonly BatchWriter writer;
    private readonly KafkaCommitter committer;
    private readonly KafkaRebalance rebalance;
    private readonly KafkaSource source;
    private readonly ILogger clientLog;

    public IngestConsumer(
        IFlowWriter store, IReadOnlyDictionary<string, IFlowDecoder> decoders, ILabelLookup labels, IngestMetrics metrics,
        IngestOptions options, KafkaOptions kafka, IProducer<byte[]?, byte[]?> deadLetters, ILogger logger,
        FindingRules? findings = null, IngestWatermark? watermark = null, DateTime? logsCreatedAt = null, ILogger? clientLog = null,
        string? groupInstanceId = null)
    {
        topics = [.. decoders.Keys];
        this.clientLog = clientLog ?? logger;
        this.options = options;
        queue = new BatchChannel(options, metrics.Pipeline);
        var pipeline = new FlowPipeline(decoders, labels, findings ?? FindingRules.Default, options, queue, metrics.Pipeline, logger);
        var publisher = new DeadLetterPublisher(deadLetters, kafka.DeadLetterTopic, metrics.Source, logger);
        var consumerWatermark = watermark is null ? null : new ConsumerWatermark(watermark, TimeProvider.System);
        committer = new KafkaCommitter(publisher, consumerWatermark, metrics.Source, logger, store.RecordProgressAsync);
        writer = new BatchWriter(store, queue, committer, options, metrics.Writer, logger);
        var logStart = new KafkaLogStart(kafka, metrics.Source, logger, logsCreatedAt);
        rebalance = new KafkaRebalance(pipeline, queue, writer, committer, logStart, metrics.Source, logger);
        source = new KafkaSource(options, kafka, pipeline, queue, publisher, logStart, metrics.Source, logger, groupInstanceId);
    }

    /// <summary>Runs until <paramref name="stopping"/> fires, then stores and commits what it has read.</summary>
    public async Task RunAsync(string bootstrapServers, CancellationToken stopping)
    {
        using var consumer = source.Open(bootstrapServers, topics, rebalance, clientLog, stopping);
        committer.Attach(consumer);

        // The writer must outlive the stop signal long enough to store what was consumed before it, but no longer
        // than the shutdown grace: while the store is down, the last hand-over and the writer's retries give up then
        // (what they held is neither stored nor committed, so it is read again at the next start).
        using var grace = new CancellationTokenSource();
        var armed = 0;
        void Arm()
        {
            if (Interlocked.Exchange(ref armed, 1) == 0)
            {
                grace.CancelAfter(options.ShutdownGrace);
            }
        }

        using var arming = stopping.Register(Arm);
        var writing = Task.Run(() => WriteAsync(grace.Token), CancellationToken.None);
        var reading = Task.Factory.StartNew(() => source.ConsumeLoop(consumer, stopping, grace.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var probing = Task.Run(() => committer.ProbeAsync(stopping), CancellationToken.None);
        try
        {
            await reading;
        }
        finally
        {
            queue.Complete();
            Arm();
            await writing;
            await probing;
            committer.Leave();
            consumer.Close();
        }
    }

    private async Task WriteAsync(CancellationToken grace)
    {
        try
        {
            await writer.RunAsync(grace);
            await committer.CommitRemainingAsync();
        }
        finally
        {
            queue.MarkWriterDone();
        }
    }
}
