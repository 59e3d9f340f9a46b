using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Benchmarks.Support;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// Puts the record mix on the topic once, for every system to read. A connection's records share a partition
/// (partition = connection mod P), as a keyed shipper would place them. Records are handed to the producer in
/// runs of about 100 kB per partition, so each becomes one batch of ~160 messages: the mock broker answers a
/// fetch with a single stored batch per partition (a real broker sends up to max.partition.fetch.bytes, 1 MiB,
/// whatever the batching), so the tiny batches a slow generator makes would measure its round trips instead.
/// librdkafka's mock broker keeps at most
/// 5 MiB (or 100,000 batches) per partition and silently drops older data, so the layout is checked before
/// producing (bytes per partition) and after (every partition still starts at offset 0 and holds what was sent).
/// </summary>
internal static class TopicLoader
{
    /// <summary>The mock broker's retention per partition.</summary>
    public const long RetentionBytes = 5L << 20;

    /// <summary>Refuse layouts above this, leaving room for batch headers the estimate does not see.</summary>
    public const long LimitBytes = 4L << 20;

    // Per record: length, attributes, timestamp and offset deltas, key and header counts (varints) in a v2 batch.
    private const int RecordOverhead = 12;

    // Below the producer's batch.size (1,000,000 bytes), so one run makes one batch. Not larger: the mock answers a
    // fetch with one batch for every partition asked, whatever the fetch's byte limits, and with 25 partitions of
    // 800 kB batches chDB's Kafka engine stopped receiving (a consumer stuck for a minute, no rebalance), while
    // 100 kB batches ran clean in every try.
    private const int RunBytes = 100_000;

    /// <summary>Average message size of the mix, from its first records.</summary>
    public static double AverageMessageBytes(FlowMix mix) =>
        mix.Enumerate().Take(20_000).Average(r => (double)r.Value.Length);

    /// <summary>Enough partitions to keep each under ~3.5 MiB of stored bytes (at least 32).</summary>
    public static int ChoosePartitions(FlowMix mix, double averageBytes, double compressionRatio)
    {
        var total = mix.Records * (averageBytes + RecordOverhead) * compressionRatio;
        return Math.Max(32, (int)Math.Ceiling(total / (3.5 * (1 << 20))));
    }

    public static LoadResult Produce(string bootstrap, string topic, int partitions, FlowMix mix, CompressionType compression)
    {
        var perPartitionBytes = new long[partitions];
        var perPartitionMessages = new long[partitions];
        long deliveryErrors = 0;
        string? lastStatistics = null;
        var config = new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Acks = Acks.Leader,
            // Long enough for a run to be handed over before its batch is sent.
            LingerMs = 100,
            BatchSize = 1_000_000,
            QueueBufferingMaxMessages = 1_000_000,
            QueueBufferingMaxKbytes = 1 << 20,
            CompressionType = compression,
            StatisticsIntervalMs = 500,
        };
        var watch = Stopwatch.StartNew();
        using (var producer = new ProducerBuilder<Null, byte[]>(config)
            .SetStatisticsHandler((_, json) => Volatile.Write(ref lastStatistics, json))
            .Build())
        {
            void OnDelivery(DeliveryReport<Null, byte[]> report)
            {
                if (report.Error.IsError)
                {
                    Interlocked.Increment(ref deliveryErrors);
                }
            }

            var runs = Enumerable.Range(0, partitions).Select(_ => new List<byte[]>()).ToArray();
            var runBytes = new long[partitions];
            void Send(int partition)
            {
                foreach (var value in runs[partition])
                {
                    var message = new Message<Null, byte[]> { Value = value };
                    while (true)
                    {
                        try
                        {
                            producer.Produce(new TopicPartition(topic, new Partition(partition)), message, OnDelivery);
                            break;
                        }
                        catch (ProduceException<Null, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                        {
                            producer.Poll(TimeSpan.FromMilliseconds(50));
                        }
                    }
                }

                runs[partition].Clear();
                runBytes[partition] = 0;
            }

            foreach (var record in mix.Enumerate())
            {
                var partition = (int)(record.Connection % partitions);
                perPartitionBytes[partition] += record.Value.Length + RecordOverhead;
                perPartitionMessages[partition]++;
                runs[partition].Add(record.Value);
                runBytes[partition] += record.Value.Length + RecordOverhead;
                if (runBytes[partition] >= RunBytes - 2_000)
                {
                    Send(partition);
                }
            }

            for (var p = 0; p < partitions; p++)
            {
                Send(p);
            }

            var left = producer.Flush(TimeSpan.FromMinutes(2));
            if (left > 0)
            {
                throw new HarnessFailure($"{left} messages were still not delivered after two minutes");
            }

            // One more statistics report after the flush carries the final byte counts.
            var seen = Volatile.Read(ref lastStatistics);
            var deadline = Stopwatch.StartNew();
            while (ReferenceEquals(seen, Volatile.Read(ref lastStatistics)) && deadline.Elapsed < TimeSpan.FromSeconds(3))
            {
                producer.Poll(TimeSpan.FromMilliseconds(50));
            }
        }

        var seconds = watch.Elapsed.TotalSeconds;
        if (deliveryErrors > 0)
        {
            throw new HarnessFailure($"{deliveryErrors} messages failed delivery");
        }

        // With compression the broker stores compressed batches: scale by what actually went over the wire.
        var ratio = 1.0;
        if (compression != CompressionType.None && Volatile.Read(ref lastStatistics) is { } stats)
        {
            ratio = WireRatio(stats, perPartitionBytes.Sum());
        }

        return new LoadResult(seconds, perPartitionMessages, perPartitionBytes, ratio);
    }

