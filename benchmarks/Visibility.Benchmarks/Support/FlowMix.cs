using System.Text;
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
/// </summary>
public sealed class FlowMix
{
    private static readonly ushort[] TcpPorts = [443, 443, 443, 8443, 8443, 5432, 6379, 9092, 22, 80, 3306];
    private static readonly ushort[] UdpPorts = [53, 53, 53, 123, 514, 161];
    private readonly BenchEstate estate;
    private readonly int seed;
    private readonly DateTimeOffset start;

    public FlowMix(BenchEstate estate, long records, double malformedFraction = 0.01, int seed = 42, DateTimeOffset? start = null)
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
    }

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
        var spacingMs = Math.Max(1.0, 15 * 60 * 1000.0 / Math.Max(1, Connections));
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
        if (r < 0.70)
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
        var begin = start.AddMilliseconds(index * spacingMs);
        var end = begin.AddMilliseconds(random.Next(50, 120_000));
        var packetsOut = (ulong)random.Next(1, 2_000);
        var packetsIn = (ulong)random.Next(1, 3_000);
        tally.Add(srcClass, dstClass, v6, udp);
        return new Ulogd2Writer.Connection(
            (uint)(index + 1), src, dst, udp ? (byte)17 : (byte)6, (ushort)random.Next(1024, 65535), port, begin, end,
            packetsOut * (ulong)random.Next(60, 1500), packetsOut, packetsIn * (ulong)random.Next(60, 1500), packetsIn);
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
