using System.Globalization;
using Visibility.Query.Export;

namespace Visibility.Tests.Export;

/// <summary>What the CEF writer produces reads back, through an independent parser, as the values written.</summary>
public sealed class CefRoundTripTests : ExportRoundTrip
{
    private static readonly CefFormat Format = new(ExportIdentity.Default);

    [Fact]
    public void Header_HostileIdentity_EscapesPipesAndBackslashes()
    {
        var format = new CefFormat(new ExportIdentity("Ven|dor\\", "Pro\ndu|ct", "1.0"));
        var line = ExportSamples.Render(format, ExportSamples.OrdinaryFinding());
        Assert.StartsWith("CEF:0|Ven\\|dor\\\\|Pro du\\|ct|1.0|cross_env|", line, StringComparison.Ordinal);
        var (header, _) = CefParser.Parse(line);
        Assert.Equal(["CEF:0", "Ven|dor\\", "Pro du|ct", "1.0", "cross_env", "Visibility finding cross_env", "8"], header);
    }

    [Theory]
    [InlineData("low", 3)]
    [InlineData("medium", 5)]
    [InlineData("high", 8)]
    [InlineData("critical", 10)]
    [InlineData("bogus", 0)]
    public void Severity_Levels_MapToTheTenPointScale(string severity, int expected)
    {
        var record = ExportSamples.OrdinaryFinding();
        record = record with { Finding = record.Finding with { Severity = severity } };
        var (header, _) = CefParser.Parse(ExportSamples.Render(Format, record));
        Assert.Equal(expected.ToString(CultureInfo.InvariantCulture), header[6]);
    }

    protected override void CheckFinding(FindingEvent record)
    {
        var f = record.Finding;
        var (header, ext) = CefParser.Parse(ExportSamples.Render(Format, record));
        Assert.Equal(["CEF:0", "Visibility", "Visibility", "1.0", f.Kind, "Visibility finding " + f.Kind], header.Take(6));
        Assert.Equal(Ten(f.Severity), header[6]);
        Assert.Equal(record.EventId, ext["externalId"]);
        Assert.Equal(Ms(record.Time), ext["rt"]);
        Assert.Equal("finding", ext["cat"]);
        Assert.Equal(f.Source.Workload, End(ext, "src", "shost"));
        Assert.Equal(f.Destination.Workload, End(ext, "dst", "dhost"));
        var slash = f.Service.IndexOf('/', StringComparison.Ordinal);
        Assert.Equal((slash < 0 ? f.Service : f.Service[..slash]).ToUpperInvariant(), ext.GetValueOrDefault("proto", ""));
        Assert.Equal(slash < 0 ? null : f.Service[(slash + 1)..], ext.GetValueOrDefault("dpt"));
        Assert.Equal((f.BlockedAttempts?.Attempts ?? f.Flows).ToString(CultureInfo.InvariantCulture), ext["cnt"]);
        Assert.Equal(f.Bytes.ToString(CultureInfo.InvariantCulture), ext["cn1"]);
        Assert.Equal("bytes", ext["cn1Label"]);
        Assert.Equal(Ms(f.FirstSeen), ext["start"]);
        Assert.Equal(Ms(f.LastSeen), ext["end"]);
        CheckLabels(ext, f.Source.Labels, f.Destination.Labels);
        Assert.Equal(f.Kind, ext["cs5"]);
        Assert.Equal(f.Service, ext.GetValueOrDefault("cs6", ""));
        Assert.Equal(f.Source.Kind, ext.GetValueOrDefault("sourceServiceName", ""));
        Assert.Equal(f.Destination.Kind, ext.GetValueOrDefault("destinationServiceName", ""));
        if (f.BlockedAttempts is { } blocked)
        {
            Assert.Equal("blocked", ext["act"]);
            Assert.Equal((blocked.Destinations.ToString(CultureInfo.InvariantCulture), "destinations"), (ext["cn2"], ext["cn2Label"]));
            Assert.Equal((blocked.Ports.ToString(CultureInfo.InvariantCulture), "ports"), (ext["cn3"], ext["cn3Label"]));
            Assert.Equal((Ms(blocked.FirstAttempt), "firstAttempt"), (ext["deviceCustomDate1"], ext["deviceCustomDate1Label"]));
            Assert.Equal((string.Join(',', blocked.Policies), "policies"), (ext["flexString1"], ext["flexString1Label"]));
            Assert.Equal((string.Join(',', blocked.Targets), "targets"), (ext["flexString2"], ext["flexString2Label"]));
        }
        else
        {
            Assert.False(ext.ContainsKey("act") || ext.ContainsKey("cn2") || ext.ContainsKey("flexString2"));
        }
    }

