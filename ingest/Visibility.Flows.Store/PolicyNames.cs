using System.Buffers;
using System.Runtime.CompilerServices;

namespace Visibility.Flows.Store;

/// <summary>
/// A record's policies (<c>FlowRecord.Policies</c>: names, comma-separated) as the <c>policies</c> column holds them:
/// the names, trimmed, empty ones left out. Decoders hand out one shared string per list, so each list is split and
/// encoded once and kept with its string (weakly: it goes when the string does); writing a row copies those bytes.
/// </summary>
public static class PolicyNames
{
    private static readonly ConditionalWeakTable<string, Entry> Entries = new();

    /// <summary>The names of a comma-separated list.</summary>
    public static IReadOnlyList<string> Split(string policies) => Of(policies).Names;

    /// <summary>The list as a RowBinary <c>Array(LowCardinality(String))</c>: the count, then each name.</summary>
    public static byte[] RowBinaryOf(string policies) => Of(policies).Encoded;

    private static Entry Of(string policies) => Entries.GetValue(policies, static p => new Entry(p));

    private sealed class Entry
    {
        public Entry(string policies)
        {
            Names = policies.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var writer = new ArrayBufferWriter<byte>(16 + policies.Length);
            RowBinary.WriteVarUInt(writer, (ulong)Names.Length);
            foreach (var name in Names)
            {
                RowBinary.WriteString(writer, name);
            }

            Encoded = writer.WrittenSpan.ToArray();
        }

        public string[] Names { get; }

        public byte[] Encoded { get; }
    }
}
