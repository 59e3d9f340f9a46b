using System.Buffers;
using System.Text.Json;
using Visibility.Query.Findings;
using static Visibility.Query.Export.ExportJson;
using static Visibility.Query.Export.ExportText;

namespace Visibility.Query.Export;

/// <summary>
/// OCSF 1.3 Network Activity (class 4001, category 4), activity 6 (Traffic): an aggregate of the traffic between
/// two ends. What OCSF has no attribute for (finding kind, service, flow count, grouping, the ends'
/// kinds and labels) goes under <c>unmapped</c>. docs/siem-export.md has the mapping.
/// </summary>
public sealed class OcsfFormat(ExportIdentity identity) : IExportFormat
{
    public const string SchemaVersion = "1.3.0";
    public const int ClassUid = 4001;
    public const int CategoryUid = 4;
    public const int TrafficActivity = 6;

    /// <summary>Activity 5, Refuse: "the attempt to open a connection was refused" (<c>blocked_attempts</c> findings).</summary>
    public const int RefuseActivity = 5;

    public string Name => "ocsf";

    public void Write(IBufferWriter<byte> output, FindingEvent record)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(record);
        var f = record.Finding;
        var blocked = f.BlockedAttempts;
        var json = Rent(output);
        json.WriteStartObject();
        Common(json, record.EventId, record.Time, f.Severity, blocked is null ? TrafficActivity : RefuseActivity);
        json.WriteNumber("start_time", f.FirstSeen.ToUnixTimeMilliseconds());
        json.WriteNumber("end_time", f.LastSeen.ToUnixTimeMilliseconds());
        json.WriteNumber("count", blocked?.Attempts ?? f.Flows);
        if (blocked is not null)
        {
            // The security control profile: the attempts were denied, and blocked.
            json.WriteNumber("action_id", 2);
            json.WriteString("action", "Denied");
            json.WriteNumber("disposition_id", 2);
            json.WriteString("disposition", "Blocked");
        }

        var (protocol, port) = Service(f.Service);
        Endpoint(json, "src_endpoint", f.Source.Workload, -1);
        Endpoint(json, "dst_endpoint", f.Destination.Workload, port);
        json.WriteStartObject("connection_info");
        json.WriteString("protocol_name", protocol);
        json.WriteEndObject();
        json.WriteStartObject("traffic");
        json.WriteNumber("bytes", f.Bytes);
        json.WriteEndObject();
        json.WriteStartObject("unmapped");
        json.WriteString("record_type", "finding");
        json.WriteString("finding_kind", f.Kind);
        json.WriteString("service", f.Service);
        json.WriteNumber("flows", f.Flows);
        EndExtras(json, f.Source.Kind, f.Source.Labels, f.Destination.Kind, f.Destination.Labels);
        if (blocked is not null)
        {
            Blocked(json, blocked);
        }

        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
    }

    public void Write(IBufferWriter<byte> output, FlowSummary record)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(record);
        var json = Rent(output);
        json.WriteStartObject();
        Common(json, record.EventId, record.IntervalEnd, record.Severity, TrafficActivity);
        json.WriteNumber("start_time", record.IntervalStart.ToUnixTimeMilliseconds());
        json.WriteNumber("end_time", record.IntervalEnd.ToUnixTimeMilliseconds());
        json.WriteNumber("count", record.Flows);
        var (protocol, port) = record.Ports.Count == 1 ? Service(record.Ports[0]) : ("", -1);
        Endpoint(json, "src_endpoint", record.Source.Id, -1);
        Endpoint(json, "dst_endpoint", record.Destination.Id, port);
        if (protocol.Length > 0)
        {
            json.WriteStartObject("connection_info");
            json.WriteString("protocol_name", protocol);
            json.WriteEndObject();
        }

        json.WriteStartObject("traffic");
        json.WriteNumber("bytes", record.Bytes);
        json.WriteNumber("packets", record.Packets);
        json.WriteEndObject();
        json.WriteStartObject("unmapped");
        json.WriteString("record_type", "flow_summary");
        Strings(json, "group_by", record.GroupBy);
        Strings(json, "services", record.Ports);
        Strings(json, "finding_kinds", record.Findings);
        json.WriteNumber("flows", record.Flows);
        EndExtras(json, record.Source.Kind, record.Source.Labels, record.Destination.Kind, record.Destination.Labels);
        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
    }

    private void Common(Utf8JsonWriter json, string eventId, DateTimeOffset time, string? severity, int activity)
    {
        var severityId = OcsfSeverity(severity);
        json.WriteNumber("class_uid", ClassUid);
        json.WriteString("class_name", "Network Activity");
        json.WriteNumber("category_uid", CategoryUid);
        json.WriteString("category_name", "Network Activity");
        json.WriteNumber("activity_id", activity);
        json.WriteString("activity_name", activity == RefuseActivity ? "Refuse" : "Traffic");
        json.WriteNumber("type_uid", (ClassUid * 100) + activity);
        json.WriteString("type_name", activity == RefuseActivity ? "Network Activity: Refuse" : "Network Activity: Traffic");
        json.WriteNumber("severity_id", severityId);
        json.WriteString("severity", OcsfSeverityName(severityId));
        json.WriteNumber("time", time.ToUnixTimeMilliseconds());
        json.WriteStartObject("metadata");
        json.WriteString("version", SchemaVersion);
        json.WriteString("uid", eventId);
        json.WriteStartObject("product");
        json.WriteString("name", identity.Product);
        json.WriteString("vendor_name", identity.Vendor);
        json.WriteString("version", identity.Version);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    // An end named by an address carries it as ip as well as name.
    private static void Endpoint(Utf8JsonWriter json, string property, string name, int port)
    {
        json.WriteStartObject(property);
        json.WriteString("name", name);
        if (IsAddress(name))
        {
            json.WriteString("ip", name);
        }

        if (port >= 0)
        {
            json.WriteNumber("port", port);
        }

        json.WriteEndObject();
    }

    // What OCSF has no attribute for: the scan's spread, first attempt, targets and the policies the records named.
    private static void Blocked(Utf8JsonWriter json, BlockedAttemptsDetail blocked)
    {
        json.WriteNumber("attempts", blocked.Attempts);
        json.WriteNumber("destinations", blocked.Destinations);
        json.WriteNumber("ports", blocked.Ports);
        json.WriteNumber("first_attempt", blocked.FirstAttempt.ToUnixTimeMilliseconds());
        json.WriteStartArray("targets");
        foreach (var target in blocked.Targets)
        {
            json.WriteStartObject();
            json.WriteString("name", target.Destination.Workload);
            json.WriteString("kind", target.Destination.Kind);
            Labels(json, "labels", target.Destination.Labels);
            json.WriteString("service", target.Service);
            json.WriteNumber("attempts", target.Attempts);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        Strings(json, "policies", blocked.Policies);
    }

    // OCSF's network endpoint has no attribute for a workload's kind or labels, so they go under unmapped.
    private static void EndExtras(Utf8JsonWriter json, string sourceKind, IReadOnlyDictionary<string, string> sourceLabels, string destinationKind, IReadOnlyDictionary<string, string> destinationLabels)
    {
        json.WriteString("src_kind", sourceKind);
        Labels(json, "src_labels", sourceLabels);
        json.WriteString("dst_kind", destinationKind);
        Labels(json, "dst_labels", destinationLabels);
    }
}
