using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Visibility.Query.Findings;
using Visibility.Query.Graph;

namespace Visibility.Query.Export.Streams;

/// <summary>One exported record: a finding event or a flow summary, with what a sink's envelope needs.</summary>
public sealed record ExportRecord(string EventId, DateTimeOffset Time, string? Severity, FindingEvent? Finding, FlowSummary? Summary)
{
    /// <summary><c>finding</c> or <c>flow_summary</c>.</summary>
    public string Kind => Finding is not null ? "finding" : "flow_summary";

    public void WriteTo(IBufferWriter<byte> output, IExportFormat format)
    {
        if (Finding is not null)
        {
            format.Write(output, Finding);
        }
        else
        {
            format.Write(output, Summary!);
        }
    }
}

/// <summary>
/// The records of one interval of a stream. A closed interval always gives the same records in the same order, with
/// the same event ids, which is what lets a stream resume at a checkpoint (interval, index) after a restart:
/// <list type="bullet">
/// <item>Findings: the findings (kind, both ends, service) first seen in the interval, and not seen in the
/// <c>repeatAfter</c> before it — read as the findings of [start − repeatAfter, end) whose first sighting is at or
/// after the start (a <c>blocked_attempts</c> finding's first sighting is when its source reached the threshold).
/// Ordered by first sighting, then kind, ends, service and the source's kind.</item>
/// <item>Summaries: the graph of the interval at the stream's grouping, one record per edge, ordered by its ends.</item>
/// </list>
/// Both are read with the stream's filter through the planner, like the API.
/// </summary>
public sealed class ExportRecordSource(FindingsQuery findings, GraphQuery graph)
{
    /// <summary>The most records one interval gives; beyond it the rest are counted as dropped.</summary>
    public const int MaxPerInterval = FindingsQuery.MaxLimit;

    public async Task<IntervalRecords> ReadAsync(ExportStreamSettings stream, DateTimeOffset start, DateTimeOffset end, CancellationToken cancellationToken)
    {
        return stream.Content switch
        {
            ExportContent.Findings => await FindingsAsync(stream, start, end, cancellationToken),
            _ => await SummariesAsync(stream, start, end, cancellationToken),
        };
    }

    private async Task<IntervalRecords> FindingsAsync(ExportStreamSettings stream, DateTimeOffset start, DateTimeOffset end, CancellationToken cancellationToken)
    {
        var response = await findings.RunAsync(
            new FindingsRequest(start - stream.RepeatAfter, end, stream.Filter, stream.MinSeverity, FindingsQuery.MaxLimit) { FirstSeenFrom = start },
            cancellationToken);
        var records = response.Findings
            .Where(f => f.FirstSeen >= start)
            .OrderBy(f => f.FirstSeen)
            .ThenBy(f => f.Kind, StringComparer.Ordinal)
            .ThenBy(f => f.Source.Workload, StringComparer.Ordinal)
            .ThenBy(f => f.Destination.Workload, StringComparer.Ordinal)
            .ThenBy(f => f.Service, StringComparer.Ordinal)
            .ThenBy(f => f.Source.Kind, StringComparer.Ordinal)
            .Select(f =>
            {
                // A blocked_attempts finding is one per source, and sources without a workload differ by kind only.
                var id = f.BlockedAttempts is null
                    ? EventId("finding", start, f.Kind, f.Source.Workload, f.Destination.Workload, f.Service)
                    : EventId("finding", start, f.Kind, f.Source.Workload, f.Source.Kind);
                return new ExportRecord(id, f.FirstSeen, f.Severity, new FindingEvent(id, f.FirstSeen, f), null);
            })
            .ToList();
        return new IntervalRecords(records, response.Truncated ? response.Total - response.Findings.Count : 0);
    }

    private async Task<IntervalRecords> SummariesAsync(ExportStreamSettings stream, DateTimeOffset start, DateTimeOffset end, CancellationToken cancellationToken)
    {
        var response = await graph.RunAsync(new GraphRequest(start, end, stream.GroupBy, stream.Filter, MaxPerInterval), cancellationToken);
        var nodes = response.Nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var groupBy = response.GroupBy;
        var groupText = string.Join(',', groupBy);
        var records = response.Edges
            .OrderBy(e => e.Source, StringComparer.Ordinal)
            .ThenBy(e => e.Target, StringComparer.Ordinal)
            .Select(e =>
            {
                var id = EventId("flow_summary", start, groupText, e.Source, e.Target, stream.Filter.Text);
                var summary = new FlowSummary(id, start, end, groupBy, nodes[e.Source], nodes[e.Target], e.Flows, e.Bytes, e.Packets, e.Ports, e.Findings, e.Severity);
                return new ExportRecord(id, end, e.Severity, null, summary);
            })
            .ToList();
        return new IntervalRecords(records, response.TotalEdges - response.Edges.Count);
    }

    /// <summary>A stable id: the first 128 bits of SHA-256 over the parts, as 32 hex digits.</summary>
    public static string EventId(string kind, DateTimeOffset intervalStart, params ReadOnlySpan<string> parts)
    {
        var text = new StringBuilder(kind).Append('\u001f').Append(intervalStart.ToUnixTimeMilliseconds());
        foreach (var part in parts)
        {
            text.Append('\u001f').Append(part);
        }

        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()), hash);
        return Convert.ToHexStringLower(hash[..16]);
    }
}

/// <summary>An interval's records, and how many more there were beyond the per-interval bound (not exported).</summary>
public sealed record IntervalRecords(IReadOnlyList<ExportRecord> Records, long Dropped);
