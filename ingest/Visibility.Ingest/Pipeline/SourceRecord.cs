namespace Visibility.Ingest.Pipeline;

/// <summary>
/// One message as the pipeline sees it: where it was read (topic, partition, offset), the time the source has for
/// it, and its bytes. A ref struct over the source's own buffers, so handing a record to the pipeline copies and
/// allocates nothing.
/// </summary>
public readonly ref struct SourceRecord
{
    public SourceRecord(string topic, int partition, long offset, long? timestampMs, ReadOnlySpan<byte> value)
    {
        Topic = topic;
        Partition = partition;
        Offset = offset;
        TimestampMs = timestampMs;
        Value = value;
    }

    public string Topic { get; }

    public int Partition { get; }

    public long Offset { get; }

    /// <summary>The source's time for the message (Kafka's timestamp), Unix milliseconds; null when it has none.</summary>
    public long? TimestampMs { get; }

    public ReadOnlySpan<byte> Value { get; }
}
