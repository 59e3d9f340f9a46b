using System.Diagnostics;
using Confluent.Kafka;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// The broker's ceiling: Confluent.Kafka consumers (a fresh group id, no commits) that only read every message,
/// touching its bytes, one thread each. Partitions are assigned statically (consumer i takes every partition p with
/// p mod N = i) rather than through group membership: the mock broker's group coordinator can hold a rebalance for
/// session.timeout.ms with every member's fetches blocked, and the ceiling should be the fetch path's alone. Done
/// when every partition has been read to its end.
/// </summary>
internal static class BareConsumerPhase
{
    public const string ThreadName = "bare-consumer";

    public static PhaseResult Run(HarnessContext context)
    {
        var partitions = context.PartitionMessages.Count;
        var nextOffsets = new long[partitions];
        var remaining = context.PartitionMessages.Count(m => m > 0);
        long first = 0;
        long done = 0;
        long received = 0;
        var group = "e2e-bare-" + Guid.NewGuid().ToString("N")[..8];
        using var stop = new CancellationTokenSource();
        Exception? failure = null;

        void Consume(int index)
        {
            try
            {
                using var consumer = new ConsumerBuilder<Ignore, byte[]>(new ConsumerConfig
                {
                    BootstrapServers = context.Bootstrap,
                    GroupId = group,
                    EnableAutoCommit = false,
                    EnableAutoOffsetStore = false,
                    AutoOffsetReset = AutoOffsetReset.Earliest,
                }).Build();
                consumer.Assign(Enumerable.Range(0, partitions)
                    .Where(p => p % context.Options.Consumers == index)
                    .Select(p => new TopicPartitionOffset(context.Topic, new Partition(p), Offset.Beginning)));
                long bytes = 0;
                long local = 0;
                while (!stop.IsCancellationRequested)
                {
                    var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
                    if (result?.Message is null)
                    {
                        continue;
                    }

                    Interlocked.CompareExchange(ref first, Stopwatch.GetTimestamp(), 0);
                    bytes += result.Message.Value.Length;
                    local++;
                    var p = result.Partition.Value;
                    var next = result.Offset.Value + 1;
                    if (Advance(ref nextOffsets[p], next) && next == context.PartitionMessages[p] && Interlocked.Decrement(ref remaining) == 0)
                    {
                        Volatile.Write(ref done, Stopwatch.GetTimestamp());
                        stop.Cancel();
                    }
                }

                Interlocked.Add(ref received, local);
                GC.KeepAlive(bytes);
                consumer.Close();
            }
            catch (Exception ex) when (ex is KafkaException or InvalidOperationException)
            {
                failure = ex;
                stop.Cancel();
            }
        }

        using var monitor = PhaseMonitor.Start();
        var started = Stopwatch.GetTimestamp();
        var threads = Enumerable.Range(0, context.Options.Consumers)
            .Select(i => new Thread(() => Consume(i)) { Name = ThreadName, IsBackground = true })
            .ToList();
        threads.ForEach(t => t.Start());
        var deadline = started + (long)(context.PhaseTimeout.TotalSeconds * Stopwatch.Frequency);
        var active = false;
        while (!stop.IsCancellationRequested)
        {
            if (!active && Volatile.Read(ref first) != 0)
            {
                monitor.MarkActive();
                active = true;
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                var usage = monitor.Stop();
                stop.Cancel();
                threads.ForEach(t => t.Join());
                throw new HarnessFailure(
                    $"bare consumer: {partitions - remaining} of {partitions} partitions read to the end within {context.PhaseTimeout.TotalSeconds:0} s ({usage.Wall.TotalSeconds:0.0} s)");
            }

            stop.Token.WaitHandle.WaitOne(2);
        }

        var phaseUsage = monitor.Stop();
        var end = Volatile.Read(ref done);
        threads.ForEach(t => t.Join());
        if (failure is not null)
        {
            throw new HarnessFailure("bare consumer failed: " + failure.Message);
        }

        var total = context.PartitionMessages.Sum();
        if (end == 0)
        {
            throw new HarnessFailure("bare consumer stopped before reading every partition");
        }

        var note = received > total ? $"{received - total:N0} messages read twice" : "";
        return new PhaseResult(
            Systems.Bare, total,
            Stopwatch.GetElapsedTime(Volatile.Read(ref first), end).TotalSeconds,
            Stopwatch.GetElapsedTime(started, end).TotalSeconds,
            phaseUsage, note);
    }

    /// <summary>Moves <paramref name="slot"/> forward to <paramref name="value"/>; true when this call moved it.</summary>
    private static bool Advance(ref long slot, long value)
    {
        var current = Volatile.Read(ref slot);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref slot, value, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }
}
