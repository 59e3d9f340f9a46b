using System.Buffers;
using Visibility.Query.Findings;
using static Visibility.Query.Export.ExportText;

namespace Visibility.Query.Export;

/// <summary>
/// ArcSight CEF: <c>CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|Extension</c>. The signature is the
/// finding kind (<c>flow_summary</c> for summaries). Empty values are left out, since CEF cannot tell an empty
/// value from a missing one. Visibility counts bytes of both directions together, so they go to <c>cn1</c>, not
/// to the directional <c>in</c>/<c>out</c>. docs/siem-export.md has the whole mapping.
/// </summary>
public sealed class CefFormat(ExportIdentity identity) : IExportFormat
{
    public string Name => "cef";

    public void Write(IBufferWriter<byte> output, FindingEvent record)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(record);
        var f = record.Finding;
        Header(output, f.Kind, finding: true, Severity10(f.Severity));
        Rt(output, record.Time);
        Pair(output, "externalId", record.EventId);
        Pair(output, "cat", "finding");
        Host(output, "src", "shost", f.Source.Workload);
        Host(output, "dst", "dhost", f.Destination.Workload);
        var (protocol, port) = Service(f.Service);
        Pair(output, "proto", protocol.ToUpperInvariant());
        if (port >= 0)
        {
            Pair(output, "dpt", port);
        }

        Pair(output, "cnt", f.BlockedAttempts?.Attempts ?? f.Flows);
        Pair(output, "cn1", f.Bytes);
        Pair(output, "cn1Label", "bytes");
        Pair(output, "start", f.FirstSeen.ToUnixTimeMilliseconds());
        Pair(output, "end", f.LastSeen.ToUnixTimeMilliseconds());
        Labels(output, f.Source.Labels, f.Destination.Labels);
        Pair(output, "cs5", f.Kind);
        Pair(output, "cs5Label", "findings");
        if (f.Service.Length > 0)
        {
            Pair(output, "cs6", f.Service);
            Pair(output, "cs6Label", "service");
        }

        Pair(output, "sourceServiceName", f.Source.Kind);
        Pair(output, "destinationServiceName", f.Destination.Kind);
        if (f.BlockedAttempts is { } blocked)
        {
            Blocked(output, blocked);
        }
    }

    public void Write(IBufferWriter<byte> output, FlowSummary record)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(record);
        Header(output, "flow_summary", finding: false, Severity10(record.Severity));
        Rt(output, record.IntervalEnd);
        Pair(output, "externalId", record.EventId);
        Pair(output, "cat", "flow_summary");
        Host(output, "src", "shost", record.Source.Id);
        Host(output, "dst", "dhost", record.Destination.Id);
        if (record.Ports.Count == 1)
        {
            var (protocol, port) = Service(record.Ports[0]);
            Pair(output, "proto", protocol.ToUpperInvariant());
            if (port >= 0)
            {
                Pair(output, "dpt", port);
            }
        }

        Pair(output, "cnt", record.Flows);
        Pair(output, "cn1", record.Bytes);
        Pair(output, "cn1Label", "bytes");
        Pair(output, "cn2", record.Packets);
        Pair(output, "cn2Label", "packets");
        Pair(output, "start", record.IntervalStart.ToUnixTimeMilliseconds());
        Pair(output, "end", record.IntervalEnd.ToUnixTimeMilliseconds());
        Labels(output, record.Source.Labels, record.Destination.Labels);
        Pair(output, "cs5", record.Findings);
        Pair(output, "cs5Label", "findings");
        Pair(output, "cs6", record.Ports);
        Pair(output, "cs6Label", "services");
        Pair(output, "flexString1", record.GroupBy);
        Pair(output, "flexString1Label", "groupBy");
        Pair(output, "sourceServiceName", record.Source.Kind);
        Pair(output, "destinationServiceName", record.Destination.Kind);
    }

    // The name is "Visibility finding <kind>" or "Visibility flow summary".
    private void Header(IBufferWriter<byte> output, string signature, bool finding, int severity)
    {
        Literal(output, "CEF:0|"u8);
        IdentityFields(output, identity);
        HeaderField(output, signature);
        if (finding)
        {
            Literal(output, "|Visibility finding "u8);
            HeaderField(output, signature);
        }
        else
        {
            Literal(output, "|Visibility flow summary"u8);
        }

        Byte(output, (byte)'|');
        Number(output, severity);
        Byte(output, (byte)'|');
    }

    // A blocked_attempts finding's scan: cnt already holds its attempts.
    private static void Blocked(IBufferWriter<byte> output, BlockedAttemptsDetail blocked)
    {
        Pair(output, "act", "blocked");
        Pair(output, "cn2", blocked.Destinations);
        Pair(output, "cn2Label", "destinations");
        Pair(output, "cn3", blocked.Ports);
        Pair(output, "cn3Label", "ports");
        Pair(output, "deviceCustomDate1", blocked.FirstAttempt.ToUnixTimeMilliseconds());
        Pair(output, "deviceCustomDate1Label", "firstAttempt");
        Pair(output, "flexString1", blocked.Policies);
        Pair(output, "flexString1Label", "policies");
        Pair(output, "flexString2", [.. blocked.Targets.Select(t => t.ToString())]);
        Pair(output, "flexString2Label", "targets");
    }

    // The app and env labels of each end; other labels are in the OCSF and JSON formats only.
    private static void Labels(IBufferWriter<byte> output, IReadOnlyDictionary<string, string> source, IReadOnlyDictionary<string, string> destination)
    {
        Label(output, "cs1", "cs1Label", "srcApp", source, "app");
        Label(output, "cs2", "cs2Label", "srcEnv", source, "env");
        Label(output, "cs3", "cs3Label", "dstApp", destination, "app");
        Label(output, "cs4", "cs4Label", "dstEnv", destination, "env");
    }

    private static void Label(IBufferWriter<byte> output, string key, string labelKey, string label, IReadOnlyDictionary<string, string> labels, string name)
    {
        if (labels.TryGetValue(name, out var value) && value.Length > 0)
        {
            Pair(output, key, value);
            Pair(output, labelKey, label);
        }
    }

    // An end named by an address goes to src/dst, any other name to shost/dhost.
    private static void Host(IBufferWriter<byte> output, string addressKey, string hostKey, string name) =>
        Pair(output, IsAddress(name) ? addressKey : hostKey, name);

    // The receipt time always comes first, so every other pair starts with its separator.
    private static void Rt(IBufferWriter<byte> output, DateTimeOffset time)
    {
        Literal(output, "rt="u8);
        Number(output, time.ToUnixTimeMilliseconds());
    }

    private static void Pair(IBufferWriter<byte> output, string key, string value) => Attribute(output, (byte)' ', CefValue, key, value);

    private static void Pair(IBufferWriter<byte> output, string key, IReadOnlyList<string> values) => Attribute(output, (byte)' ', CefValue, key, values);

    private static void Pair(IBufferWriter<byte> output, string key, long value) => Attribute(output, (byte)' ', key, value);
}
