using System.Buffers;
using System.Runtime.CompilerServices;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Flows.Store;

/// <summary>
/// Flow rows as one block of ClickHouse's Native format: column by column, each label column as a per-block
/// dictionary plus indexes. ClickHouse parses this several times faster than RowBinary, whose label values must be
/// looked up one row at a time. Both ends' label columns are resolved once per <see cref="Endpoint"/> and block, so
/// adding a record copies fixed-size values and a few indexes. Same columns as <see cref="FlowSchema.FlowColumns"/>,
/// named and typed by <see cref="FlowColumnTable"/>: the fixed-size ones first, then each end's label columns, then the
/// other dictionary columns. <see cref="Add"/> is unrolled by hand for speed; <c>FlowSchemaAgreementTests</c> checks
/// it against the table. Reused: <see cref="Reset"/> keeps the buffers.
/// </summary>
public sealed class NativeFlowBlock
{
    /// <summary>Columns of fixed-size values, each one buffer filled by <see cref="Add"/>.</summary>
    private static readonly FlowColumn[] Columns = [.. FlowColumnTable.Written.Where(c => !c.FromEndpoint && !c.IsDictionary)];

    /// <summary>Dictionary columns of the flow, not of an end: the Kafka topic.</summary>
    private static readonly FlowColumn Topic = FlowColumnTable.Written.Single(c => !c.FromEndpoint && c.IsDictionary);

    /// <summary>Each end's label columns (workload, kind, role, app, env, loc) and, last, its label map.</summary>
    private static readonly FlowColumn[] SrcColumns = [.. FlowColumnTable.EndpointColumns(FlowSide.Src)];

    private static readonly FlowColumn[] DstColumns = [.. FlowColumnTable.EndpointColumns(FlowSide.Dst)];

    private static readonly int LabelColumns = SrcColumns.Length - 1;

    private readonly ArrayBufferWriter<byte>[] fixedColumns = Columns.Select(_ => new ArrayBufferWriter<byte>(1 << 16)).ToArray();
    private readonly Side src = new(SrcColumns);
    private readonly Side dst = new(DstColumns);
    private readonly DictionaryColumn topics = new();
    private string? lastTopic;
    private int lastTopicIndex;

    /// <summary>The block's columns in the order it writes them: the column list of its INSERT.</summary>
    public static string ColumnList { get; } = FlowColumnTable.Names([.. Columns, .. SrcColumns, .. DstColumns, Topic]);

    public int Count { get; private set; }

    public void Add(in FlowRecord record)
    {
        var f = fixedColumns;
        RowBinary.WriteInt64(f[0], record.StartMs);
        RowBinary.WriteInt64(f[1], record.EndMs);
        RowBinary.WriteUInt64(f[2], record.ConnectionId);
        RowBinary.WriteUInt8(f[3], (byte)record.Event);
        RowBinary.WriteUInt8(f[4], record.Protocol);
        RowBinary.WriteIPv6(f[5], record.SrcIp);
        RowBinary.WriteUInt16(f[6], record.SrcPort);
        RowBinary.WriteIPv6(f[7], record.DstIp);
        RowBinary.WriteUInt16(f[8], record.DstPort);
        RowBinary.WriteUInt64(f[9], record.BytesOut);
        RowBinary.WriteUInt64(f[10], record.PacketsOut);
        RowBinary.WriteUInt64(f[11], record.BytesIn);
        RowBinary.WriteUInt64(f[12], record.PacketsIn);
        RowBinary.WriteInt32(f[13], record.SourcePartition);
        RowBinary.WriteInt64(f[14], record.SourceOffset);
        RowBinary.WriteIPv6(f[15], record.NatSrcIp);
        RowBinary.WriteUInt16(f[16], record.NatSrcPort);
        RowBinary.WriteIPv6(f[17], record.NatDstIp);
        RowBinary.WriteUInt16(f[18], record.NatDstPort);
        RowBinary.WriteUInt32(f[19], record.Connections == 0 ? 1 : record.Connections);
        RowBinary.WriteUInt8(f[20], record.CountersAreDeltas ? (byte)1 : (byte)0);
        RowBinary.WriteUInt8(f[21], (byte)record.Findings);
        src.Add(record.Src ?? Endpoint.Unknown);
        dst.Add(record.Dst ?? Endpoint.Unknown);

        var topic = record.SourceTopic ?? string.Empty;
        if (!ReferenceEquals(topic, lastTopic))
        {
            lastTopic = topic;
            lastTopicIndex = topics.IndexOf(topic);
        }

        topics.Indexes.Add(lastTopicIndex);
        Count++;
    }

    /// <summary>Writes the block: column count, row count, then each column's name, type and data.</summary>
    public void WriteTo(IBufferWriter<byte> output)
    {
        RowBinary.WriteVarUInt(output, (ulong)(Columns.Length + SrcColumns.Length + DstColumns.Length + 1));
        RowBinary.WriteVarUInt(output, (ulong)Count);
        for (var i = 0; i < Columns.Length; i++)
        {
            RowBinary.WriteString(output, Columns[i].Name);
            RowBinary.WriteString(output, Columns[i].Type);
            output.Write(fixedColumns[i].WrittenSpan);
        }

        src.WriteTo(output);
        dst.WriteTo(output);
        RowBinary.WriteString(output, Topic.Name);
        RowBinary.WriteString(output, Topic.Type);
        topics.WriteTo(output, withPrefix: true);
    }

    public void Reset()
    {
        foreach (var column in fixedColumns)
        {
            column.ResetWrittenCount();
        }

        src.Reset();
        dst.Reset();
        topics.Reset();
        lastTopic = null;
        Count = 0;
    }

