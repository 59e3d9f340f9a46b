using System.Collections.Frozen;
using static Visibility.Flows.Store.FlowSide;
using static Visibility.Flows.Store.FlowTables;

namespace Visibility.Flows.Store;

/// <summary>
/// The flow schema's columns, declared once. Everything that names flow columns is derived from this table: the
/// raw table's DDL and its <c>ADD COLUMN</c> migrations, the rollup and edges tables' dimensions, the insert column
/// lists, the Native encoder's column names and types, the filter language's fields and the planner's column sets.
/// The RowBinary and Native per-record writers stay hand-unrolled for speed; <c>FlowSchemaAgreementTests</c>
/// checks them, the stored tables and the filter fields against this table column by column.
/// <para>
/// Order is <c>flows_raw</c>'s physical order (what <c>DESCRIBE TABLE</c> shows). The insert order is by migration,
/// then by this order; a column a migration adds is placed after the column before it here that already exists
/// then. Rollup and edge dimensions list the ends' label columns first, then the flow's, each in this order.
/// Derived columns sit beside what they are derived from.
/// </para>
/// </summary>
public static class FlowColumnTable
{
    private const string Time = "DateTime64(3, 'UTC')";
    private const string Label = "LowCardinality(String)";
    private const string LabelMap = "Map(LowCardinality(String), String)";
    private const string TimeCodec = "DoubleDelta, ZSTD(1)";

    /// <summary><c>verdict</c>'s type: <c>FlowVerdict</c>'s values, so the encoders write the enum's byte.</summary>
    public const string VerdictType = "Enum8('allowed' = 0, 'blocked' = 1)";

    /// <summary><c>policies</c>' type: the names split from a record's comma-separated list.</summary>
    public const string PoliciesType = "Array(LowCardinality(String))";

    /// <summary>The migration that added the verdict columns (raw flows and rollups).</summary>
    public const int VerdictsMigration = 16;

    /// <summary>The migration that added the app × env service rollups (<see cref="FlowTables.ServiceRollups"/>).</summary>
    public const int ServiceRollupsMigration = 18;

    public static IReadOnlyList<FlowColumn> All { get; } =
    [
        new("ts", Time, Flow, Raw) { Codec = TimeCodec },
        new("end_ts", Time, Flow, Raw) { Codec = TimeCodec },
        new("conn_id", "UInt64", Flow, Raw),
        new("connections", "UInt32", Flow, Raw) { Migration = 4, Default = "1" },
        new("event", "UInt8", Flow, Raw),
        new("proto", "UInt8", Flow, Raw | Rollups | ServiceRollups | EdgeKey) { Filter = new("proto", FilterKind.Protocol) },
        new("src_ip", "IPv6", Src, Raw) { Filter = new("ip", FilterKind.Address) },
        new("src_port", "UInt16", Src, Raw) { Filter = new("port", FilterKind.Port) },
        new("dst_ip", "IPv6", Dst, Raw) { Filter = new("ip", FilterKind.Address) },
        new("dst_port", "UInt16", Dst, Raw | Rollups | ServiceRollups | EdgeKey) { Filter = new("port", FilterKind.Port, Bare: true) },
        new("nat_src_ip", "IPv6", Flow, Raw) { Migration = 3 },
        new("nat_src_port", "UInt16", Flow, Raw) { Migration = 3 },
        new("nat_dst_ip", "IPv6", Flow, Raw) { Migration = 3 },
        new("nat_dst_port", "UInt16", Flow, Raw) { Migration = 3 },
        new("bytes_out", "UInt64", Flow, Raw),
        new("packets_out", "UInt64", Flow, Raw),
        new("bytes_in", "UInt64", Flow, Raw),
        new("packets_in", "UInt64", Flow, Raw),
        new("counters_delta", "UInt8", Flow, Raw) { Migration = 5, Default = "0" },
        .. EndColumns(Src),
        .. EndColumns(Dst),
        new("kafka_topic", Label, Flow, Raw) { Migration = 6 },
        new("findings", "UInt8", Flow, Raw | Rollups | AppRollups | ServiceRollups) { Migration = 7, Default = "0", Filter = new("finding", FilterKind.Finding) },
        new("verdict", VerdictType, Flow, Raw | Rollups | AppRollups | ServiceRollups) { Migration = VerdictsMigration, Default = "'allowed'", Filter = new("verdict", FilterKind.Verdict) },
        new("attempt", "UInt8", Flow, Raw) { Migration = VerdictsMigration, Default = "0" },
        new("audited", "UInt8", Flow, Raw) { Migration = VerdictsMigration, Default = "0" },
        new("verdict_reason", Label, Flow, Raw) { Migration = VerdictsMigration, Default = "''" },
        new("policies", PoliciesType, Flow, Raw | Rollups | AppRollups | ServiceRollups) { Migration = VerdictsMigration, Default = "[]", Filter = new("policy", FilterKind.Policy) },
        new("services", "Array(UInt32)", Flow, AppRollups) { Expression = "[toUInt32(proto) * 65536 + dst_port]", Aggregate = "groupUniqArrayArray" },
        new("kafka_partition", "Int32", Flow, Raw),
        new("kafka_offset", "Int64", Flow, Raw),
        new("ingested_at", Time, Flow, Raw) { Default = "now64(3)", SetByServer = true },
    ];

