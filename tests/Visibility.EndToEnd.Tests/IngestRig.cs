using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Ingest.Demo;
using Visibility.Ingest.Kafka;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// A dev broker in the test process and `visibility ingest` workers as child processes: the broker outlives the
/// workers a test kills. Records are ulogd2 DESTROY events, one per connection, each identifiable by its offset.
/// </summary>
public sealed class IngestRig : IAsyncDisposable
{
    private readonly DevBroker broker;

    public IngestRig(string name, int partitions)
    {
        broker = DevBroker.Start(port: 0);
        Topic = name + "-" + Guid.NewGuid().ToString("N")[..8];
        DeadLetterTopic = Topic + "-dlq";
        Partitions = partitions;
        broker.CreateTopic(Topic, partitions);
        broker.CreateTopic(DeadLetterTopic, 4);
    }

    public string Topic { get; }

    public string DeadLetterTopic { get; }

    public int Partitions { get; }

    public string Bootstrap => broker.BootstrapServers;

    /// <summary>Creates another topic on this rig's broker (for a second ingest format: <c>Visibility__Kafka__Topics__&lt;topic&gt;</c>).</summary>
    public void CreateTopic(string topic, int partitions) => broker.CreateTopic(topic, partitions);

    /// <summary>Takes the broker down (connections refused and dropped) or brings it back (librdkafka's mock fault injection).</summary>
    public void SetBrokerAvailable(bool up) => broker.SetAvailable(up);

    public string GroupId { get; } = "ingest-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Starts `visibility ingest` on <paramref name="dataPath"/> (embedded store) in this rig's group.</summary>
    public VisibilityProcess StartIngest(string dataPath, IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = new Dictionary<string, string>(Environment(), StringComparer.Ordinal);
        foreach (var (k, v) in extra ?? new Dictionary<string, string>())
        {
            environment[k] = v;
        }

        return VisibilityProcess.Start(dataPath, environment: environment, command: "ingest");
    }

    public IReadOnlyDictionary<string, string> Environment() => new Dictionary<string, string>
    {
        ["Visibility__Kafka__BootstrapServers"] = Bootstrap,
        ["Visibility__Kafka__Topic"] = Topic,
        ["Visibility__Kafka__Format"] = "ulogd2-json",
        ["Visibility__Kafka__GroupId"] = GroupId,
        ["Visibility__Kafka__DeadLetterTopic"] = DeadLetterTopic,

        // The mock broker finishes a rebalance only when a member's session times out (45 s by default).
        ["Visibility__Kafka__Properties__session.timeout.ms"] = "6000",
        ["Visibility__Kafka__Properties__heartbeat.interval.ms"] = "500",
        ["Visibility__Ingest__BatchSize"] = "2000",
        ["Visibility__Ingest__BatchLinger"] = "00:00:00.100",
    };

    /// <summary>
    /// Produces good records <paramref name="first"/>.. and, every <paramref name="badEvery"/>-th, a bad one, spread
    /// evenly over the partitions (the mock's retention is per partition).
    /// </summary>
    public void Produce(IProducer<Null, string> producer, int first, int count, int badEvery = 0)
    {
        var now = DateTimeOffset.UtcNow;
        for (var i = first; i < first + count; i++)
        {
            var conversation = DemoEstate.Conversations[i % DemoEstate.Conversations.Count];
            var connection = new Ulogd2Writer.Connection((uint)i + 1, conversation.Src, conversation.Dst, conversation.Proto,
                (ushort)(1024 + (i % 60000)), conversation.Port, now, now, 100 + (ulong)i, 2, 1000, 3);
            var json = Ulogd2Writer.Destroy(connection);
            var partition = new TopicPartition(Topic, i % Partitions);
            Send(producer, partition, json);
            if (badEvery > 0 && i % badEvery == 0)
            {
                Send(producer, partition, Bad(i, json));
            }
        }
    }

    /// <summary>
    /// Produces <paramref name="count"/> connections dev-api-1 → prod-db-1, each to a new port from
    /// <paramref name="firstPort"/> on: a <c>cross_env</c> finding each (with <see cref="DemoEstate.Workloads"/>).
    /// </summary>
    public void ProduceCrossEnv(IProducer<Null, string> producer, int firstPort, int count)
    {
        var now = DateTimeOffset.UtcNow;
        for (var port = firstPort; port < firstPort + count; port++)
        {
            var connection = new Ulogd2Writer.Connection((uint)port, "10.20.2.10", "10.10.3.10", 6, 40_000, (ushort)port, now, now, 100, 2, 1000, 3);
            Send(producer, new TopicPartition(Topic, port % Partitions), Ulogd2Writer.Destroy(connection));
        }

        producer.Flush(TimeSpan.FromSeconds(10));
    }

