using System.ComponentModel.DataAnnotations;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>Configuration section <c>Visibility:Ingest</c>.</summary>
public sealed class IngestOptions
{
    public const string Section = "Visibility:Ingest";

    /// <summary>Run ingest workers in this process.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Consumers in this process; all join the same group.</summary>
    [Range(1, 64)]
    public int Consumers { get; set; } = 1;

    /// <summary>Records per insert; larger batches insert faster, smaller ones show up sooner.</summary>
    [Range(1, 1_000_000)]
    public int BatchSize { get; set; } = 20_000;

    /// <summary>
    /// The most rows one insert takes when batches have queued up behind a running insert (they are then stored
    /// together: fewer, larger parts). A single batch is never split.
    /// </summary>
    [Range(1, 10_000_000)]
    public int InsertRows { get; set; } = 100_000;

    /// <summary>
    /// How batches are encoded for the store: <c>Native</c> (columns with per-batch label dictionaries; ClickHouse
    /// parses it several times faster) or <c>RowBinary</c>.
    /// </summary>
    public FlowEncoding Encoding { get; set; } = FlowEncoding.Native;

    /// <summary>The longest a record waits in a partial batch.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan BatchLinger { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Encoded batches waiting for the store, per consumer; when full, consumption pauses.</summary>
    [Range(1, 64)]
    public int QueueDepth { get; set; } = 4;

    /// <summary>
    /// Kilobytes of records the Kafka client may prefetch per consumer (librdkafka's queued.max.messages.kbytes,
    /// 64 MiB by default there). With QueueDepth and BatchSize this bounds ingest memory under any backlog.
    /// </summary>
    [Range(1024, 2_097_151)]
    public int PrefetchKilobytes { get; set; } = 16_384;

    /// <summary>How long a shutdown waits for the last batches to be stored and committed.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(20);
}
