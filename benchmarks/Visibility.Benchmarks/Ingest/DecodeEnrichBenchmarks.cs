using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Demo;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Pipeline;

namespace Visibility.Benchmarks.Ingest;

/// <summary>
/// The per-record ingest work: decode a ulogd2 NFCT JSON record, enrich both ends, encode the RowBinary row.
/// Baseline: the same work written the straightforward way (JsonDocument, string IPs, a linear CIDR scan),
/// which is what the project replaces. Both produce the same row bytes (checked in the setup).
/// </summary>
[MemoryDiagnoser]
public class DecodeEnrichBenchmarks
{
    private const int Records = 1024;
    private static readonly string[] PrivateRanges =
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1"];

    private readonly Ulogd2JsonDecoder decoder = new();
    private byte[][] messages = [];
    private WorkloadIndex index = WorkloadIndex.Empty;
    private FlowBatch batch = new();
    private List<(Prefix Prefix, Endpoint Endpoint)> linear = [];
    private List<Prefix> privateRanges = [];

    [GlobalSetup]
    public void Setup()
    {
        var workloads = new List<WorkloadSpec>(DemoEstate.Workloads);
        for (var i = 0; i < 2000; i++)
        {
            workloads.Add(new WorkloadSpec
            {
                Name = $"w{i}",
                Addresses = [$"10.{100 + (i / 250)}.{i % 250}.0/24"],
                Labels = new Dictionary<string, string> { ["app"] = $"app{i % 40}", ["env"] = i % 3 == 0 ? "prod" : "dev" },
            });
        }

        index = WorkloadIndex.Build(workloads);
        linear = workloads.SelectMany(w => w.Addresses.Select(a => (Parse(a), Endpoint.ForWorkload(w)))).ToList();
        privateRanges = PrivateRanges.Select(Parse).ToList();
        var start = DateTimeOffset.UtcNow;
        messages = Enumerable.Range(0, Records).Select(i =>
        {
            var (src, dst, proto, port) = DemoEstate.Conversations[i % DemoEstate.Conversations.Count];
            if (i % 3 == 0)
            {
                src = $"10.{100 + (i % 8)}.{i % 250}.{1 + (i % 200)}";
            }

            var c = new Ulogd2Writer.Connection((uint)i, src, dst, proto, (ushort)(30000 + i), port, start, start.AddSeconds(1), 1000, 10, 9000, 12);
            return Encoding.UTF8.GetBytes(i % 2 == 0 ? Ulogd2Writer.New(c) : Ulogd2Writer.Destroy(c));
        }).ToArray();

        batch = new FlowBatch();
        Project();
        var fast = batch.Rows.ToArray();
        batch.Reset();
        Straightforward();
        if (!fast.AsSpan().SequenceEqual(batch.Rows.Span))
        {
            throw new InvalidOperationException("the benchmarked variants disagree");
        }
    }

    /// <summary>The target: decode + enrich only.</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public int DecodeEnrich()
    {
        var record = default(FlowRecord);
        var n = 0;
        foreach (var message in messages)
        {
            if (decoder.Decode(message, ref record, out _) == DecodeStatus.Ok)
            {
                FlowEnricher.Enrich(ref record, index);
                n++;
            }
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Records)]
    public int Project()
    {
        batch.Reset();
        var record = default(FlowRecord);
        foreach (var message in messages)
        {
            if (decoder.Decode(message, ref record, out _) == DecodeStatus.Ok)
            {
                FlowEnricher.Enrich(ref record, index);
                batch.Add(record);
            }
        }

        return batch.Count;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Records)]
    public int Straightforward()
    {
        batch.Reset();
        foreach (var message in messages)
        {
            using var doc = JsonDocument.Parse(message);
            var root = doc.RootElement;
            var src = System.Net.IPAddress.Parse(root.GetProperty("src_ip").GetString()!);
            var dst = System.Net.IPAddress.Parse(root.GetProperty("dest_ip").GetString()!);
            var startSec = root.GetProperty("flow.start.sec").GetInt64();
            var startUsec = root.TryGetProperty("flow.start.usec", out var su) ? su.GetInt64() : 0;
            var hasEnd = root.TryGetProperty("flow.end.sec", out var es);
            var endUsec = root.TryGetProperty("flow.end.usec", out var eu) ? eu.GetInt64() : 0;
            var srcKey = IpAddressKey.FromAddress(src);
            var dstKey = IpAddressKey.FromAddress(dst);
            var proto = (byte)root.GetProperty("orig.ip.protocol").GetInt32();
            var ctId = root.GetProperty("ct.id").GetUInt64();
            var sport = (ushort)root.GetProperty("orig.l4.sport").GetInt32();
            var dport = (ushort)root.GetProperty("orig.l4.dport").GetInt32();
            var record = new FlowRecord
            {
                StartMs = (startSec * 1000) + (startUsec / 1000),
                EndMs = hasEnd ? (es.GetInt64() * 1000) + (endUsec / 1000) : 0,
                Event = (FlowEvent)root.GetProperty("ct.event").GetInt32(),
                Protocol = proto,
                SrcIp = srcKey,
                DstIp = dstKey,
                NatSrcIp = srcKey,
                NatSrcPort = sport,
                NatDstIp = dstKey,
                NatDstPort = dport,
                SrcPort = sport,
                DstPort = dport,
                BytesOut = root.GetProperty("orig.raw.pktlen").GetUInt64(),
                PacketsOut = root.GetProperty("orig.raw.pktcount").GetUInt64(),
                BytesIn = root.GetProperty("reply.raw.pktlen").GetUInt64(),
                PacketsIn = root.GetProperty("reply.raw.pktcount").GetUInt64(),
                ConnectionId = ConnectionKey.Compute(ctId, ctId == 0 ? startSec : 0, proto, srcKey, dstKey, sport, dport),
                Src = LinearLookup(srcKey),
                Dst = LinearLookup(dstKey),
                SourcePartition = -1,
                SourceOffset = -1,
            };
            batch.Add(record);
        }

        return batch.Count;
    }

    // What a first implementation does: scan every prefix, keep the longest match.
    private Endpoint LinearLookup(UInt128 address)
    {
        Endpoint? best = null;
        var bestLength = -1;
        foreach (var (prefix, endpoint) in linear)
        {
            if (prefix.Length > bestLength && prefix.Contains(address))
            {
                best = endpoint;
                bestLength = prefix.Length;
            }
        }

        return best ?? (privateRanges.Any(p => p.Contains(address)) ? Endpoint.Unknown : Endpoint.Internet);
    }

    private static Prefix Parse(string text) =>
        Prefix.TryParse(text, out var prefix, out var error) ? prefix : throw new InvalidOperationException(error);
}
