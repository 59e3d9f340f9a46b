namespace Visibility.Ingest.Decoding;

/// <summary>
/// Folds the packets of one refused attempt into one attempt: packets of the same 5-tuple that arrive within
/// <see cref="Window"/> of the attempt's previous packet are retransmissions of it (a TCP SYN retried after 1, 2, 4,
/// 8, 16 and 32 s by Linux' defaults; a DNS query sent again from the same port). Each packet gets the attempt's
/// start and connection id; only the attempt's first packet is marked as opening it, so the attempt counts once.
/// <para>
/// The window slides: an attempt ends once its tuple is quiet for a whole window, so a tuple refused without pause
/// stays one attempt. The table is direct-mapped and fixed (<see cref="Slots"/> entries, no allocation): two tuples
/// active at once in the same slot evict each other, and the evicted one's next retransmission then counts as a new
/// attempt. After a restart, or in another decoder instance, a retransmission of an attempt seen before counts as
/// a new attempt too; retransmissions normally reach the same decoder, as one host's records go to one partition.
/// Thread-safe.
/// </para>
/// </summary>
public sealed class AttemptTracker
{
    /// <summary>The default window: longer than the 32 s between Linux' last two SYN retransmissions.</summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(60);

    /// <summary>Entries of the table (tuples tracked at once).</summary>
    public const int Slots = 8192;

    // Salts attempt ids so that they never equal the id of a connection with the same tuple.
    private const ulong AttemptSalt = 0xA77E_3D7A_11C0_FFEEUL;

    private readonly Slot[] slots = new Slot[Slots];
    private readonly Lock gate = new();
    private readonly long windowMs;

    /// <param name="window">How long a tuple may be quiet and still be the same attempt; positive.</param>
    /// <exception cref="ArgumentOutOfRangeException">The window is not positive.</exception>
    public AttemptTracker(TimeSpan? window = null)
    {
        var w = window ?? DefaultWindow;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(w, TimeSpan.Zero, nameof(window));
        Window = w;
        windowMs = (long)w.TotalMilliseconds;
    }

    public TimeSpan Window { get; }

    /// <summary>
    /// Places a packet of the tuple seen at <paramref name="timeMs"/> in its attempt. Returns the attempt's
    /// connection id; <paramref name="startMs"/> is the attempt's first packet's time and <paramref name="first"/>
    /// says whether this packet opens the attempt.
    /// </summary>
    public ulong Place(byte protocol, UInt128 src, UInt128 dst, ushort srcPort, ushort dstPort, long timeMs, out long startMs, out bool first)
    {
        var tuple = ConnectionKey.Compute(AttemptSalt, 0, protocol, src, dst, srcPort, dstPort);
        // Key 0 marks an empty slot; a tuple hashing to 0 is tracked as 1.
        tuple = tuple == 0 ? 1 : tuple;
        ref var slot = ref slots[(int)(tuple & (Slots - 1))];
        lock (gate)
        {
            first = slot.Tuple != tuple || timeMs > slot.LastMs + windowMs || timeMs < slot.StartMs - windowMs;
            if (first)
            {
                slot = new Slot { Tuple = tuple, StartMs = timeMs, LastMs = timeMs };
            }
            else
            {
                // A packet out of order within the window still belongs to the attempt; its start and id stay.
                slot.LastMs = Math.Max(slot.LastMs, timeMs);
            }

            startMs = slot.StartMs;
            return ConnectionKey.Compute(AttemptSalt, slot.StartMs, protocol, src, dst, srcPort, dstPort);
        }
    }

    private struct Slot
    {
        public ulong Tuple;
        public long StartMs;
        public long LastMs;
    }
}
