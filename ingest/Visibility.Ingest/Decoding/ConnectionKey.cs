namespace Visibility.Ingest.Decoding;

/// <summary>
/// A stable 64-bit identity for a connection, the same for every record that describes it. conntrack ids are
/// reused over time, so the start second and the original tuple are part of the key.
/// </summary>
public static class ConnectionKey
{
    public static ulong Compute(ulong conntrackId, long startSecond, byte protocol, UInt128 src, UInt128 dst, ushort srcPort, ushort dstPort)
    {
        var h = Mix(conntrackId ^ 0x9E3779B97F4A7C15UL);
        h = Mix(h ^ (ulong)startSecond);
        h = Mix(h ^ ((ulong)protocol << 32) ^ ((ulong)srcPort << 16) ^ dstPort);
        h = Mix(h ^ (ulong)(src >> 64));
        h = Mix(h ^ (ulong)src);
        h = Mix(h ^ (ulong)(dst >> 64));
        return Mix(h ^ (ulong)dst);
    }

    // splitmix64's finaliser: cheap, and every input bit affects every output bit.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
