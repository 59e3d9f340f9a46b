using System.Buffers;
using System.Globalization;
using static Visibility.Query.Export.ExportText;

namespace Visibility.Query.Export;

/// <summary>
/// QRadar LEEF 2.0 with a tab between attributes: <c>LEEF:2.0|Vendor|Product|Version|EventID|x09|key=value…</c>.
/// The event id is the finding kind (<c>flow_summary</c> for summaries). Labels go out as
/// <c>srcLabel.&lt;key&gt;</c>/<c>dstLabel.&lt;key&gt;</c>, with characters other than letters, digits, <c>.</c>,
/// <c>_</c> and <c>-</c> in a key replaced by <c>_</c>. Empty values are left out. docs/siem-export.md has the
/// whole mapping.
/// </summary>
public sealed class LeefFormat(ExportIdentity identity) : IExportFormat
{
    /// <summary>QRadar reads <c>devTime</c> with this Java date pattern.</summary>
    public const string DevTimeFormat = "MMM dd yyyy HH:mm:ss.SSS Z";

    public string Name => "leef";

    public void Write(IBufferWriter<byte> output, FindingEvent record)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(record);
        var f = record.Finding;
        Header(output, f.Kind);
        DevTime(output, record.Time);
        Pair(output, "cat", f.Kind);
        Pair(output, "sev", Math.Max(1, Severity10(f.Severity)));
        Pair(output, "severity", f.Severity);
        Pair(output, "eventId", record.EventId);
        End(output, "src", "srcWorkload", "srcKind", "srcLabel.", f.Source.Workload, f.Source.Kind, f.Source.Labels);
        End(output, "dst", "dstWorkload", "dstKind", "dstLabel.", f.Destination.Workload, f.Destination.Kind, f.Destination.Labels);
        var (protocol, port) = Service(f.Service);
        Pair(output, "proto", protocol);
        if (port >= 0)
        {
            Pair(output, "dstPort", port);
        }

        Pair(output, "service", f.Service);
        Pair(output, "flows", f.Flows);
        Pair(output, "bytes", f.Bytes);
        Pair(output, "firstSeen", f.FirstSeen.ToUnixTimeMilliseconds());
        Pair(output, "lastSeen", f.LastSeen.ToUnixTimeMilliseconds());
        if (f.BlockedAttempts is { } blocked)
        {
            Pair(output, "action", "blocked");
            Pair(output, "attempts", blocked.Attempts);
            Pair(output, "destinations", blocked.Destinations);
            Pair(output, "ports", blocked.Ports);
            Pair(output, "firstAttempt", blocked.FirstAttempt.ToUnixTimeMilliseconds());
            Pair(output, "targets", [.. blocked.Targets.Select(t => t.ToString())]);
            Pair(output, "policies", blocked.Policies);
        }
    }

    public void Write(IBufferWriter<byte> output, FlowSummary record)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(record);
        Header(output, "flow_summary");
        DevTime(output, record.IntervalEnd);
        Pair(output, "cat", "flow_summary");
        Pair(output, "sev", Math.Max(1, Severity10(record.Severity)));
        Pair(output, "severity", record.Severity ?? "");
        Pair(output, "eventId", record.EventId);
        End(output, "src", "srcNode", "srcKind", "srcLabel.", record.Source.Id, record.Source.Kind, record.Source.Labels);
        End(output, "dst", "dstNode", "dstKind", "dstLabel.", record.Destination.Id, record.Destination.Kind, record.Destination.Labels);
        if (record.Ports.Count == 1)
        {
            var (protocol, port) = Service(record.Ports[0]);
            Pair(output, "proto", protocol);
            if (port >= 0)
            {
                Pair(output, "dstPort", port);
            }
        }

        Pair(output, "services", record.Ports);
        Pair(output, "findings", record.Findings);
        Pair(output, "groupBy", record.GroupBy);
        Pair(output, "flows", record.Flows);
        Pair(output, "bytes", record.Bytes);
        Pair(output, "totalPackets", record.Packets);
        Pair(output, "intervalStart", record.IntervalStart.ToUnixTimeMilliseconds());
        Pair(output, "intervalEnd", record.IntervalEnd.ToUnixTimeMilliseconds());
    }

    private void Header(IBufferWriter<byte> output, string eventId)
    {
        Literal(output, "LEEF:2.0|"u8);
        IdentityFields(output, identity);
        HeaderField(output, eventId);
        Literal(output, "|x09|"u8);
    }

    // devTime always comes first, so every other attribute starts with its delimiter.
    private static void DevTime(IBufferWriter<byte> output, DateTimeOffset time)
    {
        Literal(output, "devTime="u8);
        Span<char> text = stackalloc char[32];
        time.UtcDateTime.TryFormat(text, out var written, "MMM dd yyyy HH:mm:ss.fff", CultureInfo.InvariantCulture);
        Text(output, text[..written]);
        Literal(output, " +0000\tdevTimeFormat=MMM dd yyyy HH:mm:ss.SSS Z"u8);
    }

    private static void End(
        IBufferWriter<byte> output, string addressKey, string nameKey, string kindKey, string labelPrefix,
        string name, string kind, IReadOnlyDictionary<string, string> labels)
    {
        if (IsAddress(name))
        {
            Pair(output, addressKey, name);
        }

        Pair(output, nameKey, name);
        Pair(output, kindKey, kind);
        foreach (var (key, value) in labels)
        {
            if (value.Length == 0)
            {
                continue;
            }

            Byte(output, (byte)'\t');
            Text(output, labelPrefix);
            LabelKey(output, key);
            Byte(output, (byte)'=');
            LeefValue(output, value);
        }
    }

    private static void LabelKey(IBufferWriter<byte> output, string key)
    {
        foreach (var c in key)
        {
            Byte(output, char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? (byte)c : (byte)'_');
        }
    }

    private static void Pair(IBufferWriter<byte> output, string key, string value) => Attribute(output, (byte)'\t', LeefValue, key, value);

    private static void Pair(IBufferWriter<byte> output, string key, IReadOnlyList<string> values) => Attribute(output, (byte)'\t', LeefValue, key, values);

    private static void Pair(IBufferWriter<byte> output, string key, long value) => Attribute(output, (byte)'\t', key, value);
}
