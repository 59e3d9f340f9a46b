using Visibility.Query.Findings;
using Visibility.Query.Graph;

namespace Visibility.Query.Export;

/// <summary>Who the records say they come from: the vendor, product and version in every header.</summary>
public sealed record ExportIdentity(string Vendor, string Product, string Version)
{
    public static readonly ExportIdentity Default = new("Visibility", "Visibility", "1.0");
}

/// <summary>
/// A finding as exported: the finding, when the event happened and a stable id, the same every time the same
/// event is written, so a receiver can drop repeats.
/// </summary>
public sealed record FindingEvent(string EventId, DateTimeOffset Time, Finding Finding);

/// <summary>
/// Traffic between two nodes of a grouping over one interval: the nodes as the graph draws them, the flows,
/// bytes and packets of both directions, the destination services seen (<c>tcp/5432</c>), the finding kinds and
/// the highest of their severities (null without findings). <see cref="EventId"/> is stable like a finding's.
/// </summary>
public sealed record FlowSummary(
    string EventId,
    DateTimeOffset IntervalStart,
    DateTimeOffset IntervalEnd,
    IReadOnlyList<string> GroupBy,
    GraphNode Source,
    GraphNode Destination,
    long Flows,
    long Bytes,
    long Packets,
    IReadOnlyList<string> Ports,
    IReadOnlyList<string> Findings,
    string? Severity);