    /// <summary>The label columns and the label map of one end of the flows.</summary>
    private sealed class Side(FlowColumn[] columns)
    {
        private readonly DictionaryColumn[] labels = Enumerable.Range(0, LabelColumns).Select(_ => new DictionaryColumn()).ToArray();
        private readonly DictionaryColumn mapKeys = new();
        private readonly List<string> mapValues = [];
        private readonly List<ulong> mapOffsets = [];
        private readonly Dictionary<Endpoint, Codes> codes = new(ReferenceEqualityComparer.Instance);

        public void Add(Endpoint endpoint)
        {
            if (!codes.TryGetValue(endpoint, out var c))
            {
                c = Resolve(endpoint);
                codes.Add(endpoint, c);
            }

            for (var i = 0; i < LabelColumns; i++)
            {
                labels[i].Indexes.Add(c.Labels[i]);
            }

            for (var i = 0; i < c.MapKeys.Length; i++)
            {
                mapKeys.Indexes.Add(c.MapKeys[i]);
                mapValues.Add(c.MapValues[i]);
            }

            mapOffsets.Add((ulong)mapValues.Count);
        }

        public void WriteTo(IBufferWriter<byte> output)
        {
            for (var i = 0; i < LabelColumns; i++)
            {
                RowBinary.WriteString(output, columns[i].Name);
                RowBinary.WriteString(output, columns[i].Type);
                labels[i].WriteTo(output, withPrefix: true);
            }

            // Map(K, V) is Array(Tuple(K, V)): the key column's serialization prefix, the array's cumulative offsets,
            // then the keys and the values.
            RowBinary.WriteString(output, columns[LabelColumns].Name);
            RowBinary.WriteString(output, columns[LabelColumns].Type);
            RowBinary.WriteUInt64(output, DictionaryColumn.SharedDictionariesWithAdditionalKeys);
            foreach (var offset in mapOffsets)
            {
                RowBinary.WriteUInt64(output, offset);
            }

            if (mapValues.Count == 0)
            {
                // No entries in any row: ClickHouse reads no key or value data at all.
                return;
            }

            mapKeys.WriteTo(output, withPrefix: false);
            foreach (var value in mapValues)
            {
                RowBinary.WriteString(output, value);
            }
        }

        public void Reset()
        {
            foreach (var column in labels)
            {
                column.Reset();
            }

            mapKeys.Reset();
            mapValues.Clear();
            mapOffsets.Clear();
            codes.Clear();
        }

        private Codes Resolve(Endpoint endpoint)
        {
            string[] values = [endpoint.Workload, endpoint.Kind, endpoint.Role, endpoint.App, endpoint.Env, endpoint.Loc];
            var labelCodes = new int[LabelColumns];
            for (var i = 0; i < LabelColumns; i++)
            {
                labelCodes[i] = labels[i].IndexOf(values[i]);
            }

            var extra = endpoint.Labels.Where(l => !LabelKeys.Standard.Contains(l.Key)).OrderBy(l => l.Key, StringComparer.Ordinal).ToList();
            return new Codes(labelCodes, extra.Select(l => mapKeys.IndexOf(l.Key)).ToArray(), extra.Select(l => l.Value).ToArray());
        }

        private sealed record Codes(int[] Labels, int[] MapKeys, string[] MapValues);
    }

    /// <summary>
    /// A LowCardinality(String) column as Native carries it without a shared dictionary: the block's own keys
    /// ("additional keys") and one index per row, as narrow as the number of keys allows.
    /// </summary>
    private sealed class DictionaryColumn
    {
        public const ulong SharedDictionariesWithAdditionalKeys = 1;
        private const ulong HasAdditionalKeys = 1UL << 9;
        private const ulong NeedUpdateDictionary = 1UL << 10;

        private readonly Dictionary<string, int> positions = new(StringComparer.Ordinal);
        private readonly List<string> keys = [];

        public List<int> Indexes { get; } = [];

        public int IndexOf(string key)
        {
            if (!positions.TryGetValue(key, out var index))
            {
                index = keys.Count;
                keys.Add(key);
                positions.Add(key, index);
            }

            return index;
        }

        public void WriteTo(IBufferWriter<byte> output, bool withPrefix)
        {
            if (withPrefix)
            {
                RowBinary.WriteUInt64(output, SharedDictionariesWithAdditionalKeys);
            }

            var width = keys.Count <= byte.MaxValue + 1 ? 0 : keys.Count <= ushort.MaxValue + 1 ? 1 : 2;
            RowBinary.WriteUInt64(output, (ulong)width | HasAdditionalKeys | NeedUpdateDictionary);
            RowBinary.WriteUInt64(output, (ulong)keys.Count);
            foreach (var key in keys)
            {
                RowBinary.WriteString(output, key);
            }

            RowBinary.WriteUInt64(output, (ulong)Indexes.Count);
            foreach (var index in Indexes)
            {
                WriteIndex(output, width, index);
            }
        }

        public void Reset()
        {
            positions.Clear();
            keys.Clear();
            Indexes.Clear();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void WriteIndex(IBufferWriter<byte> output, int width, int index)
        {
            switch (width)
            {
                case 0:
                    RowBinary.WriteUInt8(output, (byte)index);
                    break;
                case 1:
                    RowBinary.WriteUInt16(output, (ushort)index);
                    break;
                default:
                    RowBinary.WriteUInt32(output, (uint)index);
                    break;
            }
        }
    }
}
