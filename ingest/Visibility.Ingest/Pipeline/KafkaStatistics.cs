using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// librdkafka's statistics (<c>statistics.interval.ms</c>) of this process's consumers. The handler, which librdkafka
/// calls on the consuming thread, only keeps the latest JSON document per client; it is parsed when read (a scrape,
/// a readiness check), at most once per document, so the consume loop does no more work than a reference store.
/// </summary>
public sealed class KafkaStatistics
{
    /// <summary>How often each consumer emits its statistics (<see cref="Kafka.KafkaOptions.StatisticsInterval"/>; set when a consumer opens).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Entry> clients = new(StringComparer.Ordinal);

    /// <summary>Keeps <paramref name="json"/> as the latest statistics of client <paramref name="client"/> (librdkafka's handle name).</summary>
    public void Update(string client, string json) => clients[client] = new Entry(json, DateTimeOffset.UtcNow);

    /// <summary>The latest statistics of each client heard from within three intervals (older ones: a consumer closed or stuck).</summary>
    public IReadOnlyList<KafkaClientStatistics> Current()
    {
        var now = DateTimeOffset.UtcNow;
        var result = new List<KafkaClientStatistics>(clients.Count);
        foreach (var (client, entry) in clients)
        {
            if (now - entry.ReceivedAt > 3 * Interval)
            {
                clients.TryRemove(new KeyValuePair<string, Entry>(client, entry));
                continue;
            }

            if (entry.Parsed.Value is { } parsed)
            {
                result.Add(parsed with { Client = client, ReceivedAt = entry.ReceivedAt });
            }
        }

        return result;
    }

    /// <summary>Whether any consumer has reported statistics yet (they arrive one interval after it starts).</summary>
    public bool Reported => !clients.IsEmpty;

    /// <summary>Reads the parts of librdkafka's statistics JSON this program reports; null when it cannot be read.</summary>
    public static KafkaClientStatistics? Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var brokers = new List<KafkaBrokerStatistics>();
            if (root.TryGetProperty("brokers", out var brokerSet) && brokerSet.ValueKind == JsonValueKind.Object)
            {
                // Real connections are named host:port/nodeid (or /bootstrap); librdkafka's logical brokers (GroupCoordinator) are left out.
                foreach (var broker in brokerSet.EnumerateObject().Where(b => b.Name.Contains('/', StringComparison.Ordinal)))
                {
                    var rtt = broker.Value.TryGetProperty("rtt", out var window) ? window : default;
                    var samples = rtt.ValueKind == JsonValueKind.Object && rtt.TryGetProperty("cnt", out var cnt) ? cnt.GetInt64() : 0;
                    var average = samples > 0 && rtt.TryGetProperty("avg", out var avg) ? avg.GetInt64() / 1e6 : (double?)null;
                    var state = broker.Value.TryGetProperty("state", out var s) ? s.GetString() ?? "" : "";
                    brokers.Add(new KafkaBrokerStatistics(broker.Name, state, average));
                }
            }

            var partitions = new List<KafkaPartitionStatistics>();
            if (root.TryGetProperty("topics", out var topics) && topics.ValueKind == JsonValueKind.Object)
            {
                foreach (var topic in topics.EnumerateObject())
                {
                    if (!topic.Value.TryGetProperty("partitions", out var parts) || parts.ValueKind != JsonValueKind.Object)
                    {
                        continue;
                    }

                    foreach (var part in parts.EnumerateObject())
                    {
                        // -1 is librdkafka's internal unassigned partition.
                        if (int.TryParse(part.Name, NumberStyles.Integer, CultureInfo.InvariantCulture, out var partition) && partition >= 0
                            && Lag(part.Value) is var lag and >= 0)
                        {
                            partitions.Add(new KafkaPartitionStatistics(topic.Name, partition, lag));
                        }
                    }
                }
            }

            return new KafkaClientStatistics("", default, brokers, partitions);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// librdkafka's consumer lag: the high watermark minus the committed offset. Before the group's first commit of a
    /// partition it is unknown (-1), and a backlog would look like none: then the high watermark minus the position
    /// (the last record handed to the application, or the log start before any), for a partition this client fetches.
    /// -1 when not known either way.
    /// </summary>
    private static long Lag(JsonElement partition)
    {
        var lag = Number(partition, "consumer_lag");
        if (lag >= 0)
        {
            return lag;
        }

        var fetched = !partition.TryGetProperty("desired", out var desired) || desired.ValueKind == JsonValueKind.True;
        var high = Number(partition, "hi_offset");
        var position = Math.Max(Number(partition, "app_offset"), Number(partition, "lo_offset"));
        return fetched && high >= 0 && position >= 0 && position <= high ? high - position : -1;
    }

    /// <summary>An integer field; -1 when absent or not a number (librdkafka writes -1001 for an offset not known).</summary>
    private static long Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : -1;

    private sealed class Entry(string json, DateTimeOffset receivedAt)
    {
        public DateTimeOffset ReceivedAt { get; } = receivedAt;

        public Lazy<KafkaClientStatistics?> Parsed { get; } = new(() => Parse(json), LazyThreadSafetyMode.ExecutionAndPublication);
    }
}

/// <summary>One consumer's latest statistics: its brokers and the partitions it fetches.</summary>
public sealed record KafkaClientStatistics(
    string Client, DateTimeOffset ReceivedAt, IReadOnlyList<KafkaBrokerStatistics> Brokers, IReadOnlyList<KafkaPartitionStatistics> Partitions);

/// <summary>A broker as a client sees it: connection state and the average request round trip of the last interval (null without requests).</summary>
public sealed record KafkaBrokerStatistics(string Name, string State, double? RoundTripSeconds)
{
    public bool Up => State == "UP";
}

/// <summary>A fetched partition's consumer lag (high watermark minus the committed offset, or the position before a first commit), per librdkafka.</summary>
public sealed record KafkaPartitionStatistics(string Topic, int Partition, long Lag);
