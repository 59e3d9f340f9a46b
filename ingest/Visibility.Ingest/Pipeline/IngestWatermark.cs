using System.Collections.Concurrent;
using Confluent.Kafka;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// How far this process's ingest is complete: every record that was in Kafka, on the partitions this process
/// consumes, before <see cref="Until"/> is stored. Each consumer probes its partitions' end offsets about once a
/// second and the probe's time becomes its watermark once the store's progress reaches those offsets; the process's
/// watermark is the lowest of its consumers'. Readers that must not see an interval before its records are in (the
/// SIEM export) wait for it. Null while no consumer has completed a probe.
/// </summary>
public sealed class IngestWatermark
{
    private readonly ConcurrentDictionary<object, DateTimeOffset> members = new();

    public DateTimeOffset? Until => members.IsEmpty ? null : members.Values.Min();

    internal void Set(object member, DateTimeOffset until) => members[member] = until;

    internal void Remove(object member) => members.TryRemove(member, out _);
}

/// <summary>
/// One consumer's part of <see cref="IngestWatermark"/>: probes (time, end offset per assigned partition) and the
/// store's progress per partition; a probe is reached when the progress of each partition still assigned is at or
/// beyond its end offset, and the latest reached probe's time is the watermark. Offsets only grow, so reaching a probe
/// implies reaching every earlier one.
/// </summary>
public sealed class ConsumerWatermark(IngestWatermark shared, TimeProvider clock)
{
    private const int MaxProbes = 600;
    private readonly ConcurrentDictionary<TopicPartition, long> stored = new();
    private readonly Queue<(DateTimeOffset Time, Dictionary<TopicPartition, long> Ends)> probes = new();
    private readonly Lock gate = new();

    /// <summary>The store holds every record of <paramref name="partition"/> before <paramref name="nextOffset"/>.</summary>
    public void Stored(TopicPartition partition, long nextOffset) =>
        stored.AddOrUpdate(partition, nextOffset, (_, old) => Math.Max(old, nextOffset));

    public void Forget(TopicPartition partition) => stored.TryRemove(partition, out _);

    /// <summary>Takes a probe of the assigned partitions' end offsets (a broker round trip each) and moves the watermark.</summary>
    public void Probe(IConsumer<byte[]?, byte[]?> consumer, TimeSpan timeout)
    {
        var assignment = consumer.Assignment;
        if (assignment.Count == 0)
        {
            // Nothing assigned (yet): nothing this consumer could vouch for.
            return;
        }

        var time = clock.GetUtcNow();
        var ends = new Dictionary<TopicPartition, long>(assignment.Count);
        foreach (var partition in assignment)
        {
            var end = consumer.QueryWatermarkOffsets(partition, timeout).High;
            ends[partition] = end == Offset.Unset ? 0 : end.Value;
        }

        lock (gate)
        {
            probes.Enqueue((time, ends));
            if (probes.Count > MaxProbes)
            {
                probes.Dequeue();
            }

            DateTimeOffset? reached = null;
            while (probes.Count > 0 && Reached(probes.Peek().Ends, assignment))
            {
                reached = probes.Dequeue().Time;
            }

            if (reached is { } until)
            {
                shared.Set(this, until);
            }
        }
    }

    public void Leave() => shared.Remove(this);

    private bool Reached(Dictionary<TopicPartition, long> ends, List<TopicPartition> assignment) =>
        ends.All(e => !assignment.Contains(e.Key) || e.Value == 0 || (stored.TryGetValue(e.Key, out var next) && next >= e.Value));
}
