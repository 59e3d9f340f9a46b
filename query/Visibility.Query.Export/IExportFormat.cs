using System.Buffers;

namespace Visibility.Query.Export;

/// <summary>
/// One record format. Each call writes exactly one record as UTF-8, without a trailing line break: framing
/// (a newline for JSON lines, octet counting for syslog) belongs to the sink. Values that could break the framing
/// (line breaks) are escaped by every format. Implementations keep no per-call state and may be shared.
/// </summary>
public interface IExportFormat
{
    /// <summary>The format's name in configuration: <c>cef</c>, <c>leef</c>, <c>ocsf</c> or <c>json</c>.</summary>
    string Name { get; }

    void Write(IBufferWriter<byte> output, FindingEvent record);

    void Write(IBufferWriter<byte> output, FlowSummary record);
}

/// <summary>The formats by name.</summary>
public static class ExportFormats
{
    public static IReadOnlyList<IExportFormat> All(ExportIdentity identity) =>
        [new CefFormat(identity), new LeefFormat(identity), new OcsfFormat(identity), new JsonLinesFormat()];
}
