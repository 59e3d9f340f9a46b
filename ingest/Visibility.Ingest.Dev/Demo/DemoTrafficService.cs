using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;

namespace Visibility.Ingest.Demo;

/// <summary>
/// <c>serve --demo</c>: registers the demo estate and keeps writing its conversations to the flows topic as
/// ulogd2 records (NEW, then DESTROY with counters), a few connections a second.
/// </summary>
public sealed class DemoTrafficService(
    WorkloadInventory inventory,
    IFlowCatalog store,
    KafkaEndpoint endpoint,
    IOptions<KafkaOptions> kafka,
    ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger logger = loggers.CreateLogger<DemoTrafficService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await store.UpsertWorkloadsAsync(DemoEstate.Workloads, stoppingToken);
        inventory.Upsert(DemoEstate.Workloads);
        var bootstrap = await endpoint.GetAsync(stoppingToken);
        using var producer = new ProducerBuilder<Null, string>(KafkaClientConfig.Apply(new ProducerConfig { LingerMs = 5 }, kafka.Value, bootstrap))
            .SetLogHandler(KafkaLog.Handler(loggers.CreateLogger($"{KafkaLog.Category}.demo")))
            .Build();
        logger.LogInformation("Demo traffic: {Workloads} workloads, writing to {Topic}", DemoEstate.Workloads.Count, kafka.Value.Topic);

        var random = new Random();
        uint conntrackId = (uint)random.Next();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            do
            {
                var now = DateTimeOffset.UtcNow;
                foreach (var (src, dst, proto, port) in DemoEstate.Conversations)
                {
                    var start = now.AddMilliseconds(-random.Next(100, 2000));
                    var packetsOut = (ulong)random.Next(3, 40);
                    var packetsIn = (ulong)random.Next(3, 60);
                    var connection = new Ulogd2Writer.Connection(
                        ++conntrackId, src, dst, proto, (ushort)random.Next(32768, 60999), port, start, now,
                        packetsOut * 120, packetsOut, packetsIn * 900, packetsIn);
                    producer.Produce(kafka.Value.Topic, new Message<Null, string> { Value = Ulogd2Writer.New(connection) });
                    producer.Produce(kafka.Value.Topic, new Message<Null, string> { Value = Ulogd2Writer.Destroy(connection) });
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }

        producer.Flush(TimeSpan.FromSeconds(2));
    }
}
