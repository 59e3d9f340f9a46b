using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Issue 18, item 6, loss at the source: ulogd2 drops conntrack events under bursts, leaving connections opened and
/// never closed. `visibility ingest` counts those open past their protocol's conntrack timeout, in /metrics and /readyz.
/// </summary>
public sealed class UnclosedConnectionsEndToEndTests
{
    [Fact]
    public async Task NewEventsWithoutDestroy_PastTheirTimeout_CountedInMetricsAndReadiness()
    {
        await using var rig = new IngestRig("unclosed", partitions: 2);
        using var data = new TempDirectory("visibility-unclosed");
        await using var worker = rig.StartIngest(data.Path, new Dictionary<string, string> { ["Visibility__Conntrack__CheckInterval"] = "1s" });
        await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));

        // Three UDP connections opened 10 minutes ago (past 120 s) whose DESTROY never came, two that did close, and
        // one opened 10 s ago (within its timeout); and one TCP connection opened an hour ago (within 5 days).
        var now = DateTimeOffset.UtcNow;
        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap }).Build())
        {
            void Send(string json) => producer.Produce(rig.Topic, new Message<Null, string> { Value = json });
            for (uint i = 1; i <= 5; i++)
            {
                var c = new Ulogd2Writer.Connection(i, "10.1.0.1", "10.2.0.1", 17, (ushort)(5000 + i), 53, now.AddMinutes(-10), now.AddMinutes(-9), 100, 1, 200, 1);
                Send(Ulogd2Writer.New(c));
                if (i > 3)
                {
                    Send(Ulogd2Writer.Destroy(c));
                }
            }

            Send(Ulogd2Writer.New(new Ulogd2Writer.Connection(6, "10.1.0.1", "10.2.0.1", 17, 6000, 53, now.AddSeconds(-10), now, 0, 0, 0, 0)));
            Send(Ulogd2Writer.New(new Ulogd2Writer.Connection(7, "10.1.0.1", "10.2.0.1", 6, 6001, 443, now.AddHours(-1), now, 0, 0, 0, 0)));
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        }

        await rig.WaitCommittedToEndAsync(worker, TimeSpan.FromSeconds(60));
        var metrics = await worker.WaitAsync(
            () => worker.Http.GetStringAsync("/metrics"), m => m.Contains("visibility_source_connections_unclosed{", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the unclosed-connections gauge");
        Assert.Contains("visibility_source_connections_unclosed{protocol=\"udp\"} 3\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("protocol=\"tcp\"", metrics, StringComparison.Ordinal);
        var ready = await worker.Http.GetStringAsync("/readyz");
        Assert.Contains("3 connection(s) open past their conntrack timeout", ready, StringComparison.Ordinal);
        Assert.Contains("their end was probably lost at the source", worker.Output, StringComparison.Ordinal);
        await worker.StopAsync();
    }
}
