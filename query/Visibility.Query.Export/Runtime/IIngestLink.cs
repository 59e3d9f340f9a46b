using Confluent.Kafka;

namespace Visibility.Query.Export.Runtime;

/// <summary>
/// What the export needs from the ingest running in the same process, without depending on it (the program wires
/// it): the topics no sink may write to, how far ingest has stored, and ingest's own brokers.
/// </summary>
public interface IIngestLink
{
    /// <summary>Ingest's topics and its dead-letter topic: never an export destination.</summary>
    IReadOnlyCollection<string> Topics { get; }

    /// <summary>
    /// Every record that was in Kafka before the returned time is stored (null until known); null itself when this
    /// process does not ingest, so the export need not wait for it.
    /// </summary>
    Func<DateTimeOffset?>? StoredUntil { get; }

    /// <summary>A producer configuration for ingest's brokers (Kafka sinks that name none).</summary>
    Task<ProducerConfig> BrokersAsync(CancellationToken cancellationToken);
}
