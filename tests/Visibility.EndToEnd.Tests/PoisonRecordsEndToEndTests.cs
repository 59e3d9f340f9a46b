using System.Text;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>Malformed and truncated records go to the dead-letter topic with their reason and source; ingest goes on.</summary>
public sealed partial class PoisonRecordsEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ingest_TenThousandBadRecordsAmongHundredThousandGood_StoresEveryGoodOneAndDeadLettersEveryBadOne()
    {
        const int good = 100_000;
        const int badEvery = 10;
        const int bad = good / badEvery;
        await using var rig = new IngestRig("poison", partitions: 64);
        using var data = new TempDirectory("visibility-poison");
        await using var worker = rig.StartIngest(data.Path);
        await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build())
        {
            for (var i = 0; i < good; i += 5_000)
            {
                rig.Produce(producer, i, 5_000, badEvery);
                await Task.Delay(100);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        await rig.WaitCommittedToEndAsync(worker, TimeSpan.FromSeconds(180));
        var metrics = await worker.Http.GetStringAsync("/metrics");
        Assert.False(worker.HasExited, worker.Output);
        await worker.StopAsync();
        Assert.Equal(0, worker.ExitCode);

        output.WriteLine(string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("visibility_ingest_dead_lettered_total{", StringComparison.Ordinal))));
        Assert.Equal(bad, IngestRig.Metric(metrics, "visibility_ingest_dead_lettered_total{"));
        Assert.Equal(good, IngestRig.Metric(metrics, "visibility_ingest_stored_total"));
        Assert.Equal(good + bad, IngestRig.Metric(metrics, "visibility_ingest_records_total"));
        Assert.Equal(good, IngestRig.Metric(metrics, "visibility_ingest_enriched_total"));
        Assert.Equal(IngestRig.Metric(metrics, "visibility_ingest_batches_total"), IngestRig.Metric(metrics, "visibility_ingest_batch_rows_bucket{le=\"+Inf\"}"));
        Assert.Equal(good, IngestRig.Metric(metrics, "visibility_ingest_batch_rows_sum"));
        Assert.Contains("visibility_ingest_batch_store_seconds_bucket{le=\"0.1\"}", metrics, StringComparison.Ordinal);

        // Caught up: every partition that was stored from reports no lag.
        var lag = metrics.Split('\n').Where(l => l.StartsWith("visibility_ingest_consumer_lag{", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(lag);
        Assert.All(lag, l => Assert.EndsWith(" 0", l, StringComparison.Ordinal));
        rig.AssertBrokerKeptEverything();

        var (exit, report) = await IngestRig.VerifyStoreAsync(data.Path);
        Assert.Equal(0, exit);
        Assert.Equal(good, report.GetProperty("rows").GetInt64());

        var dead = ReadDeadLetters(rig, bad);
        var sources = new HashSet<string>(StringComparer.Ordinal);
        foreach (var message in dead)
        {
            var reason = Header(message, "visibility-reason");
            var source = Header(message, "visibility-source");
            Assert.False(string.IsNullOrWhiteSpace(reason), "a dead letter without a reason");
            Assert.Matches(SourcePattern(), source);
            Assert.StartsWith(rig.Topic + "/", source, StringComparison.Ordinal);
            sources.Add(source);
        }

        Assert.Equal(bad, dead.Count);
        Assert.Equal(bad, sources.Count);
    }

    private static List<Message<byte[]?, byte[]?>> ReadDeadLetters(IngestRig rig, int expected)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = rig.Bootstrap,
            GroupId = "dlq-reader-" + Guid.NewGuid().ToString("N"),
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(rig.DeadLetterTopic);
        var messages = new List<Message<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var quietUntil = DateTime.MaxValue;
        while (DateTime.UtcNow < deadline && DateTime.UtcNow < quietUntil)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result?.Message is not null)
            {
                messages.Add(result.Message);
            }

            // Past the expected count, keep reading a moment longer: a duplicate would show up then.
            if (messages.Count >= expected && quietUntil == DateTime.MaxValue)
            {
                quietUntil = DateTime.UtcNow.AddSeconds(1);
            }
        }

        consumer.Close();
        return messages;
    }

    private static string Header(Message<byte[]?, byte[]?> message, string key) =>
        message.Headers.TryGetLastBytes(key, out var value) ? Encoding.UTF8.GetString(value) : "";

    [GeneratedRegex("^[A-Za-z0-9._-]+/[0-9]+/[0-9]+$")]
    private static partial Regex SourcePattern();
}
