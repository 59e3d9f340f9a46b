using System.Buffers;
using System.Text.Json;
using Visibility.Query.Findings;
using static Visibility.Query.Export.ExportJson;

namespace Visibility.Query.Export;

/// <summary>
/// Plain JSON, one object per record: the API's shape for a finding (<c>/api/findings</c>) and for a graph edge's
/// ends, plus <c>type</c>, <c>eventId</c> and the event time. Times are ISO 8601 as in the API.
/// </summary>
public sealed class JsonLinesFormat : IExportFormat
{
    public string Name => "json";

    public void Write(IBufferWriter<byte> output, FindingEvent record)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(record);
        var f = record.Finding;
        var json = Rent(output);
        json.WriteStartObject();
        json.WriteString("type", "finding");
        json.WriteString("eventId", record.EventId);
        json.WriteString("time", record.Time);
        json.WriteString("kind", f.Kind);
        json.WriteString("severity", f.Severity);
        json.WriteStartObject("source");
        json.WriteString("workload", f.Source.Workload);
        json.WriteString("kind", f.Source.Kind);
        Labels(json, "labels", f.Source.Labels);
        json.WriteEndObject();
        json.WriteStartObject("destination");
        json.WriteString("workload", f.Destination.Workload);
        json.WriteString("kind", f.Destination.Kind);
        Labels(json, "labels", f.Destination.Labels);
        json.WriteEndObject();
        json.WriteString("service", f.Service);
        json.WriteNumber("flows", f.Flows);
        json.WriteNumber("bytes", f.Bytes);
        json.WriteString("firstSeen", f.FirstSeen);
        json.WriteString("lastSeen", f.LastSeen);
        if (f.BlockedAttempts is { } blocked)
        {
            Blocked(json, blocked);
        }

        json.WriteEndObject();
        json.Flush();
    }

    // As the API writes BlockedAttemptsDetail.
    private static void Blocked(Utf8JsonWriter json, BlockedAttemptsDetail blocked)
    {
        json.WriteStartObject("blockedAttempts");
        json.WriteNumber("attempts", blocked.Attempts);
        json.WriteNumber("destinations", blocked.Destinations);
        json.WriteNumber("ports", blocked.Ports);
        json.WriteString("firstAttempt", blocked.FirstAttempt);
        json.WriteStartArray("targets");
        foreach (var target in blocked.Targets)
        {
            json.WriteStartObject();
            json.WriteStartObject("destination");
            json.WriteString("workload", target.Destination.Workload);
            json.WriteString("kind", target.Destination.Kind);
            Labels(json, "labels", target.Destination.Labels);
            json.WriteEndObject();
            json.WriteString("service", target.Service);
            json.WriteNumber("attempts", target.Attempts);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        Strings(json, "policies", blocked.Policies);
        json.WriteEndObject();
    }

    public void Write(IBufferWriter<byte> output, FlowSummary record)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(record);
        var json = Rent(output);
        json.WriteStartObject();
        json.WriteString("type", "flow_summary");
        json.WriteString("eventId", record.EventId);
        json.WriteString("from", record.IntervalStart);
        json.WriteString("to", record.IntervalEnd);
        Strings(json, "groupBy", record.GroupBy);
        json.WriteStartObject("source");
        json.WriteString("id", record.Source.Id);
        json.WriteString("kind", record.Source.Kind);
        Labels(json, "labels", record.Source.Labels);
        json.WriteEndObject();
        json.WriteStartObject("target");
        json.WriteString("id", record.Destination.Id);
        json.WriteString("kind", record.Destination.Kind);
        Labels(json, "labels", record.Destination.Labels);
        json.WriteEndObject();
        json.WriteNumber("flows", record.Flows);
        json.WriteNumber("bytes", record.Bytes);
        json.WriteNumber("packets", record.Packets);
        Strings(json, "ports", record.Ports);
        Strings(json, "findings", record.Findings);
        if (record.Severity is null)
        {
            json.WriteNull("severity");
        }
        else
        {
            json.WriteString("severity", record.Severity);
        }

        json.WriteEndObject();
        json.Flush();
    }
}
