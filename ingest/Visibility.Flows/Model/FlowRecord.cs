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

/// <summary>What the network did with a flow, as its source observed it.</summary>
public enum FlowVerdict : byte
{
    /// <summary>Let through (the default: conntrack and ulogd2 NFCT only see connections that happened).</summary>
    Allowed = 0,

    /// <summary>Refused: dropped, denied or rejected by a policy, a firewall rule or the datapath.</summary>
    Blocked = 1,
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

    /// <summary>
    /// What the network did with the flow (Hubble <c>verdict</c>, AWS <c>action</c>, the nftables rule that logged
    /// it). The default, <see cref="FlowVerdict.Allowed"/>, is right for sources that only see connections.
    /// </summary>
    public FlowVerdict Verdict;

    /// <summary>
    /// Allowed only because the policy that would have refused it is in audit mode (Hubble <c>AUDIT</c>): what
    /// enforcing that policy would block.
    /// </summary>
    public bool Audited;

    /// <summary>
    /// The record is a refused attempt, not a connection that happened: it counts as an attempt, never in
    /// <c>flows</c>. All records of one attempt (its retransmissions) share <see cref="ConnectionId"/>; the first
    /// one carries <see cref="FlowEvent.New"/>, retransmissions <see cref="FlowEvent.Update"/>, so the attempt
    /// counts once.
    /// </summary>
    public bool IsAttempt;

    /// <summary>Why the source refused it, when it says (Hubble <c>drop_reason_desc</c>); null otherwise.</summary>
    public string? VerdictReason;

    /// <summary>
    /// The policies that decided the verdict, comma-separated, when the source names them: Hubble's
    /// <c>*_denied_by</c> (blocked, audited) or <c>*_allowed_by</c> (allowed) as <c>namespace/name</c>, the
    /// nftables log prefix of an NFLOG record. Decoders hand out shared (interned) strings, so this costs no
    /// allocation per record.
    /// </summary>
    public string? Policies;

    /// <summary>What is wrong with this flow (set by enrichment from the findings rules).</summary>
    public Findings.FindingKind Findings;

    /// <summary>A record with nothing decoded yet and no Kafka position: where every decoder starts.</summary>
    public static readonly FlowRecord Blank = new() { SourcePartition = -1, SourceOffset = -1 };

    /// <summary>Where the record came from: Kafka topic, partition and offset (null, -1, -1 when not from Kafka).</summary>
    public string? SourceTopic;
    public int SourcePartition;
    public long SourceOffset;
}
