using Confluent.Kafka;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Tests.Support;
using Xunit.Abstractions;

namespace Visibility.Tests.Pipeline;

/// <summary>The committer's probe records an idle partition's progress again, so its next owner's resume window stays short.</summary>
public sealed class KafkaCommitterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Probe_PartitionIdleLongerThanTheRefresh_IsRecordedAgain_UntilItIsRevoked()
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = "127.0.0.1:1" }).Build();
        var logger = new TestLogger(output, "committer");
        var metrics = new SourceMetrics();
        var recorded = new List<PartitionProgress>();
        var committer = new KafkaCommitter(
            new DeadLetterPublisher(producer, "dlq", metrics, logger), null, metrics, logger,
            (progress, _) =>
            {
                lock (recorded)
                {
                    recorded.AddRange(progress);
                }

                return Task.CompletedTask;
            },
            TimeSpan.FromMilliseconds(200));
        var idle = new KafkaPartition("flows", 3);
        committer.Resumed([new PartitionResume(idle, 42), new PartitionResume(new KafkaPartition("flows", 4), null)]);

        using var stop = new CancellationTokenSource();
        var probing = committer.ProbeAsync(stop.Token);
        await Eventually.TrueAsync(() => { lock (recorded) { return recorded.Count >= 2; } }, TimeSpan.FromSeconds(10), "the idle partition recorded twice");

        // Revoked: no longer recorded (its next owner records it).
        committer.CommitAndForget([new TopicPartitionOffset("flows", 3, 42)]);
        int after;
        lock (recorded)
        {
            after = recorded.Count;
        }

        // An absence can only be shown by waiting: seven refresh intervals.
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        await stop.CancelAsync();
        await probing;
        lock (recorded)
        {
            Assert.All(recorded, p => Assert.Equal(new PartitionProgress(idle, 42), p));
            Assert.InRange(recorded.Count, after, after + 1);
        }
    }
}
