using System.Buffers;
using System.Text;
using Visibility.Query.Export;
using Visibility.Query.Export.Sinks;

namespace Visibility.Tests.Export;

/// <summary>Export items for sink tests: seeded random findings in JSON lines, each with its own sequence and event id.</summary>
public static class SinkItems
{
    public static List<ExportItem> Findings(int count, long firstSequence = 0, int seed = 7)
    {
        var random = new Random(seed + (int)firstSequence);
        var format = new JsonLinesFormat();
        var items = new List<ExportItem>(count);
        for (var i = 0; i < count; i++)
        {
            var sequence = firstSequence + i;
            var record = ExportSamples.RandomFinding(random) with { EventId = $"event-{sequence}" };
            var output = new ArrayBufferWriter<byte>();
            format.Write(output, record);
            items.Add(new ExportItem(sequence, record.EventId, record.Time, record.Finding.Severity, "finding", output.WrittenMemory.ToArray()));
        }

        return items;
    }

    public static string Line(ExportItem item) => Encoding.UTF8.GetString(item.Body.Span);
}
