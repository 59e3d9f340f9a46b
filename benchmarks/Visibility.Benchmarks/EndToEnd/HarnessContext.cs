using Visibility.Benchmarks.Support;
using Visibility.Flows.Store.Chdb;
using Visibility.Ingest.Enrichment;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>What every phase reads: the topic and its contents, the estate, the engine.</summary>
internal sealed record HarnessContext(
    HarnessOptions Options,
    string Bootstrap,
    string Topic,
    string DeadLetterTopic,
    int DeadLetterPartitions,
    IReadOnlyList<long> PartitionMessages,
    FlowMix Mix,
    WorkloadInventory Inventory,
    string DataPath,
    ChdbConnection Control)
{
    /// <summary>
    /// The longest a phase may take before the run is declared failed: room for one stalled rebalance on the mock
    /// broker (about 45 s) on top of 10,000 records/s.
    /// </summary>
    public TimeSpan PhaseTimeout => TimeSpan.FromSeconds(60 + Math.Max(60, Mix.Records / 10_000.0));
}

/// <summary>The systems compared.</summary>
internal static class Systems
{
    public const string Pipeline = "Visibility pipeline";
    public const string Bare = "Bare Confluent.Kafka consumer";
    public const string KafkaEngine = "chDB Kafka engine + MV";
}

/// <summary>
/// One system's pass over the topic: records, the time from the first record consumed to the last one done
/// (stored, or read for the bare consumer), the time from starting (group join included), and the resources used.
/// </summary>
internal sealed record PhaseResult(string System, long Records, double Seconds, double SecondsFromStart, PhaseUsage Usage, string Note)
{
    /// <summary>False when the system stopped before reading everything (measured up to where it stopped).</summary>
    public bool Complete { get; init; } = true;

    public double RecordsPerSecond => Records / Seconds;

    public double CpuMicrosPerRecord => Usage.Cpu.TotalMicroseconds / Records;
}