    /// <summary>Every column by name.</summary>
    public static FrozenDictionary<string, FlowColumn> ByName { get; } = All.ToFrozenDictionary(c => c.Name, StringComparer.Ordinal);

    /// <summary>The columns the encoders write, in the order of the insert: by migration, then table order.</summary>
    public static IReadOnlyList<FlowColumn> Written { get; } = [.. All.Where(c => c.IsWritten).OrderBy(c => c.Migration)];

    /// <summary>The columns of <c>flows_raw</c> in its physical order.</summary>
    public static IReadOnlyList<FlowColumn> RawColumns { get; } = [.. All.Where(c => c.Tables.HasFlag(Raw))];

    /// <summary>The workload-level rollups' dimensions.</summary>
    public static IReadOnlyList<FlowColumn> RollupDimensions { get; } = Dimensions(Rollups);

    /// <summary>The app × env rollups' dimensions.</summary>
    public static IReadOnlyList<FlowColumn> AppDimensions { get; } = Dimensions(AppRollups);

    /// <summary>The app × env service rollups' dimensions: the app × env ones with the service and without the service sets.</summary>
    public static IReadOnlyList<FlowColumn> ServiceDimensions { get; } = Dimensions(ServiceRollups);

    /// <summary>
    /// The dimensions of <paramref name="table"/> (<see cref="FlowTables.Rollups"/>, <see cref="FlowTables.AppRollups"/>
    /// or <see cref="FlowTables.ServiceRollups"/>)
    /// as they were after <paramref name="migration"/>: what that migration's DDL and views name.
    /// </summary>
    public static IReadOnlyList<FlowColumn> DimensionsAt(FlowTables table, int migration) =>
        [.. Dimensions(table).Where(c => c.Migration <= migration)];

    /// <summary>The key of <c>edges</c>.</summary>
    public static IReadOnlyList<FlowColumn> EdgeKeyColumns { get; } = Dimensions(EdgeKey);

    /// <summary>The labels <c>edges</c> keeps beside its key.</summary>
    public static IReadOnlyList<FlowColumn> EdgeLabelColumns { get; } = Dimensions(EdgeLabel);

    /// <summary>The label columns of one end of a flow that the encoders write, in insert order.</summary>
    public static IReadOnlyList<FlowColumn> EndpointColumns(FlowSide side) => [.. Written.Where(c => c.FromEndpoint && c.Side == side)];

    /// <summary>Names, comma-separated, as a column list in SQL.</summary>
    public static string Names(IEnumerable<FlowColumn> columns) => string.Join(", ", columns.Select(c => c.Name));

    /// <summary>Column declarations (<paramref name="ddl"/> of each), one a line, indented for a <c>CREATE TABLE</c>'s column list.</summary>
    public static string Declarations(IEnumerable<FlowColumn> columns, Func<FlowColumn, string> ddl) =>
        string.Join(",\n    ", columns.Select(ddl));

    /// <summary>The columns a migration adds to <c>flows_raw</c>, each placed after the column before it that exists by then.</summary>
    public static IEnumerable<(FlowColumn Column, string After)> AddedBy(int migration)
    {
        for (var i = 0; i < RawColumns.Count; i++)
        {
            if (RawColumns[i].Migration == migration)
            {
                yield return (RawColumns[i], RawColumns.Take(i).Last(c => c.Migration <= migration).Name);
            }
        }
    }

    /// <summary>A flow end's label columns; its peer class is derived from workload and kind where not kept.</summary>
    private static IEnumerable<FlowColumn> EndColumns(FlowSide side)
    {
        var p = side == Src ? "src_" : "dst_";
        return
        [
            new(p + "workload", Label, side, Raw | Rollups | EdgeKey) { FromEndpoint = true, Filter = new("workload", FilterKind.Text) },
            new(p + "kind", Label, side, Raw | Rollups | EdgeKey) { FromEndpoint = true, Filter = new("kind", FilterKind.Kind) },
            new(p + "peer", Label, side, AppRollups | ServiceRollups) { FromEndpoint = true, Expression = $"if({p}workload = '', {p}kind, '')" },
            new(p + "role", Label, side, Raw | Rollups | EdgeLabel) { FromEndpoint = true, Filter = new("role", FilterKind.Text) },
            new(p + "app", Label, side, Raw | Rollups | AppRollups | ServiceRollups | EdgeLabel) { FromEndpoint = true, Filter = new("app", FilterKind.Text) },
            new(p + "env", Label, side, Raw | Rollups | AppRollups | ServiceRollups | EdgeLabel) { FromEndpoint = true, Filter = new("env", FilterKind.Text) },
            new(p + "loc", Label, side, Raw | Rollups | EdgeLabel) { FromEndpoint = true, Filter = new("loc", FilterKind.Text) },
            new(p + "labels", LabelMap, side, Raw) { FromEndpoint = true, Filter = new(FlowColumnFilter.OtherLabels, FilterKind.Text) },
        ];
    }

    private static List<FlowColumn> Dimensions(FlowTables table) =>
        [.. All.Where(c => c.Tables.HasFlag(table)).OrderBy(c => c.FromEndpoint ? 0 : 1)];
}
