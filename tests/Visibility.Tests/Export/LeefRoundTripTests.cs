using System.Globalization;
using Visibility.Query.Export;

namespace Visibility.Tests.Export;

/// <summary>What the LEEF writer produces reads back, through an independent parser, as the values written.</summary>
public sealed class LeefRoundTripTests : ExportRoundTrip
{
    private static readonly LeefFormat Format = new(ExportIdentity.Default);

    [Fact]
    public void LabelKey_WithDelimitersAndEquals_IsRewrittenToASafeKey()
    {
        var (_, attributes) = LeefParser.Parse(ExportSamples.Render(Format, ExportSamples.HostileFinding()));
        Assert.Equal("v\tw", attributes["srcLabel.we_ird_key"]);
        Assert.False(attributes.ContainsKey("srcLabel.env"));
    }

    [Fact]
    public void DevTime_ReadsBackWithItsFormat()
    {
        var (_, attributes) = LeefParser.Parse(ExportSamples.Render(Format, ExportSamples.OrdinaryFinding()));
        Assert.Equal("MMM dd yyyy HH:mm:ss.SSS Z", attributes["devTimeFormat"]);
        Assert.Equal("Mar 14 2026 09:26:53.589 +0000", attributes["devTime"]);
    }

    protected override void CheckFinding(FindingEvent record)
    {
        var f = record.Finding;
        var (header, attributes) = LeefParser.Parse(ExportSamples.Render(Format, record));
        Assert.Equal(["LEEF:2.0", "Visibility", "Visibility", "1.0", f.Kind, "x09"], header);
        Assert.Equal(DevTime(record.Time), attributes["devTime"]);
        Assert.Equal(f.Kind, attributes["cat"]);
        Assert.Equal(Sev(f.Severity), attributes["sev"]);
        Assert.Equal(f.Severity, attributes["severity"]);
        Assert.Equal(record.EventId, attributes["eventId"]);
        CheckEnd(attributes, "src", "srcWorkload", "srcKind", "srcLabel.", f.Source.Workload, f.Source.Kind, f.Source.Labels);
        CheckEnd(attributes, "dst", "dstWorkload", "dstKind", "dstLabel.", f.Destination.Workload, f.Destination.Kind, f.Destination.Labels);
        var slash = f.Service.IndexOf('/', StringComparison.Ordinal);
        Assert.Equal(slash < 0 ? f.Service : f.Service[..slash], attributes.GetValueOrDefault("proto", ""));
        Assert.Equal(slash < 0 ? null : f.Service[(slash + 1)..], attributes.GetValueOrDefault("dstPort"));
        Assert.Equal(f.Service, attributes.GetValueOrDefault("service", ""));
        Assert.Equal(Number(f.Flows), attributes["flows"]);
        Assert.Equal(Number(f.Bytes), attributes["bytes"]);
        Assert.Equal(Number(f.FirstSeen.ToUnixTimeMilliseconds()), attributes["firstSeen"]);
        Assert.Equal(Number(f.LastSeen.ToUnixTimeMilliseconds()), attributes["lastSeen"]);
        if (f.BlockedAttempts is { } blocked)
        {
            Assert.Equal("blocked", attributes["action"]);
            Assert.Equal((Number(blocked.Attempts), Number(blocked.Destinations), Number(blocked.Ports)), (attributes["attempts"], attributes["destinations"], attributes["ports"]));
            Assert.Equal(Number(blocked.FirstAttempt.ToUnixTimeMilliseconds()), attributes["firstAttempt"]);
            Assert.Equal(string.Join(',', blocked.Targets), attributes["targets"]);
            Assert.Equal(string.Join(',', blocked.Policies), attributes["policies"]);
        }
        else
        {
            Assert.False(attributes.ContainsKey("action") || attributes.ContainsKey("attempts"));
        }
    }

    protected override void CheckSummary(FlowSummary record)
    {
        var (header, attributes) = LeefParser.Parse(ExportSamples.Render(Format, record));
        Assert.Equal(["LEEF:2.0", "Visibility", "Visibility", "1.0", "flow_summary", "x09"], header);
        Assert.Equal(DevTime(record.IntervalEnd), attributes["devTime"]);
        Assert.Equal(Sev(record.Severity), attributes["sev"]);
        Assert.Equal(record.Severity, attributes.GetValueOrDefault("severity"));
        Assert.Equal(record.EventId, attributes["eventId"]);
        CheckEnd(attributes, "src", "srcNode", "srcKind", "srcLabel.", record.Source.Id, record.Source.Kind, record.Source.Labels);
        CheckEnd(attributes, "dst", "dstNode", "dstKind", "dstLabel.", record.Destination.Id, record.Destination.Kind, record.Destination.Labels);
        Assert.Equal(string.Join(',', record.Ports), attributes.GetValueOrDefault("services", ""));
        Assert.Equal(string.Join(',', record.Findings), attributes.GetValueOrDefault("findings", ""));
        Assert.Equal(string.Join(',', record.GroupBy), attributes["groupBy"]);
        Assert.Equal(Number(record.Flows), attributes["flows"]);
        Assert.Equal(Number(record.Bytes), attributes["bytes"]);
        Assert.Equal(Number(record.Packets), attributes["totalPackets"]);
        Assert.Equal(Number(record.IntervalStart.ToUnixTimeMilliseconds()), attributes["intervalStart"]);
        Assert.Equal(Number(record.IntervalEnd.ToUnixTimeMilliseconds()), attributes["intervalEnd"]);
        Assert.Equal(record.Ports.Count == 1 && record.Ports[0].Length > 0, attributes.ContainsKey("proto") || attributes.ContainsKey("dstPort"));
    }

    // Random label keys are plain words, so each label comes back under its own key.
    private static void CheckEnd(
        Dictionary<string, string> attributes, string addressKey, string nameKey, string kindKey, string prefix,
        string name, string kind, IReadOnlyDictionary<string, string> labels)
    {
        Assert.Equal(name, attributes.GetValueOrDefault(nameKey, ""));
        Assert.Equal(ExportSamples.IsCanonicalAddress(name) ? name : null, attributes.GetValueOrDefault(addressKey));
        Assert.Equal(kind, attributes.GetValueOrDefault(kindKey, ""));
        foreach (var (key, value) in labels.Where(l => l.Key.All(char.IsAsciiLetter)))
        {
            Assert.Equal(value, attributes.GetValueOrDefault(prefix + key, ""));
        }

        Assert.Equal(
            labels.Count(l => l.Value.Length > 0),
            attributes.Keys.Count(k => k.StartsWith(prefix, StringComparison.Ordinal)));
    }

    private static string DevTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("MMM dd yyyy HH:mm:ss.fff", CultureInfo.InvariantCulture) + " +0000";

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Sev(string? severity) => (severity switch
    {
        "low" => 3,
        "medium" => 5,
        "high" => 8,
        "critical" => 10,
        _ => 1,
    }).ToString(CultureInfo.InvariantCulture);
}