    protected override void CheckSummary(FlowSummary record)
    {
        var (header, ext) = CefParser.Parse(ExportSamples.Render(Format, record));
        Assert.Equal("flow_summary", header[4]);
        Assert.Equal(Ten(record.Severity), header[6]);
        Assert.Equal(record.EventId, ext["externalId"]);
        Assert.Equal(Ms(record.IntervalEnd), ext["rt"]);
        Assert.Equal(record.Source.Id, End(ext, "src", "shost"));
        Assert.Equal(record.Destination.Id, End(ext, "dst", "dhost"));
        Assert.Equal(record.Flows.ToString(CultureInfo.InvariantCulture), ext["cnt"]);
        Assert.Equal(record.Bytes.ToString(CultureInfo.InvariantCulture), ext["cn1"]);
        Assert.Equal(record.Packets.ToString(CultureInfo.InvariantCulture), ext["cn2"]);
        Assert.Equal(Ms(record.IntervalStart), ext["start"]);
        Assert.Equal(Ms(record.IntervalEnd), ext["end"]);
        CheckLabels(ext, record.Source.Labels, record.Destination.Labels);
        Assert.Equal(string.Join(',', record.Findings), ext.GetValueOrDefault("cs5", ""));
        Assert.Equal(string.Join(',', record.Ports), ext.GetValueOrDefault("cs6", ""));
        Assert.Equal(string.Join(',', record.GroupBy), ext["flexString1"]);
        if (record.Ports.Count == 1)
        {
            var slash = record.Ports[0].IndexOf('/', StringComparison.Ordinal);
            Assert.Equal((slash < 0 ? record.Ports[0] : record.Ports[0][..slash]).ToUpperInvariant(), ext.GetValueOrDefault("proto", ""));
            Assert.Equal(slash < 0 ? null : record.Ports[0][(slash + 1)..], ext.GetValueOrDefault("dpt"));
        }
        else
        {
            Assert.False(ext.ContainsKey("proto") || ext.ContainsKey("dpt"));
        }
    }

    private static void CheckLabels(Dictionary<string, string> ext, IReadOnlyDictionary<string, string> source, IReadOnlyDictionary<string, string> destination)
    {
        Assert.Equal(source.GetValueOrDefault("app", ""), ext.GetValueOrDefault("cs1", ""));
        Assert.Equal(source.GetValueOrDefault("env", ""), ext.GetValueOrDefault("cs2", ""));
        Assert.Equal(destination.GetValueOrDefault("app", ""), ext.GetValueOrDefault("cs3", ""));
        Assert.Equal(destination.GetValueOrDefault("env", ""), ext.GetValueOrDefault("cs4", ""));
        Assert.Equal(ext.ContainsKey("cs1") ? "srcApp" : null, ext.GetValueOrDefault("cs1Label"));
        Assert.Equal(ext.ContainsKey("cs4") ? "dstEnv" : null, ext.GetValueOrDefault("cs4Label"));
    }

    // Both keys present would be ambiguous; one or none is written.
    private static string End(Dictionary<string, string> ext, string addressKey, string hostKey)
    {
        Assert.False(ext.ContainsKey(addressKey) && ext.ContainsKey(hostKey));
        return ext.GetValueOrDefault(addressKey) ?? ext.GetValueOrDefault(hostKey, "");
    }

    private static string Ms(DateTimeOffset time) => time.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);

    private static string Ten(string? severity) => (severity switch
    {
        "low" => 3,
        "medium" => 5,
        "high" => 8,
        "critical" => 10,
        _ => 0,
    }).ToString(CultureInfo.InvariantCulture);
}
