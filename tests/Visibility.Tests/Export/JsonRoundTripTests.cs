using System.Text.Json;
using Visibility.Query.Export;

namespace Visibility.Tests.Export;

/// <summary>OCSF and plain JSON records read back with <see cref="JsonDocument"/> as the values written.</summary>
public sealed class JsonRoundTripTests : ExportRoundTrip
{
    private static readonly OcsfFormat Ocsf = new(ExportIdentity.Default);
    private static readonly JsonLinesFormat Json = new();

    protected override void CheckFinding(FindingEvent record)
    {
        CheckOcsf(record);
        CheckJson(record);
    }

    protected override void CheckSummary(FlowSummary record)
    {
        CheckOcsf(record);
        CheckJson(record);
    }

    [Theory]
    [InlineData("low", 2, "Low")]
    [InlineData("medium", 3, "Medium")]
    [InlineData("high", 4, "High")]
    [InlineData("critical", 5, "Critical")]
    [InlineData("bogus", 0, "Unknown")]
    [InlineData(null, 1, "Informational")]
    public void Ocsf_Severity_MapsToSeverityId(string? severity, int id, string name)
    {
        using var doc = JsonDocument.Parse(ExportSamples.Render(Ocsf, ExportSamples.OrdinarySummary() with { Severity = severity }));
        Assert.Equal(id, doc.RootElement.GetProperty("severity_id").GetInt32());
        Assert.Equal(name, doc.RootElement.GetProperty("severity").GetString());
    }

    [Fact]
    public void Json_Finding_HasTheApiShapeOfAFinding()
    {
        var record = ExportSamples.OrdinaryFinding();
        using var exported = JsonDocument.Parse(ExportSamples.Render(Json, record));
        using var api = JsonDocument.Parse(JsonSerializer.Serialize(record.Finding));
        foreach (var property in api.RootElement.EnumerateObject())
        {
            Assert.Equal(property.Value.GetRawText(), exported.RootElement.GetProperty(property.Name).GetRawText());
        }
    }

    [Fact]
    public void Json_BlockedAttempts_HasTheApiShapeOfAFinding()
    {
        var record = ExportSamples.BlockedAttemptsFinding();
        using var exported = JsonDocument.Parse(ExportSamples.Render(Json, record));
        using var api = JsonDocument.Parse(JsonSerializer.Serialize(record.Finding));
        Assert.True(api.RootElement.TryGetProperty("blockedAttempts", out _));
        foreach (var property in api.RootElement.EnumerateObject())
        {
            Assert.Equal(property.Value.GetRawText(), exported.RootElement.GetProperty(property.Name).GetRawText());
        }

        // Other kinds carry no blockedAttempts, in the API as in the export.
        Assert.False(JsonDocument.Parse(JsonSerializer.Serialize(ExportSamples.OrdinaryFinding().Finding)).RootElement.TryGetProperty("blockedAttempts", out _));
    }

    [Fact]
    public void Ocsf_BlockedAttempts_IsARefusal_CountingTheAttempts()
    {
        foreach (var record in new[] { ExportSamples.BlockedAttemptsFinding(), ExportSamples.HostileBlockedAttemptsFinding() })
        {
            using var doc = JsonDocument.Parse(ExportSamples.Render(Ocsf, record));
            var root = doc.RootElement;
            var blocked = record.Finding.BlockedAttempts!;
            Assert.Equal((5, "Refuse", 400105), (root.GetProperty("activity_id").GetInt32(), root.GetProperty("activity_name").GetString(), root.GetProperty("type_uid").GetInt32()));
            Assert.Equal((2, 2), (root.GetProperty("action_id").GetInt32(), root.GetProperty("disposition_id").GetInt32()));
            Assert.Equal(blocked.Attempts, root.GetProperty("count").GetInt64());
            var unmapped = root.GetProperty("unmapped");
            Assert.Equal((blocked.Attempts, blocked.Destinations, blocked.Ports), (unmapped.GetProperty("attempts").GetInt64(), unmapped.GetProperty("destinations").GetInt64(), unmapped.GetProperty("ports").GetInt64()));
            Assert.Equal(blocked.Policies, unmapped.GetProperty("policies").EnumerateArray().Select(p => p.GetString()!));
            Assert.Equal(blocked.Targets.Select(t => (t.Destination.Workload, t.Service, t.Attempts)), unmapped.GetProperty("targets").EnumerateArray().Select(t => (t.GetProperty("name").GetString()!, t.GetProperty("service").GetString()!, t.GetProperty("attempts").GetInt64())));
        }
    }