    /// <summary>Produces one record, waiting for deliveries while the client's queue is full.</summary>
    private static void Send(IProducer<Null, string> producer, TopicPartition partition, string value)
    {
        while (true)
        {
            try
            {
                producer.Produce(partition, new Message<Null, string> { Value = value });
                return;
            }
            catch (ProduceException<Null, string> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                producer.Poll(TimeSpan.FromMilliseconds(100));
            }
        }
    }

    /// <summary>A malformed or truncated record, of one of several kinds.</summary>
    public static string Bad(int i, string good) => (i / 10 % 6) switch
    {
        0 => good[..(good.Length / 2)],
        1 => "{not json at all",
        2 => good.Replace("\"src_ip\": \"", "\"src_ip\": \"999.", StringComparison.Ordinal),
        3 => "{\"src_ip\": \"10.0.0.1\"}",
        4 => "\u0001\u0002binary\u00ff",
        _ => "[1,2,3]",
    };

    /// <summary>The end of every partition of the topic.</summary>
    public long[] HighWatermarks()
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Bootstrap, GroupId = "probe-" + Guid.NewGuid().ToString("N") }).Build();
        return Enumerable.Range(0, Partitions)
            .Select(p => consumer.QueryWatermarkOffsets(new TopicPartition(Topic, p), TimeSpan.FromSeconds(10)).High.Value).ToArray();
    }

    /// <summary>The start of every partition's log: above 0 once the broker's retention deleted records.</summary>
    public long[] LowWatermarks()
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Bootstrap, GroupId = "probe-" + Guid.NewGuid().ToString("N") }).Build();
        return Enumerable.Range(0, Partitions)
            .Select(p => consumer.QueryWatermarkOffsets(new TopicPartition(Topic, p), TimeSpan.FromSeconds(10)).Low.Value).ToArray();
    }

    /// <summary>
    /// Fails when the broker dropped records: the mock keeps 5 MiB per partition and silently discards older ones,
    /// which would look like lost records.
    /// </summary>
    public void AssertBrokerKeptEverything()
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Bootstrap, GroupId = "probe-" + Guid.NewGuid().ToString("N") }).Build();
        var low = Enumerable.Range(0, Partitions)
            .Select(p => consumer.QueryWatermarkOffsets(new TopicPartition(Topic, p), TimeSpan.FromSeconds(10)).Low.Value).ToArray();
        Assert.True(low.All(l => l == 0), $"the dev broker dropped records (5 MiB per partition): low watermarks {string.Join(",", low)}; use more partitions");
    }

    /// <summary>The group's committed offsets, summed over the topic's partitions (a partition without one counts 0).</summary>
    public long CommittedTotal()
    {
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Bootstrap, GroupId = GroupId }).Build();
        var partitions = Enumerable.Range(0, Partitions).Select(p => new TopicPartition(Topic, p)).ToList();
        return probe.Committed(partitions, TimeSpan.FromSeconds(10)).Sum(c => Math.Max(0, c.Offset.Value));
    }

    /// <summary>Waits until the group has committed every partition up to its end, i.e. the store has all of it.</summary>
    public async Task WaitCommittedToEndAsync(VisibilityProcess worker, TimeSpan timeout)
    {
        var high = HighWatermarks();
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = Bootstrap, GroupId = GroupId }).Build();
        var partitions = Enumerable.Range(0, Partitions).Select(p => new TopicPartition(Topic, p)).ToList();
        await worker.WaitAsync(
            () => Task.FromResult(probe.Committed(partitions, TimeSpan.FromSeconds(10)).OrderBy(c => c.Partition.Value).Select(c => c.Offset.Value).ToArray()),
            committed => committed.Zip(high).All(x => x.Second == 0 || x.First >= x.Second),
            timeout, $"every partition committed to its end ({string.Join(",", high)})", TimeSpan.FromMilliseconds(250));
    }

    /// <summary>Runs `visibility verify-store --json` on a data directory no process has open.</summary>
    public static async Task<(int ExitCode, JsonElement Report)> VerifyStoreAsync(string dataPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        var variables = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["Visibility__Store__Path"] = dataPath };
        var (exitCode, text, stderr) = await VisibilityProcess.RunCommandAsync(["verify-store", "--json"], variables);
        if (!text.TrimStart().StartsWith('{'))
        {
            throw new InvalidOperationException($"verify-store printed no report (exit {exitCode}): {text}\n{stderr}");
        }

        return (exitCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    public static long Metric(string metrics, string name) =>
        metrics.Split('\n').Where(l => l.StartsWith(name, StringComparison.Ordinal) && !l.StartsWith('#'))
            .Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    public ValueTask DisposeAsync() => broker.DisposeAsync();
}
