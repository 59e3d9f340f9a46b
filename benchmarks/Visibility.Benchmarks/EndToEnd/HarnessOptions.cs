using System.Globalization;
using Confluent.Kafka;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>Command-line options of the end-to-end harness (<c>e2e --help</c>).</summary>
internal sealed class HarnessOptions
{
    public const string Usage = """
        usage: Visibility.Benchmarks e2e [options]
          --records N        messages on the topic, good and malformed (default 1000000)
          --partitions P     topic partitions; 0 chooses enough to stay under the mock broker's retention (default 0)
          --consumers C      consumers in each system: ingest consumers, bare consumers, kafka_num_consumers (default 2)
          --rounds R         measure the three systems R times on the same topic, rotating their order (default 2)
          --batch-size B     ingest batch size (default: IngestOptions' default)
          --linger MS        ingest batch linger in milliseconds (default: IngestOptions' default)
          --prefetch-kb K    ingest consumers' prefetch, librdkafka queued.max.messages.kbytes (default: IngestOptions' default)
          --consumer-property KEY=VALUE
                             a librdkafka property for the ingest consumers (Visibility:Kafka:Properties); repeatable
          --workloads W      workloads in the estate (default 3000)
          --malformed F      fraction of malformed records, all dead-lettered (default 0.01)
          --compression C    producer compression: none, lz4, zstd, snappy, gzip (default none)
          --systems LIST     which systems to run, comma-separated: pipeline, bare, engine (default all three)
          --format F         the ingest decoder: ulogd2-json or auto (default ulogd2-json)
          --markdown PATH    where to write the Markdown report (default artifacts/e2e/e2e-<UTC time>.md)
          --data DIR         the embedded engine's data directory (default: a new temporary directory, deleted at the end)
          --force            run even when a partition would exceed 4 MiB (the mock broker then drops data; the run fails)
        """;

    public long Records { get; private set; } = 1_000_000;

    public int Partitions { get; private set; }

    public int Consumers { get; private set; } = 2;

    public int Rounds { get; private set; } = 2;

    public int? BatchSize { get; private set; }

    public TimeSpan? BatchLinger { get; private set; }

    public int? PrefetchKilobytes { get; private set; }

    /// <summary>librdkafka properties for the ingest consumers, as Visibility:Kafka:Properties passes them.</summary>
    public IReadOnlyDictionary<string, string> ConsumerProperties => consumerProperties;

    private readonly Dictionary<string, string> consumerProperties = new(StringComparer.Ordinal);

    public int Workloads { get; private set; } = 3_000;

    public double Malformed { get; private set; } = 0.01;

    public CompressionType Compression { get; private set; } = CompressionType.None;

    public string Format { get; private set; } = "ulogd2-json";

    /// <summary>The systems to measure, in their order for the first round.</summary>
    public IReadOnlyList<string> Systems { get; private set; } = [EndToEnd.Systems.Bare, EndToEnd.Systems.Pipeline, EndToEnd.Systems.KafkaEngine];

    public string? Markdown { get; private set; }

    public string? DataDirectory { get; private set; }

    public bool Force { get; private set; }

    /// <summary>Parses <paramref name="args"/>; null with <paramref name="error"/> set when they are wrong.</summary>
    public static HarnessOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        var options = new HarnessOptions();
        error = null;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name == "--force")
            {
                options.Force = true;
                continue;
            }

            if (name is "--help" or "-h")
            {
                error = "";
                return null;
            }

            if (i + 1 >= args.Count)
            {
                error = $"{name} needs a value";
                return null;
            }

            var value = args[++i];
            var ok = name switch
            {
                "--records" => TryLong(value, 2, 100_000_000, v => options.Records = v),
                "--partitions" => TryInt(value, 0, 1024, v => options.Partitions = v),
                "--consumers" => TryInt(value, 1, 16, v => options.Consumers = v),
                "--rounds" => TryInt(value, 1, 20, v => options.Rounds = v),
                "--batch-size" => TryInt(value, 1, 1_000_000, v => options.BatchSize = v),
                "--linger" => TryInt(value, 10, 60_000, v => options.BatchLinger = TimeSpan.FromMilliseconds(v)),
                "--prefetch-kb" => TryInt(value, 1024, 2_097_151, v => options.PrefetchKilobytes = v),
                "--consumer-property" => value.Split('=', 2) is [{ Length: > 0 } key, { Length: > 0 } setting] && Set(() => options.consumerProperties[key.Trim()] = setting.Trim()),
                "--workloads" => TryInt(value, 30, 40_000, v => options.Workloads = v),
                "--malformed" => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && f is >= 0 and <= 0.5 && Set(() => options.Malformed = f),
                "--compression" => Enum.TryParse<CompressionType>(value, ignoreCase: true, out var c) && Set(() => options.Compression = c),
                "--format" => value is "ulogd2-json" or "auto" && Set(() => options.Format = value),
                "--systems" => TrySystems(value, v => options.Systems = v),
                "--markdown" => Set(() => options.Markdown = value),
                "--data" => Set(() => options.DataDirectory = value),
                _ => false,
            };
            if (!ok)
            {
                error = $"unknown option or bad value: {name} {value}";
                return null;
            }
        }

        return options;
    }

    private static bool Set(Action set)
    {
        set();
        return true;
    }

    private static bool TrySystems(string text, Action<IReadOnlyList<string>> set)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var systems = names.Select(n => n switch
        {
            "pipeline" => EndToEnd.Systems.Pipeline,
            "bare" => EndToEnd.Systems.Bare,
            "engine" => EndToEnd.Systems.KafkaEngine,
            _ => null,
        }).ToList();
        if (systems.Count == 0 || systems.Any(s => s is null))
        {
            return false;
        }

        set(systems.Distinct().ToList()!);
        return true;
    }

    private static bool TryLong(string text, long min, long max, Action<long> set)
    {
        if (!long.TryParse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
        {
            return false;
        }

        set(v);
        return true;
    }

    private static bool TryInt(string text, int min, int max, Action<int> set) => TryLong(text, min, max, v => set((int)v));
}