    private static void CheckOcsf(FindingEvent record)
    {
        var f = record.Finding;
        using var doc = JsonDocument.Parse(ExportSamples.Render(Ocsf, record));
        var root = doc.RootElement;
        var blocked = f.BlockedAttempts;

        // A blocked_attempts finding is a Refuse activity, denied and blocked, counting its attempts; others are Traffic.
        CheckOcsfCommon(root, record.EventId, record.Time, f.Severity, blocked is null ? OcsfFormat.TrafficActivity : OcsfFormat.RefuseActivity);
        Assert.Equal(f.FirstSeen.ToUnixTimeMilliseconds(), root.GetProperty("start_time").GetInt64());
        Assert.Equal(f.LastSeen.ToUnixTimeMilliseconds(), root.GetProperty("end_time").GetInt64());
        Assert.Equal(blocked?.Attempts ?? f.Flows, root.GetProperty("count").GetInt64());
        Assert.Equal(
            blocked is null ? "" : "2 Denied 2 Blocked",
            root.TryGetProperty("action_id", out var action) ? $"{action.GetInt32()} {root.GetProperty("action").GetString()} {root.GetProperty("disposition_id").GetInt32()} {root.GetProperty("disposition").GetString()}" : "");
        var slash = f.Service.IndexOf('/', StringComparison.Ordinal);
        CheckEndpoint(root.GetProperty("src_endpoint"), f.Source.Workload, null);
        CheckEndpoint(root.GetProperty("dst_endpoint"), f.Destination.Workload, slash < 0 ? null : int.Parse(f.Service[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(slash < 0 ? f.Service : f.Service[..slash], root.GetProperty("connection_info").GetProperty("protocol_name").GetString());
        Assert.Equal(f.Bytes, root.GetProperty("traffic").GetProperty("bytes").GetInt64());
        var unmapped = root.GetProperty("unmapped");
        Assert.Equal("finding", unmapped.GetProperty("record_type").GetString());
        Assert.Equal(f.Kind, unmapped.GetProperty("finding_kind").GetString());
        Assert.Equal(f.Service, unmapped.GetProperty("service").GetString());
        Assert.Equal(f.Flows, unmapped.GetProperty("flows").GetInt64());
        CheckEnds(unmapped, f.Source.Kind, f.Source.Labels, f.Destination.Kind, f.Destination.Labels);
    }

    private static void CheckOcsf(FlowSummary record)
    {
        using var doc = JsonDocument.Parse(ExportSamples.Render(Ocsf, record));
        var root = doc.RootElement;
        CheckOcsfCommon(root, record.EventId, record.IntervalEnd, record.Severity);
        Assert.Equal(record.IntervalStart.ToUnixTimeMilliseconds(), root.GetProperty("start_time").GetInt64());
        Assert.Equal(record.IntervalEnd.ToUnixTimeMilliseconds(), root.GetProperty("end_time").GetInt64());
        Assert.Equal(record.Flows, root.GetProperty("count").GetInt64());
        CheckEndpoint(root.GetProperty("src_endpoint"), record.Source.Id, null);
        Assert.Equal(record.Destination.Id, root.GetProperty("dst_endpoint").GetProperty("name").GetString());
        Assert.Equal(record.Bytes, root.GetProperty("traffic").GetProperty("bytes").GetInt64());
        Assert.Equal(record.Packets, root.GetProperty("traffic").GetProperty("packets").GetInt64());
        var unmapped = root.GetProperty("unmapped");
        Assert.Equal("flow_summary", unmapped.GetProperty("record_type").GetString());
        Assert.Equal(record.GroupBy, Strings(unmapped.GetProperty("group_by")));
        Assert.Equal(record.Ports, Strings(unmapped.GetProperty("services")));
        Assert.Equal(record.Findings, Strings(unmapped.GetProperty("finding_kinds")));
        Assert.Equal(record.Flows, unmapped.GetProperty("flows").GetInt64());
        CheckEnds(unmapped, record.Source.Kind, record.Source.Labels, record.Destination.Kind, record.Destination.Labels);
    }

    private static void CheckOcsfCommon(JsonElement root, string eventId, DateTimeOffset time, string? severity, int activity = OcsfFormat.TrafficActivity)
    {
        Assert.Equal(4001, root.GetProperty("class_uid").GetInt32());
        Assert.Equal(4, root.GetProperty("category_uid").GetInt32());
        Assert.Equal(activity, root.GetProperty("activity_id").GetInt32());
        Assert.Equal(400100 + activity, root.GetProperty("type_uid").GetInt32());
        Assert.Equal(severity switch { "low" => 2, "medium" => 3, "high" => 4, "critical" => 5, null => 1, _ => 0 }, root.GetProperty("severity_id").GetInt32());
        Assert.Equal(time.ToUnixTimeMilliseconds(), root.GetProperty("time").GetInt64());
        var metadata = root.GetProperty("metadata");
        Assert.Equal("1.3.0", metadata.GetProperty("version").GetString());
        Assert.Equal(eventId, metadata.GetProperty("uid").GetString());
        Assert.Equal("Visibility", metadata.GetProperty("product").GetProperty("name").GetString());
        Assert.Equal("Visibility", metadata.GetProperty("product").GetProperty("vendor_name").GetString());
    }

    private static void CheckEndpoint(JsonElement endpoint, string name, int? port)
    {
        Assert.Equal(name, endpoint.GetProperty("name").GetString());
        Assert.Equal(ExportSamples.IsCanonicalAddress(name) ? name : null, endpoint.TryGetProperty("ip", out var ip) ? ip.GetString() : null);
        Assert.Equal(port, endpoint.TryGetProperty("port", out var p) ? p.GetInt32() : null);
    }

    private static void CheckEnds(JsonElement unmapped, string sourceKind, IReadOnlyDictionary<string, string> source, string destinationKind, IReadOnlyDictionary<string, string> destination)
    {
        Assert.Equal(sourceKind, unmapped.GetProperty("src_kind").GetString());
        Assert.Equal(destinationKind, unmapped.GetProperty("dst_kind").GetString());
        Assert.Equal(source, Labels(unmapped.GetProperty("src_labels")));
        Assert.Equal(destination, Labels(unmapped.GetProperty("dst_labels")));
    }

    private static void CheckJson(FindingEvent record)
    {
        var f = record.Finding;
        using var doc = JsonDocument.Parse(ExportSamples.Render(Json, record));
        var root = doc.RootElement;
        Assert.Equal("finding", root.GetProperty("type").GetString());
        Assert.Equal(record.EventId, root.GetProperty("eventId").GetString());
        Assert.Equal(record.Time, root.GetProperty("time").GetDateTimeOffset());
        Assert.Equal(f.Kind, root.GetProperty("kind").GetString());
        Assert.Equal(f.Severity, root.GetProperty("severity").GetString());
        Assert.Equal(f.Source.Workload, root.GetProperty("source").GetProperty("workload").GetString());
        Assert.Equal(f.Source.Kind, root.GetProperty("source").GetProperty("kind").GetString());
        Assert.Equal(f.Source.Labels, Labels(root.GetProperty("source").GetProperty("labels")));
        Assert.Equal(f.Destination.Workload, root.GetProperty("destination").GetProperty("workload").GetString());
        Assert.Equal(f.Destination.Labels, Labels(root.GetProperty("destination").GetProperty("labels")));
        Assert.Equal(f.Service, root.GetProperty("service").GetString());
        Assert.Equal(f.Flows, root.GetProperty("flows").GetInt64());
        Assert.Equal(f.Bytes, root.GetProperty("bytes").GetInt64());
        Assert.Equal(f.FirstSeen, root.GetProperty("firstSeen").GetDateTimeOffset());
        Assert.Equal(f.LastSeen, root.GetProperty("lastSeen").GetDateTimeOffset());
    }

    private static void CheckJson(FlowSummary record)
    {
        using var doc = JsonDocument.Parse(ExportSamples.Render(Json, record));
        var root = doc.RootElement;
        Assert.Equal("flow_summary", root.GetProperty("type").GetString());
        Assert.Equal(record.EventId, root.GetProperty("eventId").GetString());
        Assert.Equal(record.IntervalStart, root.GetProperty("from").GetDateTimeOffset());
        Assert.Equal(record.IntervalEnd, root.GetProperty("to").GetDateTimeOffset());
        Assert.Equal(record.GroupBy, Strings(root.GetProperty("groupBy")));
        Assert.Equal(record.Source.Id, root.GetProperty("source").GetProperty("id").GetString());
        Assert.Equal(record.Source.Labels, Labels(root.GetProperty("source").GetProperty("labels")));
        Assert.Equal(record.Destination.Id, root.GetProperty("target").GetProperty("id").GetString());
        Assert.Equal(record.Destination.Kind, root.GetProperty("target").GetProperty("kind").GetString());
        Assert.Equal(record.Destination.Labels, Labels(root.GetProperty("target").GetProperty("labels")));
        Assert.Equal(record.Flows, root.GetProperty("flows").GetInt64());
        Assert.Equal(record.Bytes, root.GetProperty("bytes").GetInt64());
        Assert.Equal(record.Packets, root.GetProperty("packets").GetInt64());
        Assert.Equal(record.Ports, Strings(root.GetProperty("ports")));
        Assert.Equal(record.Findings, Strings(root.GetProperty("findings")));
        Assert.Equal(record.Severity, root.GetProperty("severity").GetString());
    }

    // A JSON null where a string belongs reads as "<null>", which no expected value equals.
    private static List<string> Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString() ?? "<null>").ToList();

    private static Dictionary<string, string> Labels(JsonElement labels) =>
        labels.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "<null>", StringComparer.Ordinal);
}
