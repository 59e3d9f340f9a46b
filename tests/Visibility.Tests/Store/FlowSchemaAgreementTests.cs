using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Query.Filtering;
using Visibility.Query.Planning;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

/// <summary>
/// <see cref="FlowColumnTable"/> is the one declaration of the flow schema: for every column, the stored tables (DDL as
/// the engine applied it, and as the migrations spell it), both encoders and the filter fields agree with it. A column
/// added to the table but not to an encoder, or written in another order or type, fails here.
/// </summary>
public sealed partial class FlowSchemaAgreementTests
{
    /// <summary>
    /// A distinct value in every written column of <see cref="Record"/>, as ClickHouse prints it (TSV). A new column
    /// needs its value here: <see cref="EveryWrittenColumn_HasAnExpectedValue"/> fails until it has one.
    /// </summary>
    private static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        ["ts"] = "2023-11-14 22:13:20.123",
        ["end_ts"] = "2023-11-14 22:13:25.456",
        ["conn_id"] = "72623859790382856",
        ["event"] = "2",
        ["proto"] = "17",
        ["src_ip"] = "::ffff:10.1.2.3",
        ["src_port"] = "40001",
        ["dst_ip"] = "2001:db8::7",
        ["dst_port"] = "443",
        ["bytes_out"] = "1001",
        ["packets_out"] = "11",
        ["bytes_in"] = "2002",
        ["packets_in"] = "22",
        ["src_workload"] = "web-1",
        ["src_kind"] = "pod",
        ["src_role"] = "frontend",
        ["src_app"] = "shop",
        ["src_env"] = "prod",
        ["src_loc"] = "eu-1",
        ["src_labels"] = "{'team':'blue','tier':'a'}",
        ["dst_workload"] = "db-1",
        ["dst_kind"] = "vm",
        ["dst_role"] = "database",
        ["dst_app"] = "ledger",
        ["dst_env"] = "staging",
        ["dst_loc"] = "us-2",
        ["dst_labels"] = "{'zone':'z3'}",
        ["kafka_partition"] = "5",
        ["kafka_offset"] = "123456789",
        ["nat_src_ip"] = "::ffff:192.0.2.9",
        ["nat_src_port"] = "50002",
        ["nat_dst_ip"] = "::ffff:198.51.100.4",
        ["nat_dst_port"] = "8443",
        ["connections"] = "7",
        ["counters_delta"] = "1",
        ["kafka_topic"] = "flows-eu",
        ["findings"] = "5",
        ["verdict"] = "blocked",
        ["attempt"] = "1",
        ["audited"] = "1",
        ["verdict_reason"] = "POLICY_DENIED",
        ["policies"] = "['shop/deny-dev','team/a']",
    };

    private static FlowRecord Record
    {
        get
        {
            var record = FlowRecord.Blank;
            record.StartMs = 1_700_000_000_123;
            record.EndMs = 1_700_000_005_456;
            record.ConnectionId = 0x0102030405060708;
            record.Event = FlowEvent.Update;
            record.Protocol = 17;
            record.SrcIp = Address("10.1.2.3");
            record.SrcPort = 40001;
            record.DstIp = Address("2001:db8::7");
            record.DstPort = 443;
            record.BytesOut = 1001;
            record.PacketsOut = 11;
            record.BytesIn = 2002;
            record.PacketsIn = 22;
            record.Src = Endpoint.ForWorkload(new WorkloadSpec
            {
                Name = "web-1",
                Kind = "pod",
                Labels = new Dictionary<string, string> { ["role"] = "frontend", ["app"] = "shop", ["env"] = "prod", ["loc"] = "eu-1", ["tier"] = "a", ["team"] = "blue" },
            });
            record.Dst = Endpoint.ForWorkload(new WorkloadSpec
            {
                Name = "db-1",
                Kind = "vm",
                Labels = new Dictionary<string, string> { ["role"] = "database", ["app"] = "ledger", ["env"] = "staging", ["loc"] = "us-2", ["zone"] = "z3" },
            });
            record.SourceTopic = "flows-eu";
            record.SourcePartition = 5;
            record.SourceOffset = 123_456_789;
            record.NatSrcIp = Address("192.0.2.9");
            record.NatSrcPort = 50002;
            record.NatDstIp = Address("198.51.100.4");
            record.NatDstPort = 8443;
            record.Connections = 7;
            record.CountersAreDeltas = true;
            record.Findings = FindingKind.CrossEnv | FindingKind.InternetSource;
            record.Verdict = FlowVerdict.Blocked;
            record.IsAttempt = true;
            record.Audited = true;
            record.VerdictReason = "POLICY_DENIED";
            record.Policies = "shop/deny-dev, team/a,";
            return record;
        }
    }

    [Fact]
    public void EveryWrittenColumn_HasAnExpectedValue() =>
        Assert.Equal(FlowColumnTable.Written.Select(c => c.Name).Order(StringComparer.Ordinal), Expected.Keys.Order(StringComparer.Ordinal));

    [Fact]
    public void RowBinaryRow_DecodedByTheTablesTypes_HoldsEveryColumnInInsertOrder()
    {
        var writer = new ArrayBufferWriter<byte>();
        FlowSchema.WriteRow(writer, Record);

        var row = writer.WrittenSpan;
        var decoded = new List<(string Name, string Value)>();
        foreach (var column in FlowColumnTable.Written)
        {
            decoded.Add((column.Name, RowBinaryText.Read(ref row, column.Type)));
        }

        Assert.True(row.IsEmpty, $"{row.Length} bytes after the last column: the writer writes more than the table declares");
        Assert.Equal(FlowColumnTable.Written.Select(c => (c.Name, Expected[c.Name])), decoded);
        Assert.Equal(FlowSchema.FlowColumns, FlowColumnTable.Names(FlowColumnTable.Written));
    }

    [Theory]
    [InlineData(FlowEncoding.RowBinary)]
    [InlineData(FlowEncoding.Native)]
    public async Task StoredRow_ReadBack_HoldsEveryColumn(FlowEncoding encoding)
    {
        var store = await TestStore.CreateAsync();
        var writer = new ArrayBufferWriter<byte>();
        if (encoding == FlowEncoding.Native)
        {
            var block = new NativeFlowBlock();
            block.Add(Record);
            block.WriteTo(writer);
        }
        else
        {
            FlowSchema.WriteRow(writer, Record);
        }

        await store.InsertFlowsAsync([writer.WrittenMemory], encoding, InsertToken.Unique(), CancellationToken.None);
        var names = FlowColumnTable.Written.Select(c => c.Name).ToList();
        var text = await store.QueryAsync(
            $"SELECT {FlowColumnTable.Names(FlowColumnTable.Written)} FROM {store.Database}.{FlowSchema.FlowsTable} FORMAT TSVRaw",
            "TSVRaw", static s => Encoding.UTF8.GetString(s), [], CancellationToken.None);
        var values = text.TrimEnd('\n').Split('\t');
        Assert.Equal(names.Select(n => (n, Expected[n])), names.Zip(values));
    }

    [Fact]
    public void NativeBlock_WritesTheTablesColumns()
    {
        var native = NativeFlowBlock.ColumnList.Split(", ");
        Assert.Equal(FlowColumnTable.Written.Select(c => c.Name).Order(StringComparer.Ordinal), native.Order(StringComparer.Ordinal));

        // Each column's name and type as the block's header states them, in the block's order.
        var block = new NativeFlowBlock();
        block.Add(Record);
        var writer = new ArrayBufferWriter<byte>();
        block.WriteTo(writer);
        var bytes = writer.WrittenSpan;
        var header = Encoding.UTF8.GetString(bytes);
        foreach (var name in native)
        {
            Assert.Contains(name + (char)FlowColumnTable.ByName[name].Type.Length + FlowColumnTable.ByName[name].Type, header, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task StoredTables_HaveTheTablesColumnsTypesDefaultsAndCodecs()
    {
        var store = await TestStore.CreateAsync();
        Assert.Equal(
            FlowColumnTable.RawColumns.Select(c => string.Join('|', c.Name, c.Type, c.Default ?? "", c.Codec is null ? "" : $"CODEC({c.Codec})")),
            await ColumnsAsync(store, FlowSchema.FlowsTable));

        string[] measures = ["bucket", "opened", "closed", "attempts", "bytes", "packets", "first_seen", "last_seen"];
        foreach (var rollup in FlowSchema.AllRollups)
        {
            var dimensions = FlowSchema.ServiceRollups.Contains(rollup) ? FlowColumnTable.ServiceDimensions
                : rollup.KeepsPeers ? FlowColumnTable.AppDimensions : FlowColumnTable.RollupDimensions;
            Assert.Equal(
                dimensions.Select(c => $"{c.Name}|{c.DimensionDdl[(c.Name.Length + 1)..]}||"),
                (await ColumnsAsync(store, rollup.Name)).Where(c => !measures.Contains(c.Split('|')[0])));
        }

        Assert.Equal(
            FlowColumnTable.EdgeKeyColumns.Select(c => $"{c.Name}|{c.Type}||")
                .Concat(FlowColumnTable.EdgeLabelColumns.Select(c => $"{c.Name}|SimpleAggregateFunction(anyLast, {c.Type})||")),
            (await ColumnsAsync(store, FlowSchema.EdgesTable)).Where(c => !measures.Contains(c.Split('|')[0])));
    }

    [Fact]
    public void Migrations_DeclareEveryRawColumnOnce()
    {
        // The columns as the migrations spell them: the raw table's CREATE TABLE column list, then each ADD COLUMN.
        var declared = new List<string>();
        foreach (var statement in FlowSchema.Migrations("db", TimeSpan.FromDays(1)).SelectMany(m => m.Statements))
        {
            if (statement.StartsWith($"CREATE TABLE IF NOT EXISTS `db`.{FlowSchema.FlowsTable}\n", StringComparison.Ordinal))
            {
                var list = statement[(statement.IndexOf("(\n", StringComparison.Ordinal) + 2)..statement.IndexOf("\n)\nENGINE", StringComparison.Ordinal)];
                declared.AddRange(list.Split(",\n").Select(line => line.Trim()));
            }
            else if (AddColumn().Match(statement) is { Success: true } add)
            {
                declared.Add(add.Groups[1].Value);
            }
        }

        Assert.Equal(FlowColumnTable.RawColumns.Select(c => c.Ddl).Order(StringComparer.Ordinal), declared.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void FilterFields_ReadTheTablesColumns()
    {
        var checkedColumns = new List<string>();
        foreach (var column in FlowColumnTable.All.Where(c => c.Filter is not null))
        {
            var filter = column.Filter!;
            var side = column.Side == FlowSide.Src ? "src." : column.Side == FlowSide.Dst ? "dst." : "";
            var field = filter.Field == FlowColumnFilter.OtherLabels ? "team" : filter.Field;
            AssertReads(side + field, filter.Kind, column.Name);
            if (filter.Bare)
            {
                AssertReads(field, filter.Kind, column.Name);
            }

            checkedColumns.Add(column.Name);
        }

        // Every label with a column of its own is filtered on that column, not looked up in the label map.
        foreach (var key in LabelKeys.Standard)
        {
            AssertReads("src." + key, FilterKind.Text, "src_" + key);
        }

        Assert.Contains("findings", checkedColumns);
        Assert.Contains("dst_labels", checkedColumns);
        Assert.Contains("verdict", checkedColumns);
        Assert.Contains("policies", checkedColumns);
    }

    private static void AssertReads(string field, FilterKind kind, string column)
    {
        var value = kind switch
        {
            FilterKind.Kind => "pod",
            FilterKind.Address => "10.0.0.1",
            FilterKind.Port => "80",
            FilterKind.Protocol => "tcp",
            FilterKind.Finding => FindingKinds.All[0].Name,
            FilterKind.Verdict => "blocked",
            _ => "x",
        };
        Assert.True(FilterFields.TryResolve(field, out var resolved, out var error), error);
        Assert.Equal(kind, FilterFields.TypeOf(resolved));
        Assert.True(FilterClause.TryCreate($"{field} = {value}", out var clause, out error), error);
        Assert.Equal(new[] { column }, clause.Columns);
    }

    private static async Task<List<string>> ColumnsAsync(EmbeddedFlowStore store, string table)
    {
        var text = await store.QueryAsync(
            $"SELECT name, type, default_expression, compression_codec FROM system.columns WHERE database = '{store.Database}' AND table = '{table}' ORDER BY position FORMAT TSVRaw",
            "TSVRaw", static s => Encoding.UTF8.GetString(s), [], CancellationToken.None);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Replace('\t', '|'))];
    }

    private static UInt128 Address(string text)
    {
        var address = IPAddress.Parse(text);
        return BinaryPrimitives.ReadUInt128BigEndian(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? address.MapToIPv6().GetAddressBytes() : address.GetAddressBytes());
    }

    [GeneratedRegex(@"^ALTER TABLE `db`\.flows_raw ADD COLUMN IF NOT EXISTS (.+) AFTER \w+$")]
    private static partial Regex AddColumn();

    /// <summary>Reads one RowBinary value by its ClickHouse type and prints it as ClickHouse's TSV does.</summary>
    private static class RowBinaryText
    {
        public static string Read(ref ReadOnlySpan<byte> row, string type)
        {
            switch (type)
            {
                case "DateTime64(3, 'UTC')":
                    return DateTimeOffset.FromUnixTimeMilliseconds(Take(ref row, 8, BinaryPrimitives.ReadInt64LittleEndian))
                        .ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);
                case "UInt8":
                    return Take(ref row, 1, s => s[0]).ToString(CultureInfo.InvariantCulture);
                case "UInt16":
                    return Take(ref row, 2, BinaryPrimitives.ReadUInt16LittleEndian).ToString(CultureInfo.InvariantCulture);
                case "UInt32":
                    return Take(ref row, 4, BinaryPrimitives.ReadUInt32LittleEndian).ToString(CultureInfo.InvariantCulture);
                case "UInt64":
                    return Take(ref row, 8, BinaryPrimitives.ReadUInt64LittleEndian).ToString(CultureInfo.InvariantCulture);
                case "Int32":
                    return Take(ref row, 4, BinaryPrimitives.ReadInt32LittleEndian).ToString(CultureInfo.InvariantCulture);
                case "Int64":
                    return Take(ref row, 8, BinaryPrimitives.ReadInt64LittleEndian).ToString(CultureInfo.InvariantCulture);
                case "IPv6":
                    return Take(ref row, 16, s => new IPAddress(s).ToString());
                case "LowCardinality(String)":
                    return String(ref row);
                case FlowColumnTable.VerdictType:
                    return Take(ref row, 1, s => s[0]) switch { 0 => "allowed", 1 => "blocked", var v => $"?{v}" };
                case FlowColumnTable.PoliciesType:
                    var names = VarUInt(ref row);
                    var list = new List<string>();
                    for (var i = 0UL; i < names; i++)
                    {
                        list.Add($"'{String(ref row)}'");
                    }

                    return "[" + string.Join(',', list) + "]";
                case "Map(LowCardinality(String), String)":
                    var count = VarUInt(ref row);
                    var entries = new List<string>();
                    for (var i = 0UL; i < count; i++)
                    {
                        entries.Add($"'{String(ref row)}':'{String(ref row)}'");
                    }

                    return "{" + string.Join(',', entries) + "}";
                default:
                    throw new NotSupportedException($"No RowBinary reader for {type}: add one for the new column's type.");
            }
        }

        private delegate T SpanReader<out T>(ReadOnlySpan<byte> span);

        private static T Take<T>(ref ReadOnlySpan<byte> row, int length, SpanReader<T> read)
        {
            var value = read(row[..length]);
            row = row[length..];
            return value;
        }

        private static string String(ref ReadOnlySpan<byte> row)
        {
            var length = (int)VarUInt(ref row);
            return Take(ref row, length, Encoding.UTF8.GetString);
        }

        private static ulong VarUInt(ref ReadOnlySpan<byte> row)
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = row[0];
                row = row[1..];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }
        }
    }
}