    /// <summary>
    /// Checks that the mock broker still holds every message: each partition starts at offset 0 and ends at the
    /// count produced. Retention drops data silently, and this is the only place it shows.
    /// </summary>
    public static void VerifyRetained(string bootstrap, string topic, IReadOnlyList<long> expected)
    {
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "e2e-probe" }).Build();
        var problems = new List<string>();
        for (var p = 0; p < expected.Count; p++)
        {
            var marks = probe.QueryWatermarkOffsets(new TopicPartition(topic, new Partition(p)), TimeSpan.FromSeconds(10));
            if (marks.Low.Value != 0 || marks.High.Value != expected[p])
            {
                problems.Add($"partition {p}: offsets {marks.Low.Value}..{marks.High.Value}, expected 0..{expected[p]}");
            }
        }

        if (problems.Count > 0)
        {
            throw new HarnessFailure(
                "The broker no longer holds every message (its retention is 5 MiB or 100,000 batches per partition): " +
                string.Join("; ", problems.Take(5)) + (problems.Count > 5 ? $"; and {problems.Count - 5} more" : "") +
                ". Use more partitions (--partitions) or fewer records.");
        }
    }

    /// <summary>Messages appended to <paramref name="topic"/> so far (the sum of its high watermarks).</summary>
    public static long Count(string bootstrap, string topic, int partitions)
    {
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "e2e-probe" }).Build();
        long total = 0;
        for (var p = 0; p < partitions; p++)
        {
            total += probe.QueryWatermarkOffsets(new TopicPartition(topic, new Partition(p)), TimeSpan.FromSeconds(10)).High.Value;
        }

        return total;
    }

    private static double WireRatio(string statistics, long uncompressed)
    {
        using var doc = JsonDocument.Parse(statistics);
        long wire = 0;
        foreach (var broker in doc.RootElement.GetProperty("brokers").EnumerateObject())
        {
            if (broker.Value.TryGetProperty("nodeid", out var id) && id.GetInt32() >= 0)
            {
                wire += broker.Value.GetProperty("txbytes").GetInt64();
            }
        }

        return wire > 0 ? Math.Min(1.0, (double)wire / uncompressed) : 1.0;
    }
}

/// <summary>What producing the topic took and how its partitions are filled (estimated stored bytes).</summary>
internal sealed record LoadResult(double Seconds, IReadOnlyList<long> Messages, IReadOnlyList<long> UncompressedBytes, double WireRatio)
{
    public long MaxPartitionBytes => (long)(UncompressedBytes.Max() * WireRatio);

    public long AveragePartitionBytes => (long)(UncompressedBytes.Average() * WireRatio);
}

/// <summary>A run that measured something wrong, or could not measure: the harness reports it and exits non-zero.</summary>
internal sealed class HarnessFailure(string message) : Exception(message);
