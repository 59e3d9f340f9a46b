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
/// other dictionary columns (Kafka topic, verdict reason), then the policies (an array of dictionary indexes).
/// <see cref="Add"/> is unrolled by hand for speed; <c>FlowSchemaAgreementTests</c> checks it against the table.
/// Reused: <see cref="Reset"/> keeps the buffers.
/// </summary>
public sealed class NativeFlowBlock
{
    /// <summary>Columns of fixed-size values, each one buffer filled by <see cref="Add"/>.</summary>
    private static readonly FlowColumn[] Columns = [.. FlowColumnTable.Written.Where(c => !c.FromEndpoint && !c.IsDictionary && c != PoliciesColumn)];

    /// <summary>Dictionary columns of the flow, not of an end: the Kafka topic and the verdict's reason.</summary>
    private static readonly FlowColumn Topic = FlowColumnTable.ByName["kafka_topic"];

    private static readonly FlowColumn Reason = FlowColumnTable.ByName["verdict_reason"];

    private static FlowColumn PoliciesColumn => FlowColumnTable.ByName["policies"];

    /// <summary>Each end's label columns (workload, kind, role, app, env, loc) and, last, its label map.</summary>
    private static readonly FlowColumn[] SrcColumns = [.. FlowColumnTable.EndpointColumns(FlowSide.Src)];

    private static readonly FlowColumn[] DstColumns = [.. FlowColumnTable.EndpointColumns(FlowSide.Dst)];

    private static readonly int LabelColumns = SrcColumns.Length - 1;

    private readonly ArrayBufferWriter<byte>[] fixedColumns = Columns.Select(_ => new ArrayBufferWriter<byte>(1 << 16)).ToArray();
    private readonly Side src = new(SrcColumns);
    private readonly Side dst = new(DstColumns);
    private readonly DictionaryColumn topics = new();
    private readonly DictionaryColumn reasons = new();
    private readonly PolicyColumn policies = new();
    private string? lastTopic;
    private int lastTopicIndex;
    private string? lastReason;
    private int lastReasonIndex;

    /// <summary>The block's columns in the order it writes them: the column list of its INSERT.</summary>
    public static string ColumnList { get; } = FlowColumnTable.Names([.. Columns, .. SrcColumns, .. DstColumns, Topic, Reason, PoliciesColumn]);

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
        RowBinary.WriteUInt8(f[22], (byte)record.Verdict);
        RowBinary.WriteUInt8(f[23], record.IsAttempt ? (byte)1 : (byte)0);
        RowBinary.WriteUInt8(f[24], record.Audited ? (byte)1 : (byte)0);
        src.Add(record.Src ?? Endpoint.Unknown);
        dst.Add(record.Dst ?? Endpoint.Unknown);

        var topic = record.SourceTopic ?? string.Empty;
        if (!ReferenceEquals(topic, lastTopic))
        {
            lastTopic = topic;
            lastTopicIndex = topics.IndexOf(topic);
        }

        topics.Indexes.Add(lastTopicIndex);

        var reason = record.VerdictReason ?? string.Empty;
        if (!ReferenceEquals(reason, lastReason))
        {
            lastReason = reason;
            lastReasonIndex = reasons.IndexOf(reason);
        }

        reasons.Indexes.Add(lastReasonIndex);
        policies.Add(record.Policies);
        Count++;
    }

    /// <summary>Writes the block: column count, row count, then each column's name, type and data.</summary>
    public void WriteTo(IBufferWriter<byte> output)
    {
        RowBinary.WriteVarUInt(output, (ulong)(Columns.Length + SrcColumns.Length + DstColumns.Length + 3));
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
        RowBinary.WriteString(output, Reason.Name);
        RowBinary.WriteString(output, Reason.Type);
        reasons.WriteTo(output, withPrefix: true);
        RowBinary.WriteString(output, PoliciesColumn.Name);
        RowBinary.WriteString(output, PoliciesColumn.Type);
        policies.WriteTo(output);
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
        reasons.Reset();
        policies.Reset();
        lastTopic = null;
        lastReason = null;
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
    /// <c>policies</c>, an <c>Array(LowCardinality(String))</c>: the names' dictionary indexes and each row's cumulative
    /// offset. A list is split once per block (its indexes kept by the list's string, which decoders share).
    /// </summary>
    private sealed class PolicyColumn
    {
        private readonly DictionaryColumn names = new();
        private readonly List<ulong> offsets = [];
        private readonly Dictionary<string, int[]> lists = new(ReferenceEqualityComparer.Instance);

        public void Add(string? policies)
        {
            if (policies is not null)
            {
                if (!lists.TryGetValue(policies, out var indexes))
                {
                    indexes = [.. PolicyNames.Split(policies).Select(names.IndexOf)];
                    lists.Add(policies, indexes);
                }

                names.Indexes.AddRange(indexes);
            }

            offsets.Add((ulong)names.Indexes.Count);
        }

        /// <summary>Array(T) in Native: T's serialization prefix, the cumulative offsets, then T's data for every element.</summary>
        public void WriteTo(IBufferWriter<byte> output)
        {
            RowBinary.WriteUInt64(output, DictionaryColumn.SharedDictionariesWithAdditionalKeys);
            foreach (var offset in offsets)
            {
                RowBinary.WriteUInt64(output, offset);
            }

            if (names.Indexes.Count > 0)
            {
                // As with the label maps, ClickHouse reads no element data at all when no row has an element.
                names.WriteTo(output, withPrefix: false);
            }
        }

        public void Reset()
        {
            names.Reset();
            offsets.Clear();
            lists.Clear();
        }
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
