using System.Collections.Concurrent;
using System.Text;

namespace Visibility.Ingest.Decoding;

/// <summary>
/// Values made from short UTF-8 texts that repeat from record to record (policy names, drop reasons, log
/// prefixes), made once per distinct text and shared: after the first record that carries a text, decoding it
/// again allocates nothing. Bounded: past <see cref="Capacity"/> distinct texts, new ones are made per record and
/// not kept, so hostile input cannot grow it. Thread-safe.
/// </summary>
internal sealed class TextCache<TValue>
{
    /// <summary>Texts longer than this (in UTF-16 units) are made per record and not kept.</summary>
    public const int MaxLength = 256;

    private readonly ConcurrentDictionary<string, TValue> entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TValue>.AlternateLookup<ReadOnlySpan<char>> lookup;
    private readonly Func<string, TValue> create;
    private int count;

    /// <param name="create">Makes the value of a text seen for the first time.</param>
    /// <param name="capacity">The most distinct texts kept.</param>
    public TextCache(Func<string, TValue> create, int capacity = 4096)
    {
        this.create = create;
        Capacity = capacity;
        lookup = entries.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Capacity { get; }

    /// <summary>The value for <paramref name="utf8"/> (invalid UTF-8 is read with replacement characters).</summary>
    public TValue Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxLength)
        {
            return create(Encoding.UTF8.GetString(utf8));
        }

        Span<char> chars = stackalloc char[MaxLength];
        var length = Encoding.UTF8.GetChars(utf8, chars);
        if (lookup.TryGetValue(chars[..length], out var value))
        {
            return value;
        }

        var text = new string(chars[..length]);
        value = create(text);
        if (Volatile.Read(ref count) < Capacity && entries.TryAdd(text, value))
        {
            Interlocked.Increment(ref count);
        }

        return value;
    }
}
