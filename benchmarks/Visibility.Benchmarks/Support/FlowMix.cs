using System.Text;
using Visibility.Flows.Labels;
using Visibility.Ingest.Demo;

namespace Visibility.Benchmarks.Support;

/// <summary>One message of the mix: its bytes, the connection it belongs to (for partitioning), and whether it is malformed.</summary>
public readonly record struct MixRecord(byte[] Value, long Connection, bool Malformed);

/// <summary>
/// A realistic stream of ulogd2 NFCT JSON records over a <see cref="BenchEstate"/>: each connection is a NEW and
/// a DESTROY record; most connections run between workloads, some come from unowned internal or internet peers
/// or go out to the internet; about 12 % are IPv6, 20 % UDP. A fraction of the records (1 % by default) are
/// malformed in ways that both the project's decoder and ClickHouse's JSONEachRow reject (truncated, not JSON, a bad
/// IPv4 or IPv6 address, a text port, an object for an address; the end-to-end harness checks both counts), evenly
/// spread. Deterministic: enumerating twice yields the same bytes.
/// <para>
/// By default the connections span 15 minutes and workload-to-workload connections pair any two workloads at random
/// (every pair can appear). With <c>span</c> the same records span that long instead (the rate is records / span);
/// with <c>serviceEdges</c> &gt; 0 workload-to-workload connections are drawn from that many fixed service edges (a
/// source, a destination of the same address family, mostly in the same environment, one protocol and port each),
/// with a skew (edge <c>floor(E·u²)</c>: a few edges carry most connections), as an estate's services talk to a
/// handful of peers each; unknown and internet peers (random addresses) then reach those edges' services, and
/// workloads reach the internet on HTTPS or DNS. The storage harness uses both.
/// </para>
/// </summary>
public sealed class FlowMix
{
    private static readonly ushort[] TcpPorts = [443, 443, 443, 8443, 8443, 5432, 6379, 9092, 22, 80, 3306];
    private static readonly ushort[] UdpPorts = [53, 53, 53, 123, 514, 161];
    private readonly BenchEstate estate;
    private readonly int seed;
    private readonly DateTimeOffset start;
    private readonly TimeSpan span;
    private readonly bool spanGiven;
    private readonly ServiceEdge[] edges;
    private readonly ServiceEdge[] v4Edges;
    private readonly ServiceEdge[] v6Edges;

