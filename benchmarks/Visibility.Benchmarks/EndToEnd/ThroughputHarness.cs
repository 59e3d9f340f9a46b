using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Benchmarks.Support;
using Visibility.Flows.Store.Chdb;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// The end-to-end throughput harness (<c>e2e</c>): one topic on the in-process development broker, filled once
/// with the record mix, then read by three systems in turn, each with a fresh consumer group: Visibility's
/// pipeline into the embedded store, a bare Confluent.Kafka consumer (the broker's ceiling), and chDB's own Kafka
/// table engine with a materialized view (what a user would run instead). The order rotates between rounds, so
/// every ratio compares systems measured minutes apart on the same data. Any wrong count fails the run.
/// </summary>
internal static class ThroughputHarness
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        var options = HarnessOptions.Parse(args, out var error);
        if (options is null)
        {
            Console.Error.WriteLine(string.IsNullOrEmpty(error) ? HarnessOptions.Usage : error + Environment.NewLine + HarnessOptions.Usage);
            return string.IsNullOrEmpty(error) ? 0 : 2;
        }

        var dataPath = Path.GetFullPath(options.DataDirectory ?? Path.Combine(Path.GetTempPath(), $"visibility-e2e-{Environment.ProcessId}"));
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        var ownsData = options.DataDirectory is null;
        try
        {
            var report = await RunCoreAsync(options, args, dataPath, ownsData, loggers);
            var path = options.Markdown ?? Path.Combine("artifacts", "e2e", $"e2e-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}.md");
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            await File.WriteAllTextAsync(path, report);
            Console.WriteLine();
            Console.WriteLine(report);
            Console.WriteLine($"Report written to {Path.GetFullPath(path)}");
            return 0;
        }
        catch (HarnessFailure ex)
        {
            Console.Error.WriteLine();
            Console.Error.WriteLine("E2E FAILED: " + ex.Message);
            if (Directory.Exists(dataPath))
            {
                Console.Error.WriteLine($"The store is left in {dataPath} for inspection.");
            }

            return 1;
        }
    }

    private static async Task<string> RunCoreAsync(HarnessOptions options, IReadOnlyList<string> args, string dataPath, bool ownsData, ILoggerFactory loggers)
    {
        var environment = MachineInfo.Describe();
        Log($"e2e: {options.Records:N0} records, {options.Consumers} consumer(s) per system, {options.Rounds} round(s); {environment.Cpu}, {environment.Cores} cores");
        var estate = BenchEstate.Create(options.Workloads);
        var inventory = new WorkloadInventory(Options.Create(new InventoryOptions()));
        inventory.Upsert(estate.Workloads);
        var mix = new FlowMix(estate, options.Records, options.Malformed);

        await using var broker = DevBroker.Start(port: 0, loggers.CreateLogger<DevBroker>());
        // Kafka's own default of 3 s, so every member of a fresh group (chDB's Kafka engine starts its second consumer
        // late) joins the first generation; measured time starts at the first record consumed, after the join.
        broker.SetInitialRebalanceDelay(TimeSpan.FromSeconds(3));
        var average = TopicLoader.AverageMessageBytes(mix);
        // Compressed JSON batches of this shape come out at about a third; the check after producing is exact.
        var expectedRatio = options.Compression == CompressionType.None ? 1.0 : 0.4;
        var partitions = options.Partitions > 0 ? options.Partitions : TopicLoader.ChoosePartitions(mix, average, expectedRatio);
        var estimate = (long)(mix.Records / (double)partitions * (average + 12) * expectedRatio);
        if (estimate > TopicLoader.LimitBytes && !options.Force)
        {
            throw new HarnessFailure(
                $"{partitions} partitions would hold ≈ {Mib(estimate)} each; the mock broker keeps {Mib(TopicLoader.RetentionBytes)} per partition " +
                $"and silently drops the rest. Use --partitions {TopicLoader.ChoosePartitions(mix, average, expectedRatio)} or more, fewer --records, or --compression lz4.");
        }

        const string topic = "flows";
        const string deadLetterTopic = "flows-dlq";
        const int deadLetterPartitions = 8;
        broker.CreateTopic(topic, partitions);
        broker.CreateTopic(deadLetterTopic, deadLetterPartitions);
        Log($"producing {mix.Records:N0} messages ({average:0} bytes on average) to {partitions} partitions, compression {options.Compression}…");
        var load = TopicLoader.Produce(broker.BootstrapServers, topic, partitions, mix, options.Compression);
        Log($"produced in {load.Seconds:0.0} s ({mix.Records / load.Seconds:N0} msg/s); per partition ≈ {Mib(load.MaxPartitionBytes)} max, {Mib(load.AveragePartitionBytes)} average");
        if (load.MaxPartitionBytes > TopicLoader.LimitBytes)
        {
            Log($"WARNING: a partition holds ≈ {Mib(load.MaxPartitionBytes)}, close to or over the broker's {Mib(TopicLoader.RetentionBytes)} retention");
        }

        TopicLoader.VerifyRetained(broker.BootstrapServers, topic, load.Messages);

        var engine = ChdbEngine.Open(dataPath);
        var control = engine.Connect();
        var chdbVersion = (await control.QueryTextAsync("SELECT version()")).Trim();
        var context = new HarnessContext(options, broker.BootstrapServers, topic, deadLetterTopic, deadLetterPartitions, load.Messages, mix, inventory, dataPath, control);
        var results = new List<(int Round, PhaseResult Result)>();
        var order = options.Systems;
        for (var round = 1; round <= options.Rounds; round++)
        {
            foreach (var system in order.Skip((round - 1) % order.Count).Concat(order.Take((round - 1) % order.Count)))
            {
                await QuiesceAsync(control);
                Log($"round {round}: {system}…");
                var result = system switch
                {
                    Systems.Bare => BareConsumerPhase.Run(context),
                    Systems.Pipeline => await PipelinePhase.RunAsync(context, round, loggers),
                    _ => await KafkaEnginePhase.RunAsync(context, round),
                };
                Log($"round {round}: {system}: {result.RecordsPerSecond:N0} records/s, {result.Usage.Cores:0.00} cores, {result.CpuMicrosPerRecord:0.00} µs CPU/record");
                results.Add((round, result));
            }
        }

        // Every system read the same, complete topic.
        TopicLoader.VerifyRetained(broker.BootstrapServers, topic, load.Messages);
        var markdown = Report.Markdown(environment, chdbVersion, options, args, mix, partitions, load, results);
        if (ownsData)
        {
            await RemoveDataAsync(control, options.Rounds, dataPath);
        }

        return markdown;
    }

    /// <summary>
    /// Drops what the run stored (the engine removes the files) and then the directory. The engine keeps running
    /// until the process exits, so its background merges must be over before the directory goes.
    /// </summary>
    private static async Task RemoveDataAsync(ChdbConnection control, int rounds, string dataPath)
    {
        await QuiesceAsync(control);
        await control.ExecuteAsync($"DROP DATABASE IF EXISTS {KafkaEnginePhase.Database} SYNC");
        for (var round = 1; round <= rounds; round++)
        {
            await control.ExecuteAsync($"DROP DATABASE IF EXISTS e2e_pipeline_r{round} SYNC");
        }

        Directory.Delete(dataPath, recursive: true);
    }

    /// <summary>Lets the previous phase's background work finish: pending merges, garbage.</summary>
    private static async Task QuiesceAsync(ChdbConnection control)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        for (var i = 0; i < 600; i++)
        {
            var merges = (await control.QueryTextAsync("SELECT count() FROM system.merges")).Trim();
            if (merges == "0")
            {
                return;
            }

            await Task.Delay(100);
        }
    }

    internal static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1 << 20):0.00} MiB");

    private static void Log(string message) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {message}");
}
