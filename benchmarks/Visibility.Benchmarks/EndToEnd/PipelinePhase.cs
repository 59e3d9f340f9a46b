using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// Visibility's own pipeline as <c>IngestService</c> runs it: N <see cref="IngestConsumer"/>s in a fresh group
/// sharing one dead-letter producer, decoding, enriching against the estate, encoding RowBinary and inserting into
/// the embedded store (a database of its own on the harness's engine). Done when every good record is stored and
/// every malformed one dead-lettered; then the store and the dead-letter topic are checked against the mix.
/// </summary>
internal static class PipelinePhase
{
    public static async Task<PhaseResult> RunAsync(HarnessContext context, int round, ILoggerFactory loggers)
    {
        var mix = context.Mix;
        var total = context.PartitionMessages.Sum();
        var embedded = new EmbeddedFlowStore(
            Options.Create(new StoreOptions { Path = context.DataPath, Database = $"e2e_pipeline_r{round}", Retention = TimeSpan.FromDays(3650) }),
            loggers.CreateLogger<EmbeddedFlowStore>());
        await embedded.InitializeAsync(CancellationToken.None);
        var timed = new TimedFlowWriter(embedded);

        var kafka = new KafkaOptions
        {
            Topic = context.Topic,
            Format = context.Options.Format,
            DeadLetterTopic = context.DeadLetterTopic,
            GroupId = "e2e-pipeline-" + Guid.NewGuid().ToString("N")[..8],
        };
        // A rebalance on the mock broker holds every member's fetches for up to session.timeout.ms − 1 s (44 s by
        // default); a short session bounds that (the producer ignores these two, with a warning).
        kafka.Properties["session.timeout.ms"] = "6000";
        kafka.Properties["heartbeat.interval.ms"] = "1000";
        foreach (var (key, value) in context.Options.ConsumerProperties)
        {
            kafka.Properties[key] = value;
        }

        var options = new IngestOptions { Consumers = context.Options.Consumers };
        if (context.Options.BatchSize is { } batchSize)
        {
            options.BatchSize = batchSize;
        }

        if (context.Options.BatchLinger is { } linger)
        {
            options.BatchLinger = linger;
        }

        if (context.Options.PrefetchKilobytes is { } prefetch)
        {
            options.PrefetchKilobytes = prefetch;
        }

        var metrics = new IngestMetrics();
        var decoders = new Dictionary<string, IFlowDecoder>(StringComparer.Ordinal)
        {
            [context.Topic] = DecoderRegistry.Create(context.Options.Format, new DecoderSettings()),
        };
        var deadLettersBefore = TopicLoader.Count(context.Bootstrap, context.DeadLetterTopic, context.DeadLetterPartitions);

        // As IngestService builds it.
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(
            KafkaClientConfig.Apply(new ProducerConfig { EnableIdempotence = true, LingerMs = 20 }, kafka, context.Bootstrap)).Build();
        using var stopping = new CancellationTokenSource();
        using var monitor = PhaseMonitor.Start();
        var started = Stopwatch.GetTimestamp();
        var consumers = Enumerable.Range(0, options.Consumers)
            .Select(i => new IngestConsumer(timed, decoders, context.Inventory, metrics, options, kafka, deadLetters,
                loggers.CreateLogger($"{typeof(IngestConsumer).FullName}[{i}]")))
            .Select(c => c.RunAsync(context.Bootstrap, stopping.Token))
            .ToList();

        long first = 0;
        long done = 0;
        var deadline = started + (long)(context.PhaseTimeout.TotalSeconds * Stopwatch.Frequency);
        while (done == 0)
        {
            var now = Stopwatch.GetTimestamp();
            if (first == 0 && metrics.Pipeline.RecordsIn > 0)
            {
                first = now;
                monitor.MarkActive();
            }

            if (metrics.Writer.Stored >= mix.Good && metrics.Pipeline.InvalidTotal >= mix.Bad)
            {
                done = now;
                break;
            }

            if (now > deadline || consumers.Any(c => c.IsCompleted))
            {
                monitor.Stop();
                await stopping.CancelAsync();
                await Task.WhenAll(consumers);
                throw new HarnessFailure(
                    $"pipeline: {metrics.Writer.Stored:N0} of {mix.Good:N0} good records stored and {metrics.Pipeline.InvalidTotal:N0} of {mix.Bad:N0} " +
                    $"dead-lettered after {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s (records in {metrics.Pipeline.RecordsIn:N0}, insert retries {metrics.Writer.InsertRetries})");
            }

            await Task.Delay(2);
        }

        var usage = monitor.Stop();
        var insertBusy = timed.BusyTime;
        var insertCalls = timed.CallTime;
        await stopping.CancelAsync();
        await Task.WhenAll(consumers);
        if (deadLetters.Flush(TimeSpan.FromSeconds(30)) > 0)
        {
            throw new HarnessFailure("pipeline: dead-letter records still undelivered after 30 s");
        }

        await VerifyAsync(context, embedded, metrics, total, deadLettersBefore);
        var window = Stopwatch.GetElapsedTime(first, done).TotalSeconds;
        return new PhaseResult(
            Systems.Pipeline, total,
            Stopwatch.GetElapsedTime(first, done).TotalSeconds,
            Stopwatch.GetElapsedTime(started, done).TotalSeconds,
            usage,
            $"{metrics.Writer.Batches:N0} inserts of {mix.Good / (double)Math.Max(1, metrics.Writer.Batches):N0} rows (stored groups; each adds a progress insert); an insert in flight {insertBusy.TotalSeconds / window:P0} of the time " +
            $"({insertCalls.TotalSeconds:0.0} s inside insert calls, {insertCalls.TotalMicroseconds / mix.Good:0.0} µs/row); {metrics.Writer.InsertRetries} insert retries, {metrics.Source.CommitErrors} commit errors");
    }

