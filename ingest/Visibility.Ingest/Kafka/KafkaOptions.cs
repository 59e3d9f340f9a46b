using System.ComponentModel.DataAnnotations;

namespace Visibility.Ingest.Kafka;

/// <summary>Configuration section <c>Visibility:Kafka</c>.</summary>
public sealed class KafkaOptions
{
    public const string Section = "Visibility:Kafka";

    /// <summary>
    /// The cluster's bootstrap servers. Empty: only with <see cref="Embedded"/> (or <c>serve --demo</c>), which start
    /// the development broker in this process; otherwise <c>serve</c> and <c>ingest</c> refuse to start.
    /// </summary>
    public string BootstrapServers { get; set; } = "";

    /// <summary>
    /// Start the development broker (librdkafka's mock cluster) in this process when <see cref="BootstrapServers"/> is
    /// empty. It keeps 5 MiB per partition and drops older records: for demos and tests, never production.
    /// </summary>
    public bool Embedded { get; set; }

    [Required]
    public string Topic { get; set; } = "flows";

    /// <summary>
    /// The format of <see cref="Topic"/>'s records: ulogd2-json, conntrack-text, conntrack-xml, canonical-json,
    /// aws-vpc, hubble-json, ulogd2-nflog, or auto (detected per record).
    /// </summary>
    [Required]
    public string Format { get; set; } = "auto";

    /// <summary>More topics to consume, each with its format (topic → format).</summary>
    public Dictionary<string, string> Topics { get; } = new(StringComparer.Ordinal);

    [Required]
    public string GroupId { get; set; } = "visibility-ingest";

    /// <summary>
    /// Static group membership (KIP-345, librdkafka's <c>group.instance.id</c>): a stable name for this process in the
    /// group, e.g. the pod name of a StatefulSet. A member that restarts within the session timeout gets its partitions
    /// back without a rebalance of the whole group. Empty (the default): dynamic membership. With several
    /// <c>Visibility:Ingest:Consumers</c> each consumer gets <c>&lt;id&gt;-&lt;n&gt;</c>, since two live members with one id
    /// fence each other. Only the ingest consumers get it, not the producers.
    /// </summary>
    public string GroupInstanceId { get; set; } = "";

    /// <summary>Every topic consumed, with its format.</summary>
    public IReadOnlyDictionary<string, string> TopicFormats()
    {
        var all = new Dictionary<string, string>(Topics, StringComparer.Ordinal) { [Topic] = Format };
        return all;
    }

    /// <summary>Where malformed records go, with their reason and source partition/offset in headers.</summary>
    [Required]
    public string DeadLetterTopic { get; set; } = "flows-dlq";

    /// <summary>The development broker's bootstrap port (with <see cref="Embedded"/>).</summary>
    [Range(0, 65535)]
    public int DevBrokerPort { get; set; } = 9092;

    /// <summary>Partitions of the topic the development broker creates.</summary>
    [Range(1, 1024)]
    public int DevBrokerPartitions { get; set; } = 8;

    /// <summary>
    /// Where a partition's reading starts when the position to resume from is outside its log: <c>earliest</c> (the
    /// log start: read everything the broker still holds; the default) or <c>latest</c> (the log end: only new
    /// records). Also where a group with no progress and no committed offset starts. Records skipped because
    /// retention deleted them first (or, with <c>latest</c>, skipped by this choice) are logged as an error and
    /// counted in <c>visibility_ingest_records_lost_total</c>; never silently.
    /// </summary>
    [Required]
    [RegularExpression("^(earliest|latest)$", ErrorMessage = "Visibility:Kafka:AutoOffsetReset takes earliest or latest")]
    public string AutoOffsetReset { get; set; } = "earliest";

    /// <summary>Whether <see cref="AutoOffsetReset"/> is <c>latest</c>.</summary>
    public bool ResetsToLatest => AutoOffsetReset == "latest";

    /// <summary>
    /// How often each ingest consumer reports librdkafka's statistics (<c>statistics.interval.ms</c>): the
    /// <c>visibility_kafka_*</c> series (lag per partition, broker round trips) and <c>/readyz</c>'s broker check are
    /// that fresh. Not free: with statistics on, ingest ran about 10 % slower in <c>make bench-e2e</c> (BENCHMARKS.md);
    /// <c>0s</c> turns them off (no <c>visibility_kafka_*</c> series; the broker check then says it cannot tell).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan StatisticsInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Extra librdkafka properties for every client, e.g. <c>security.protocol</c>, <c>sasl.mechanism</c>,
    /// <c>sasl.username</c>, <c>ssl.ca.location</c>. Values are never logged. <c>auto.offset.reset</c> is refused here:
    /// it is <see cref="AutoOffsetReset"/>.
    /// </summary>
    public Dictionary<string, string> Properties { get; } = new(StringComparer.Ordinal);
}
