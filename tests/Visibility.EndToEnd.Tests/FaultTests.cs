namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The fault and load tests (broker and store outages, full disk, crashes, scale-out, backpressure) stream tens of
/// thousands of records each: they run one after another, beside the other tests, so that together they do not
/// starve the rest of a two-core machine.
/// </summary>
public static class FaultTests
{
    public const string Collection = "fault and load tests, one at a time";
}
