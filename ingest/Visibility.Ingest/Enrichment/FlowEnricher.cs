using Visibility.Flows.Labels;
using Visibility.Flows.Model;

namespace Visibility.Ingest.Enrichment;

/// <summary>
/// Attaches endpoints to both ends of a record, at the record's time. With NAT, each end is identified by the
/// address that names a workload: the source by its original address (SNAT rewrites it to a gateway's), the
/// destination by the address that answered (DNAT rewrites a service address to a backend's); when that
/// address belongs to no workload, the other one is tried. Ends a decoder already identified (Hubble carries
/// Kubernetes identities) are kept.
/// </summary>
public static class FlowEnricher
{
    public static void Enrich(ref FlowRecord record, WorkloadIndex index)
    {
        if (record.NatSrcIp == UInt128.Zero && record.NatDstIp == UInt128.Zero)
        {
            record.NatSrcIp = record.SrcIp;
            record.NatSrcPort = record.SrcPort;
            record.NatDstIp = record.DstIp;
            record.NatDstPort = record.DstPort;
        }

        var time = record.StartMs;
        record.Src ??= Resolve(index, record.SrcIp, record.NatSrcIp, time);
        record.Dst ??= Resolve(index, record.NatDstIp, record.DstIp, time);
    }

    private static Endpoint Resolve(WorkloadIndex index, UInt128 preferred, UInt128 alternate, long time)
    {
        if (preferred == alternate)
        {
            return index.Lookup(preferred, time);
        }

        return index.FindWorkload(preferred, time) ?? index.FindWorkload(alternate, time) ?? index.Lookup(preferred, time);
    }
}