    /// <summary>Rows stored == good records, dead letters == malformed records, and the enrichment is what the mix says.</summary>
    private static async Task VerifyAsync(HarnessContext context, EmbeddedFlowStore store, IngestMetrics metrics, long total, long deadLettersBefore)
    {
        var mix = context.Mix;
        var tally = mix.Tally;
        var problems = new List<string>();
        void Expect(string what, long expected, long actual)
        {
            if (expected != actual)
            {
                problems.Add($"{what}: expected {expected:N0}, got {actual:N0}");
            }
        }

        Expect("records consumed", total, metrics.Pipeline.RecordsIn);
        Expect("records stored (metric)", mix.Good, metrics.Writer.Stored);
        Expect("records dead-lettered (metric)", mix.Bad, metrics.Pipeline.InvalidTotal);
        Expect("dead-letter topic messages", mix.Bad, TopicLoader.Count(context.Bootstrap, context.DeadLetterTopic, context.DeadLetterPartitions) - deadLettersBefore);
        var row = await store.QueryAsync(
            $"""
            SELECT count(), uniqExact(conn_id),
                   countIf(src_workload != ''), countIf(src_kind = 'unknown'), countIf(src_kind = 'internet'),
                   countIf(dst_workload != ''), countIf(dst_kind = 'internet'),
                   countIf(NOT startsWith(IPv6NumToString(src_ip), '::ffff:')), countIf(proto = 17)
            FROM {FlowSchema.QuoteDatabase(store.Database)}.{FlowSchema.FlowsTable}
            """,
            "TabSeparated", static span => Encoding.UTF8.GetString(span).Trim().Split('\t'), [], CancellationToken.None);
        var values = row.Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Expect("rows in the store", mix.Good, values[0]);
        Expect("distinct connections in the store", mix.Connections, values[1]);
        Expect("rows with a source workload", tally.SrcWorkloadRows, values[2]);
        Expect("rows from unknown internal sources", tally.SrcUnknownRows, values[3]);
        Expect("rows from internet sources", tally.SrcInternetRows, values[4]);
        Expect("rows with a destination workload", tally.DstWorkloadRows, values[5]);
        Expect("rows to internet destinations", tally.DstInternetRows, values[6]);
        Expect("IPv6 rows", tally.Ipv6Rows, values[7]);
        Expect("UDP rows", tally.UdpRows, values[8]);
        if (problems.Count > 0)
        {
            throw new HarnessFailure("pipeline results are wrong: " + string.Join("; ", problems));
        }
    }
}