    public FlowMix(BenchEstate estate, long records, double malformedFraction = 0.01, int seed = 42, DateTimeOffset? start = null,
        TimeSpan? span = null, int serviceEdges = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(records, 2);
        ArgumentOutOfRangeException.ThrowIfNegative(malformedFraction);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(malformedFraction, 0.5);
        this.estate = estate;
        this.seed = seed;
        Records = records;
        Bad = (long)Math.Round(records * malformedFraction);
        if ((records - Bad) % 2 != 0)
        {
            Bad++;
        }

        Good = records - Bad;
        Connections = Good / 2;
        // Recent enough for any retention; the whole mix spans the 15 minutes before the last 5.
        this.start = start ?? DateTimeOffset.UtcNow.AddMinutes(-20);
        spanGiven = span is not null;
        this.span = span ?? TimeSpan.FromMinutes(15);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(this.span, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(serviceEdges);
        edges = serviceEdges == 0 ? [] : CreateEdges(estate, serviceEdges, seed);
        v4Edges = [.. edges.Where(e => !estate.Workloads[e.Src].Addresses[0].Contains(':', StringComparison.Ordinal))];
        v6Edges = [.. edges.Where(e => estate.Workloads[e.Src].Addresses[0].Contains(':', StringComparison.Ordinal))];
    }

    /// <summary>A fixed service edge: two workloads (by index into the estate's workloads), a protocol and a port.</summary>
    private readonly record struct ServiceEdge(int Src, int Dst, bool Udp, ushort Port);

    public long Records { get; }

    /// <summary>Records that decode (NEW and DESTROY of <see cref="Connections"/> connections).</summary>
    public long Good { get; }

    /// <summary>Malformed records.</summary>
    public long Bad { get; }

    public long Connections { get; }

    /// <summary>What the good records contain, per stored row; complete once an enumeration has finished.</summary>
    public MixTally Tally { get; private set; } = new();

    public IEnumerable<MixRecord> Enumerate()
    {
        var tally = new MixTally();
        var random = new Random(seed);
        // Without a span: 15 minutes, or 1 ms per connection when there are more than 900,000 connections.
        var spacingMs = spanGiven ? span.TotalMilliseconds / Math.Max(1, Connections) : Math.Max(1.0, span.TotalMilliseconds / Math.Max(1, Connections));
        Ulogd2Writer.Connection? current = null;
        long good = 0;
        long bad = 0;
        for (long i = 0; i < Records; i++)
        {
            var connection = good / 2;
            if (Bad > 0 && (i + 1) * Bad / Records > i * Bad / Records)
            {
                yield return new MixRecord(Malformed(bad++, random), connection, true);
                continue;
            }

            if (good % 2 == 0)
            {
                current = NextConnection(connection, random, spacingMs, tally);
                yield return new MixRecord(Encoding.UTF8.GetBytes(Ulogd2Writer.New(current)), connection, false);
            }
            else
            {
                yield return new MixRecord(Encoding.UTF8.GetBytes(Ulogd2Writer.Destroy(current!)), connection, false);
            }

            good++;
        }

        Tally = tally;
    }

    private Ulogd2Writer.Connection NextConnection(long index, Random random, double spacingMs, MixTally tally)
    {
        string src;
        string dst;
        var r = random.NextDouble();
        var srcClass = PeerClass.Workload;
        var dstClass = PeerClass.Workload;
        var v6 = false;
        ServiceEdge? edge = null;
        if (edges.Length > 0 && r < 0.78)
        {
            // The same share of workload-to-workload connections as without service edges, from the fixed edges.
            var e = Pick(edges, random);
            edge = e;
            (src, dst) = (WorkloadAddress(e.Src, random), WorkloadAddress(e.Dst, random));
            v6 = src.Contains(':', StringComparison.Ordinal);
        }
        else if (r < 0.70)
        {
            src = V4Workload(random);
            dst = random.NextDouble() < 0.3 ? InSubnet(random) : V4Workload(random);
        }
        else if (r < 0.78)
        {
            (src, dst, v6) = (V6Workload(random), V6Workload(random), true);
        }
        else if (r < 0.85)
        {
            (src, dst, srcClass) = (BenchEstate.Format((10u << 24) | (250u << 16) | (uint)random.Next(1, 65535)), V4Workload(random), PeerClass.Unknown);
        }
        else if (r < 0.87)
        {
            (src, dst, srcClass, v6) = ($"fd99::{random.Next(1, 65535):x}", V6Workload(random), PeerClass.Unknown, true);
        }
        else if (r < 0.93)
        {
            (src, dst, srcClass) = (InternetV4(random), V4Workload(random), PeerClass.Internet);
        }
        else if (r < 0.95)
        {
            (src, dst, srcClass, v6) = ($"2a02:{random.Next(1, 65535):x}:{random.Next(65536):x}::{random.Next(1, 65535):x}", V6Workload(random), PeerClass.Internet, true);
        }
        else
        {
            (src, dst, dstClass) = (V4Workload(random), InternetV4(random), PeerClass.Internet);
        }

        var udp = random.NextDouble() < 0.2;
        var port = udp ? UdpPorts[random.Next(UdpPorts.Length)] : TcpPorts[random.Next(TcpPorts.Length)];
        if (edge is { } fixedEdge)
        {
            (udp, port) = (fixedEdge.Udp, fixedEdge.Port);
        }
        else if (edges.Length > 0 && dstClass == PeerClass.Workload)
        {
            // An unknown or internet peer reaches one of the estate's services (an edge's destination and port).
            var e = Pick(v6 ? v6Edges : v4Edges, random);
            (dst, udp, port) = (WorkloadAddress(e.Dst, random), e.Udp, e.Port);
        }
        else if (edges.Length > 0)
        {
            // A workload that has service edges reaches the internet: HTTPS, or DNS over UDP.
            src = WorkloadAddress(Pick(v4Edges, random).Src, random);
            port = udp ? (ushort)53 : (ushort)443;
        }

        var begin = start.AddMilliseconds(index * spacingMs);
        var end = begin.AddMilliseconds(random.Next(50, 120_000));
        var packetsOut = (ulong)random.Next(1, 2_000);
        var packetsIn = (ulong)random.Next(1, 3_000);
        tally.Add(srcClass, dstClass, v6, udp);
        return new Ulogd2Writer.Connection(
            (uint)(index + 1), src, dst, udp ? (byte)17 : (byte)6, (ushort)random.Next(1024, 65535), port, begin, end,
            packetsOut * (ulong)random.Next(60, 1500), packetsOut, packetsIn * (ulong)random.Next(60, 1500), packetsIn);
    }

    /// <summary>An edge, skewed: edge <c>floor(E·u²)</c>, so a few edges carry most connections.</summary>
    private static ServiceEdge Pick(ServiceEdge[] from, Random random) => from[(int)Math.Floor(from.Length * Math.Pow(random.NextDouble(), 2))];

    /// <summary>A workload's address: its own, or a random host of its /24.</summary>
    private string WorkloadAddress(int workload, Random random)
    {
        var address = estate.Workloads[workload].Addresses[0];
        return address.EndsWith("/24", StringComparison.Ordinal)
            ? string.Concat(address.AsSpan(0, address.LastIndexOf('.') + 1), random.Next(1, 255).ToString(System.Globalization.CultureInfo.InvariantCulture))
            : address;
    }

    /// <summary>
    /// <paramref name="count"/> service edges: a destination, then a source of the same address family, in the same
    /// environment 94 % of the time; TCP to the port of the destination's role, or UDP (20 %) to a UDP port.
    /// </summary>
    private static ServiceEdge[] CreateEdges(BenchEstate estate, int count, int seed)
    {
        var random = new Random(seed + 1);
        var specs = estate.Workloads;
        static bool V6(WorkloadSpec w) => w.Addresses[0].Contains(':', StringComparison.Ordinal);
        var rolePorts = new Dictionary<string, ushort>(StringComparer.Ordinal)
        {
            ["frontend"] = 443, ["backend"] = 8443, ["database"] = 5432, ["cache"] = 6379, ["queue"] = 9092, ["worker"] = 8080,
        };
        var result = new ServiceEdge[count];
        for (var i = 0; i < count; i++)
        {
            var dst = random.Next(specs.Count);
            var sameEnv = random.NextDouble() < 0.94;
            var src = random.Next(specs.Count);
            for (var tries = 0; tries < 200 && (src == dst || V6(specs[src]) != V6(specs[dst]) ||
                (sameEnv && specs[src].Labels["env"] != specs[dst].Labels["env"])); tries++)
            {
                src = random.Next(specs.Count);
            }

            var udp = random.NextDouble() < 0.2;
            var port = udp ? UdpPorts[random.Next(UdpPorts.Length)] : rolePorts[specs[dst].Labels["role"]];
            result[i] = new ServiceEdge(src, dst, udp, port);
        }

        return result;
    }

    private string V4Workload(Random random) => BenchEstate.Format(estate.V4Hosts[random.Next(estate.V4Hosts.Length)]);

    private string V6Workload(Random random) => estate.V6Hosts[random.Next(estate.V6Hosts.Length)];

    private string InSubnet(Random random) => BenchEstate.Format(estate.Subnets[random.Next(estate.Subnets.Length)] | (uint)random.Next(1, 255));

    // Public-looking ranges; nothing is ever sent to them, they only appear in the records.
    private static string InternetV4(Random random) =>
        BenchEstate.Format(((uint)(random.Next(3) switch { 0 => 81, 1 => 151, _ => 185 }) << 24) | (uint)random.Next(1, 1 << 24));

    private byte[] Malformed(long n, Random random)
    {
        var now = start.AddMinutes(10);
        var template = Ulogd2Writer.Destroy(new Ulogd2Writer.Connection(
            (uint)(n + 1), "10.1.2.3", "fd00::5", 6, 40000, 443, now, now.AddSeconds(1), 1000, 10, 9000, 12));
        var text = (n % 6) switch
        {
            0 => template[..random.Next(20, template.Length - 20)],
            1 => "conntrack: garbage line, not a JSON record",
            2 => template.Replace("\"src_ip\": \"10.1.2.3\"", "\"src_ip\": \"10.1.2.300\"", StringComparison.Ordinal),
            3 => template.Replace("\"dest_ip\": \"fd00::5\"", "\"dest_ip\": \"fd00::zz\"", StringComparison.Ordinal),
            4 => template.Replace("\"orig.l4.sport\": 40000", "\"orig.l4.sport\": \"http\"", StringComparison.Ordinal),
            _ => template.Replace("\"src_ip\": \"10.1.2.3\"", "\"src_ip\": {\"addr\": \"10.1.2.3\"}", StringComparison.Ordinal),
        };
        return Encoding.UTF8.GetBytes(text);
    }
}

public enum PeerClass
{
    Workload,
    Unknown,
    Internet,
}

/// <summary>Expected contents of the stored rows (two rows per connection).</summary>
public sealed class MixTally
{
    public long SrcWorkloadRows { get; private set; }

    public long SrcUnknownRows { get; private set; }

    public long SrcInternetRows { get; private set; }

    public long DstWorkloadRows { get; private set; }

    public long DstInternetRows { get; private set; }

    public long Ipv6Rows { get; private set; }

    public long UdpRows { get; private set; }

    internal void Add(PeerClass src, PeerClass dst, bool v6, bool udp)
    {
        SrcWorkloadRows += src == PeerClass.Workload ? 2 : 0;
        SrcUnknownRows += src == PeerClass.Unknown ? 2 : 0;
        SrcInternetRows += src == PeerClass.Internet ? 2 : 0;
        DstWorkloadRows += dst == PeerClass.Workload ? 2 : 0;
        DstInternetRows += dst == PeerClass.Internet ? 2 : 0;
        Ipv6Rows += v6 ? 2 : 0;
        UdpRows += udp ? 2 : 0;
    }
}
