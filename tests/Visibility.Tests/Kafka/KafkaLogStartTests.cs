using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Ingest;
using Visibility.Flows.Store;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;

namespace Visibility.Tests.Kafka;

/// <summary>
/// <see cref="KafkaLogStart"/> against the development broker, whose retention (5 MiB per partition) deletes the
/// oldest records of a partition that receives more: records deleted before they were read are reported and counted.
/// </summary>
public sealed class KafkaLogStartTests
{
    private const string Topic = "log-start";

    [Fact]
    public async Task Check_ProgressBelowLogStart_CountsDeletedRecordsAndStartsAtLogStart()
    {
        await using var broker = Broker();
        Produce(broker, 12_000);
        var (low, high) = Watermarks(broker);
        Assert.True(low > 100, $"retention deleted nothing (log {low}..{high})");
        var metrics = new SourceMetrics();
        var log = new RecordingLogger();
        using var consumer = Consumer(broker);

        var starts = new KafkaLogStart(new KafkaOptions(), metrics, log).Check(consumer, [new PartitionResume(new KafkaPartition(Topic, 0), 100)]);

        Assert.Equal(low, Assert.Single(starts).Offset.Value);
        Assert.Equal(low - 100, metrics.RecordsLost[new KafkaPartition(Topic, 0)]);
        Assert.Equal(low - 100, metrics.RecordsLostTotal);
        var error = Assert.Single(log.Lines, l => l.Level == LogLevel.Error);
        Assert.Contains($"{Topic}/0: {low - 100} records lost, offsets 100..{low - 1}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_LatestPolicy_StartsAtLogEndAndCountsEverythingSkipped()
    {
        await using var broker = Broker();
        Produce(broker, 12_000);
        var (_, high) = Watermarks(broker);
        var metrics = new SourceMetrics();
        using var consumer = Consumer(broker);

        var starts = new KafkaLogStart(new KafkaOptions { AutoOffsetReset = "latest" }, metrics, new RecordingLogger())
            .Check(consumer, [new PartitionResume(new KafkaPartition(Topic, 0), 100)]);

        Assert.Equal(high, Assert.Single(starts).Offset.Value);
        Assert.Equal(high - 100, metrics.RecordsLostTotal);
    }

    [Fact]
    public async Task Check_ProgressBeyondLogEnd_SaysTheLogIsNewAndCountsNothing()
    {
        // The development broker keeps nothing across restarts, while the store keeps its progress.
        await using var broker = Broker();
        Produce(broker, 10);
        var metrics = new SourceMetrics();
        var log = new RecordingLogger();
        using var consumer = Consumer(broker);

        var starts = new KafkaLogStart(new KafkaOptions(), metrics, log).Check(consumer, [new PartitionResume(new KafkaPartition(Topic, 0), 5_000)]);

        Assert.Equal(0, Assert.Single(starts).Offset.Value);
        Assert.Equal(0, metrics.RecordsLostTotal);
        Assert.DoesNotContain(log.Lines, l => l.Level >= LogLevel.Error);
        Assert.Contains(log.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("is at offset 5000 but the partition's log ends at 10", StringComparison.Ordinal)
            && l.Message.Contains("nothing was lost", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Consumed_PositionFallsOffTheLogWhileReading_CountsWhatTheClientSkipped()
    {
        await using var broker = Broker();
        var metrics = new SourceMetrics();
        var log = new RecordingLogger();
        using var consumer = Consumer(broker);
        var logStart = new KafkaLogStart(new KafkaOptions(), metrics, log);
        var partition = new KafkaPartition(Topic, 0);

        // Assigned at the start of an empty log; then more than retention keeps arrives before the first fetch, so
        // the client finds its position gone and resets it to the log start.
        consumer.Assign(logStart.Check(consumer, [new PartitionResume(partition, 0)]));
        Produce(broker, 12_000);
        var (low, _) = Watermarks(broker);
        ConsumeResult<byte[]?, byte[]?>? first = null;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (first?.Message is null && DateTime.UtcNow < deadline)
        {
            first = consumer.Consume(TimeSpan.FromMilliseconds(200));
        }

        Assert.NotNull(first?.Message);
        logStart.Consumed(consumer, partition, first.Offset.Value);
        logStart.Consumed(consumer, partition, first.Offset.Value + 1);

        Assert.Equal(low, first.Offset.Value);
        Assert.Equal(low, metrics.RecordsLostTotal);
        Assert.Contains(log.Lines, l => l.Level == LogLevel.Error && l.Message.Contains($"{Topic}/0: {low} records lost, offsets 0..{low - 1}", StringComparison.Ordinal));
    }

    [Fact]
    public void Options_AutoOffsetResetInProperties_IsRefusedNamingTheOption()
    {
        Assert.Contains("Visibility:Kafka:AutoOffsetReset", Validate(new() { ["Visibility:Kafka:Properties:auto.offset.reset"] = "earliest" }), StringComparison.Ordinal);
        Assert.Contains("Visibility:Kafka:AutoOffsetReset takes earliest or latest", Validate(new() { ["Visibility:Kafka:AutoOffsetReset"] = "smallest" }), StringComparison.Ordinal);
        Assert.Null(Validate(new() { ["Visibility:Kafka:AutoOffsetReset"] = "latest" }));
        Assert.Null(Validate([]));
    }

    /// <summary>The validation error of the Kafka options bound from <paramref name="settings"/>, or null.</summary>
    private static string? Validate(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddIngest(configuration);
        using var provider = services.BuildServiceProvider();
        try
        {
            _ = provider.GetRequiredService<IOptions<KafkaOptions>>().Value;
            return null;
        }
        catch (OptionsValidationException ex)
        {
            return ex.Message;
        }
    }

    private static DevBroker Broker()
    {
        var broker = DevBroker.Start(port: 0);
        broker.CreateTopic(Topic, 1);
        return broker;
    }

    /// <summary>Records of 1,000 bytes into partition 0: 12,000 of them are more than its 5 MiB.</summary>
    private static void Produce(DevBroker broker, int count)
    {
        using var producer = new ProducerBuilder<Null, byte[]>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, LingerMs = 5 }).Build();
        var value = new byte[1_000];
        for (var i = 0; i < count; i++)
        {
            producer.Produce(new TopicPartition(Topic, 0), new Message<Null, byte[]> { Value = value });
            if (i % 1_000 == 999)
            {
                producer.Flush(TimeSpan.FromSeconds(10));
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }

    private static (long Low, long High) Watermarks(DevBroker broker)
    {
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "probe" }).Build();
        var w = probe.QueryWatermarkOffsets(new TopicPartition(Topic, 0), TimeSpan.FromSeconds(10));
        return (w.Low.Value, w.High.Value);
    }

    private static IConsumer<byte[]?, byte[]?> Consumer(DevBroker broker) =>
        new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = broker.BootstrapServers,
            GroupId = "log-start-" + Guid.NewGuid().ToString("N")[..8],
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).Build();

    private sealed class RecordingLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }
}
