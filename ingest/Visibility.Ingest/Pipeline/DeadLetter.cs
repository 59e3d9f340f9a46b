using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>What became of one record in the pipeline.</summary>
public enum RecordOutcome
{
    /// <summary>Decoded, enriched and classified: a row of the batch.</summary>
    Row,

    /// <summary>Well-formed but not a flow (a decoder's expected skip).</summary>
    Skipped,

    /// <summary>Already in the store: an insert whose progress was never recorded stored it.</summary>
    AlreadyStored,

    /// <summary>Malformed: it goes to the dead-letter topic, described by a <see cref="DeadLetter"/>.</summary>
    DeadLettered,
}

/// <summary>
/// The pipeline's decision that a record is malformed, as data: which record, the format that refused it and why.
/// The source delivers the record itself to the dead-letter topic with these as headers.
/// </summary>
public readonly record struct DeadLetter(KafkaPartition Source, long Offset, string Format, string Reason);
