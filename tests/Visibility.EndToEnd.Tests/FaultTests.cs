namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The fault and load tests (broker and store outages, full disk, crashes, scale-out, backpressure) stream tens of
/// thousands of records each: they run one after another, beside the other tests, so that together they do not
/// starve the rest of a two-core machine.
/// </summary>
public static class FaultTests
{
    public const string Collection = "fault and load tests, one at a time";

    /// <summary>The ingest settings of the store-fault tests: small batches, so the bound below is quickly reached.</summary>
    public const int BatchSize = 2_000;
    public const int QueueDepth = 4;
    public const int InsertRows = 8_000;

    /// <summary>
    /// The most records a worker (one consumer) holds whatever the store does: the group the writer is inserting
    /// (it takes batches while it has fewer than InsertRows rows, so at most InsertRows − 1 + BatchSize), a full queue
    /// (QueueDepth batches) and the batch in hand. Records the Kafka client prefetched are not in it: pausing drops
    /// them, and their bytes are capped by PrefetchKilobytes until then.
    /// </summary>
    public const int HeldBound = InsertRows - 1 + BatchSize + ((QueueDepth + 1) * BatchSize);

    /// <summary>Adds <see cref="BatchSize"/>, <see cref="QueueDepth"/> and <see cref="InsertRows"/> to a worker's environment.</summary>
    public static Dictionary<string, string> WithIngestSettings(Dictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        environment["Visibility__Ingest__BatchSize"] = BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["Visibility__Ingest__QueueDepth"] = QueueDepth.ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["Visibility__Ingest__InsertRows"] = InsertRows.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return environment;
    }
}
