using Visibility.Flows.Labels;

namespace Visibility.Flows.Model;

/// <summary>Conntrack event kinds, as ulogd2 reports them in <c>ct.event</c> (a bit mask).</summary>
public enum FlowEvent : byte
{
    None = 0,
    New = 1,
    Update = 2,
    Destroy = 4,
}

/// <summary>
/// One flow record, normalised: the original direction (the connection's initiator is the source), counters
/// per direction, and the enrichment of both ends. A connection may be described by several records (NEW,
/// then DESTROY with final counters); they share <see cref="ConnectionId"/>, and readers count the connection
/// once. Kept as a struct in reusable batch buffers.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1051", Justification = "Hot-path record kept in batch arrays and filled in place by decoders and enrichment.")]
public struct FlowRecord
{
    /// <summary>Start of the connection, Unix milliseconds (UTC). Every record of a connection carries it.</summary>
    public long StartMs;

    /// <summary>End of the connection, Unix milliseconds; 0 while it is open.</summary>
    public long EndMs;

    public ulong ConnectionId;
    public FlowEvent Event;
    public byte Protocol;
    public UInt128 SrcIp;
    public ushort SrcPort;
    public UInt128 DstIp;
    public ushort DstPort;

    /// <summary>
    /// The tuple after NAT, from the reply direction: the source as the destination saw it (SNAT) and the
    /// destination that actually answered (DNAT). Equal to the original tuple when there was no NAT; decoders
    /// that do not know it leave it zero and enrichment fills it in.
    /// </summary>
    public UInt128 NatSrcIp;
    public ushort NatSrcPort;
    public UInt128 NatDstIp;
    public ushort NatDstPort;

    /// <summary>Bytes and packets from source to destination (the original direction).</summary>
    public ulong BytesOut;
    public ulong PacketsOut;

    /// <summary>Bytes and packets from destination back to source (the reply direction).</summary>
    public ulong BytesIn;
    public ulong PacketsIn;

    /// <summary>
    /// True when the counters are what happened since the connection's previous record (Hubble events, AWS flow
    /// log windows), so a connection's records add up; false (the default) when they are running totals
    /// (conntrack), so the latest record of a connection is its total and interim records never count twice.
    /// </summary>
    public bool CountersAreDeltas;

    /// <summary>
    /// Connections this record stands for: 0 or 1 for a record about one connection; more for sources that send
    /// flows already aggregated (the canonical JSON format). Records of one connection repeat the same value.
    /// </summary>
    public uint Connections;

    public Endpoint? Src;
    public Endpoint? Dst;

    /// <summary>What is wrong with this flow (set by enrichment from the findings rules).</summary>
    public Findings.FindingKind Findings;

    /// <summary>A record with nothing decoded yet and no Kafka position: where every decoder starts.</summary>
    public static readonly FlowRecord Blank = new() { SourcePartition = -1, SourceOffset = -1 };

    /// <summary>Where the record came from: Kafka topic, partition and offset (null, -1, -1 when not from Kafka).</summary>
    public string? SourceTopic;
    public int SourcePartition;
    public long SourceOffset;
}
