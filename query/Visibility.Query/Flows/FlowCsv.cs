using System.Globalization;
using System.Text;

namespace Visibility.Query.Flows;

/// <summary>
/// Flows as CSV (RFC 4180, CRLF, a header row), each column declared once with its value and whether it is text.
/// Text cells can hold what anyone may write into the inventory (workload names, label values), and spreadsheets
/// run a cell that starts with <c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>, tab or CR as a formula: such a cell is
/// written with a <c>'</c> in front, and so is one that starts with <c>'</c>, so a reader recovers every text cell
/// by removing one leading <c>'</c> where there is one. Number cells are written as they are.
/// </summary>
public static class FlowCsv
{
    private static readonly Column[] Columns =
    [
        new("time", r => r.Time.ToString("O", CultureInfo.InvariantCulture)),
        new("end", r => r.End?.ToString("O", CultureInfo.InvariantCulture) ?? ""),
        new("event", r => r.Event, Text: true),
        new("proto", r => r.Protocol, Text: true),
        new("src_ip", r => r.SrcIp, Text: true),
        new("src_port", r => Number(r.SrcPort)),
        new("dst_ip", r => r.DstIp, Text: true),
        new("dst_port", r => Number(r.DstPort)),
        new("bytes_out", r => Number(r.BytesOut)),
        new("bytes_in", r => Number(r.BytesIn)),
        new("packets_out", r => Number(r.PacketsOut)),
        new("packets_in", r => Number(r.PacketsIn)),
        new("src_workload", r => r.Src.Workload, Text: true),
        new("src_kind", r => r.Src.Kind, Text: true),
        new("src_app", r => Label(r.Src, "app"), Text: true),
        new("src_env", r => Label(r.Src, "env"), Text: true),
        new("src_role", r => Label(r.Src, "role"), Text: true),
        new("src_loc", r => Label(r.Src, "loc"), Text: true),
        new("dst_workload", r => r.Dst.Workload, Text: true),
        new("dst_kind", r => r.Dst.Kind, Text: true),
        new("dst_app", r => Label(r.Dst, "app"), Text: true),
        new("dst_env", r => Label(r.Dst, "env"), Text: true),
        new("dst_role", r => Label(r.Dst, "role"), Text: true),
        new("dst_loc", r => Label(r.Dst, "loc"), Text: true),
        new("findings", r => string.Join(';', r.Findings), Text: true),
        new("conn_id", r => r.ConnectionId),
        new("source", r => r.Source, Text: true),
        new("verdict", r => r.Verdict, Text: true),
        new("attempt", r => r.Attempt ? "1" : "0"),
        new("audited", r => r.Audited ? "1" : "0"),
        new("reason", r => r.Reason, Text: true),
        new("policies", r => string.Join(';', r.Policies), Text: true),
    ];

    /// <summary>The column names, in order.</summary>
    public static IReadOnlyList<string> ColumnNames { get; } = [.. Columns.Select(c => c.Name)];

    /// <summary>The header row, with its CRLF.</summary>
    public static string Header { get; } = string.Join(',', ColumnNames) + "\r\n";

    /// <summary>Appends one row and its CRLF.</summary>
    public static void AppendRow(StringBuilder text, FlowRow row)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(row);
        for (var i = 0; i < Columns.Length; i++)
        {
            if (i > 0)
            {
                text.Append(',');
            }

            var value = Columns[i].Value(row);
            AppendCell(text, Columns[i].Text ? Inert(value) : value);
        }

        text.Append("\r\n");
    }

    /// <summary>A text cell a spreadsheet shows as text: a <c>'</c> before a formula's first character, or before a <c>'</c>.</summary>
    public static string Inert(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' or '\'' ? "'" + value : value;
    }

    /// <summary>A cell holding a comma, a quote or a line break is quoted, its quotes doubled.</summary>
    private static void AppendCell(StringBuilder text, string cell)
    {
        if (cell.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            text.Append(cell);
            return;
        }

        text.Append('"').Append(cell.Replace("\"", "\"\"", StringComparison.Ordinal)).Append('"');
    }

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Label(FlowEnd end, string key) => end.Labels.GetValueOrDefault(key, "");

    private sealed record Column(string Name, Func<FlowRow, string> Value, bool Text = false);
}
