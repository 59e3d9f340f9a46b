using Visibility.Flows.Model;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// ulogd2's JSON output for the NFLOG stack (<c>NFLOG → BASE → IFINDEX → IP2STR → JSON</c>): one object per packet
/// that an nftables or iptables rule logged with <c>log group N</c> (<c>-j NFLOG --nflog-group N</c>). Read:
/// <c>src_ip</c>/<c>dest_ip</c>, <c>ip.protocol</c> (<c>ip6.nexthdr</c>), <c>src_port</c>/<c>dest_port</c>,
/// <c>icmp.type</c>/<c>icmp.code</c> (and ICMPv6's), <c>raw.pktlen</c>, <c>oob.time.sec</c>/<c>usec</c> (else
/// <c>timestamp</c>, read as UTC) and <c>oob.prefix</c>, the log prefix of the rule that logged the packet.
/// <para>
/// The prefix names the rule: it becomes <see cref="FlowRecord.Policies"/> (trimmed of spaces and a final
/// <c>:</c>), and <see cref="NflogPrefixes"/> says from its words whether the rule refused the packet (the
/// default) or accepted it. A refused packet is a refused <em>attempt</em>: <see cref="FlowVerdict.Blocked"/>,
/// <see cref="FlowRecord.IsAttempt"/>, never a connection. Retransmissions of one attempt (the same 5-tuple again
/// within <see cref="AttemptTracker.Window"/> of its previous packet) fold into it: they share its connection id
/// and start, and only the first packet opens it (<see cref="FlowEvent.New"/>; the others are updates), so it
/// counts once. A packet an accepting rule logged is the start of an allowed connection, folded the same way.
/// Each packet counts its length as bytes out and one packet out (deltas).
/// </para>
/// </summary>
public sealed class Ulogd2NflogDecoder : IFlowDecoder
{
    public const string FormatName = "ulogd2-nflog";

    private readonly NflogPrefixes prefixes;
    private readonly AttemptTracker attempts;

    /// <param name="prefixes">How log prefixes map to verdicts; null for the default words.</param>
    /// <param name="attempts">Where retransmissions are folded; null for a tracker of its own with the default window.</param>
    public Ulogd2NflogDecoder(NflogPrefixes? prefixes = null, AttemptTracker? attempts = null)
    {
        this.prefixes = prefixes ?? new NflogPrefixes();
        this.attempts = attempts ?? new AttemptTracker();
    }

    public string Format => FormatName;

    public DecodeStatus Decode(ReadOnlySpan<byte> message, ref FlowRecord record, out string? reason)
    {
        var builder = new NflogRecordBuilder(ref record);
        var scan = FlatJsonScanner.Scan(message, ref builder, out reason);
        if (scan == FlatJsonScan.Unsupported)
        {
            builder = new NflogRecordBuilder(ref record);
            scan = FlatJsonReader.Read(message, ref builder, out reason);
        }

        if (scan == FlatJsonScan.Done)
        {
            return builder.Finish(prefixes, attempts, out reason);
        }

        reason ??= FlatJsonScanner.Malformed;
        return DecodeStatus.Invalid;
    }
}
