namespace Visibility.Flows.Store;

/// <summary>The tables that keep a flow column; a column in none of the raw flags is derived where it is read.</summary>
[Flags]
public enum FlowTables
{
    None = 0,

    /// <summary><c>flows_raw</c>.</summary>
    Raw = 1,

    /// <summary>The workload-level rollups (<c>flows_1m</c>, <c>flows_5m</c>, <c>flows_1h</c>): a dimension.</summary>
    Rollups = 2,

    /// <summary>The app × env rollups (<c>flows_app_5m</c>, <c>flows_app_1h</c>, <c>flows_app_6h</c>): a dimension.</summary>
    AppRollups = 4,

    /// <summary><c>edges</c>: part of the workload-level edge key.</summary>
    EdgeKey = 8,

    /// <summary><c>edges</c>: a label kept beside the key (its latest value).</summary>
    EdgeLabel = 16,

    /// <summary>
    /// The app × env service rollups (<c>flows_app_svc_1h</c>, <c>flows_app_svc_6h</c>; migration 18): a dimension.
    /// </summary>
    ServiceRollups = 32,
}

/// <summary>Which end of a flow a column describes; the filter language's <c>src.</c>/<c>dst.</c> select it.</summary>
public enum FlowSide
{
    /// <summary>The flow as a whole (protocol, counters, findings, Kafka position).</summary>
    Flow,
    Src,
    Dst,
}

/// <summary>What a filter field's values are, which decides the operators it takes and how its values are checked.</summary>
public enum FilterKind
{
    /// <summary>Workload names and label values: any string, compared exactly.</summary>
    Text,

    /// <summary><c>host</c>, <c>vm</c>, <c>pod</c>, <c>service</c>, <c>network</c>, <c>unknown</c>, <c>internet</c>.</summary>
    Kind,

    /// <summary>An IPv4 or IPv6 address or CIDR.</summary>
    Address,

    /// <summary>0-65535; the only kind with <c>&lt;</c>, <c>&lt;=</c>, <c>&gt;</c>, <c>&gt;=</c>.</summary>
    Port,

    /// <summary>tcp, udp, icmp, icmpv6, sctp or an IANA number 0-255.</summary>
    Protocol,

    /// <summary>A finding name; the comparison tests its bit in the <c>findings</c> mask.</summary>
    Finding,

    /// <summary><c>allowed</c> or <c>blocked</c>: what the network did with the flow.</summary>
    Verdict,

    /// <summary>A policy name; the comparison tests whether the flow's <c>policies</c> hold it.</summary>
    Policy,
}

/// <summary>
/// The filter field that reads a column: <c>src.&lt;Field&gt;</c>/<c>dst.&lt;Field&gt;</c> on an end's column,
/// <c>&lt;Field&gt;</c> on a flow column. <see cref="Bare"/> marks the end column the field reads when written without
/// a side (<c>port</c> is the destination's). <see cref="OtherLabels"/> is the field of the label maps: any label key
/// that has no column of its own.
/// </summary>
public sealed record FlowColumnFilter(string Field, FilterKind Kind, bool Bare = false)
{
    public const string OtherLabels = "*";
}

/// <summary>
/// One column of the flow schema, declared once in <see cref="FlowColumnTable"/>: its ClickHouse type, codec and
/// default, the migration that added it, which tables keep it, and the filter field that reads it. Derived columns
/// (<see cref="Expression"/>) are stored only by the tables that keep them and computed from others elsewhere.
/// </summary>
public sealed record FlowColumn(string Name, string Type, FlowSide Side, FlowTables Tables)
{
    /// <summary>The migration that added the column: 1 is the raw table's creation, later ones <c>ALTER TABLE … ADD COLUMN</c>.</summary>
    public int Migration { get; init; } = 1;

    public string? Codec { get; init; }

    public string? Default { get; init; }

    /// <summary>Set by the server (its default), never written by the encoders.</summary>
    public bool SetByServer { get; init; }

    /// <summary>One of the label columns a flow end's <c>Endpoint</c> gives (workload, kind, labels).</summary>
    public bool FromEndpoint { get; init; }

    /// <summary>How a derived column is computed from the raw columns on tables that do not keep it.</summary>
    public string? Expression { get; init; }

    /// <summary>The aggregate that merges a derived column's values in the rollups that keep it.</summary>
    public string? Aggregate { get; init; }

    public FlowColumnFilter? Filter { get; init; }

    /// <summary>Whether the encoders write the column (a raw column the server does not fill).</summary>
    public bool IsWritten => Tables.HasFlag(FlowTables.Raw) && !SetByServer;

    /// <summary>LowCardinality strings, written as dictionaries by the Native encoder (arrays of them are not).</summary>
    public bool IsDictionary => Type.StartsWith("LowCardinality(", StringComparison.Ordinal);

    /// <summary>The column as <c>flows_raw</c>'s <c>CREATE TABLE</c> or <c>ADD COLUMN</c> declares it.</summary>
    public string Ddl => $"{Name} {Type}" + (Default is null ? "" : $" DEFAULT {Default}") + (Codec is null ? "" : $" CODEC({Codec})");

    /// <summary>The column as a rollup declares it: no default (rows come from views), merged by its aggregate if any.</summary>
    public string DimensionDdl => $"{Name} {(Aggregate is null ? Type : $"SimpleAggregateFunction({Aggregate}, {Type})")}";
}
