using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using CsCheck;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;
using Visibility.Tests.Support;
using Xunit.Abstractions;

namespace Visibility.Tests.Decoding;

/// <summary>
/// Hostile input: every decoder, fed arbitrary bytes, mutated sample records and well-formed records with extreme
/// field values, returns a status (an invalid one with a reason) without throwing, and allocates at most
/// <see cref="BytesPerInputByte"/> per input byte plus <see cref="FixedBytes"/>. Each case gets a fresh decoder,
/// primed with its sample file's first line (an AWS header sets the field order), so a printed input reproduces
/// alone. Seeds are fixed; a hang is caught by a deadline on the whole run, which then names the input in progress.
/// </summary>
public sealed partial class DecoderPropertyTests(ITestOutputHelper output)
{
    /// <summary>
    /// Per input byte. Measured worst cases are about 7 B a byte (a Hubble record whose endpoint carries long labels:
    /// each label becomes a UTF-16 key and value, then mapped labels); an escaped ulogd2 string costs about 3 (UTF-16,
    /// then UTF-8 again). 16 leaves headroom and still catches anything worse than linear.
    /// </summary>
    private const long BytesPerInputByte = 16;

    /// <summary>Per call: a Hubble endpoint's dictionaries and label mapping, about 7 KiB at most when measured.</summary>
    private const long FixedBytes = 16 * 1024;

    /// <summary>Hang detector only: the run is expected to take seconds; a decoder stuck in a loop never returns.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    private static readonly Dictionary<string, string[]> SampleFiles = new(StringComparer.Ordinal)
    {
        [Ulogd2JsonDecoder.FormatName] = ["ulogd2-nfct.json", "ulogd2/nat-ipv6-icmp-udp.json"],
        [Ulogd2NflogDecoder.FormatName] = ["ulogd2-nflog-drops.json"],
        [ConntrackTextDecoder.FormatName] =
        [
            "conntrack-events.txt", "conntrack-text/events.txt", "conntrack-text/events-ktimestamp.txt",
            "conntrack-text/list.txt", "conntrack-text/zone-mark.txt",
        ],
        [ConntrackXmlDecoder.FormatName] =
        [
            "conntrack-xml/events.xml", "conntrack-xml/events-ktimestamp.xml", "conntrack-xml/list.xml", "conntrack-xml/zone-mark.xml",
        ],
        [CanonicalJsonDecoder.FormatName] = ["canonical-json/flows.jsonl", "canonical-json/verdicts.jsonl"],
        [AwsVpcFlowLogDecoder.FormatName] = ["aws-vpc/default-v2.log", "aws-vpc/custom-v5.log", "aws-vpc/custom-no-version.log"],
        [HubbleJsonDecoder.FormatName] = ["hubble-json/observe.jsonl", "hubble-json/verdicts.jsonl"],
    };

    private static readonly string[] HugeNumbers =
    [
        "18446744073709551615", "18446744073709551616", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
        "4294967296", "65536", "-1", "-0", "1e308", "1e309", "0.0000001", "1E-400", "00000000000000000000000000001",
        "1" + new string('0', 400), "99999999999999999999999999999999999999999999999999",
    ];

    private static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xC0, 0xAF], [0xC3, 0x28], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xFE, 0xFF],
    ];

    private static readonly byte[] Structural = "{}[]\":,<>/=\\ .-_'&?!\t\r\n0aZ"u8.ToArray();

    public static TheoryData<string> Formats => new(DecoderRegistry.Formats);

    [Theory]
    [MemberData(nameof(Formats))]
    public void Decode_ArbitraryBytes_ReturnsWithinBudget(string format)
    {
        // Raw bytes mostly fail at the first byte; a format's opening and its structural characters get further in.
        var lead = Gen.OneOf(""u8.ToArray(), "{"u8.ToArray(), "{\"flow\":{"u8.ToArray(), "<flow type=\"new\">"u8.ToArray(),
            "[NEW] "u8.ToArray(), "ipv4 2 tcp 6 "u8.ToArray(), "2 1 eni "u8.ToArray(), "version "u8.ToArray());
        var soup = Gen.Frequency((3, Gen.Byte), (2, Gen.OneOf(Structural)));
        var input = Gen.Frequency(
            (1, Gen.Byte.Array[0, 256]),
            (2, Gen.Select(lead, soup.Array[0, 256], (l, s) => (byte[])[.. l, .. s])));
        Run(format, "arbitrary bytes", input.Select(bytes => new Case(bytes, null)), "8c0ffee0fuzz", 50_000);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Decode_MutatedSamples_ReturnsWithinBudget(string format)
    {
        var lines = Lines(format);
        var mutation = Gen.Select(Gen.Int[0, MutationKinds - 1], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], Gen.Byte,
            (kind, a, b, value) => new Mutation(kind, a, b, value));
        var input = Gen.Select(Gen.Int[0, lines.Length - 1], mutation.Array[1, 4], (line, mutations) =>
        {
            var bytes = lines[line].Bytes;
            foreach (var m in mutations)
            {
                bytes = m.Apply(bytes);
            }

            return new Case(bytes, lines[line].Prelude);
        });
        Run(format, "mutated samples", input, "7a11babe5eed", 50_000);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Decode_SampleTruncatedAtEveryLength_ReturnsWithinBudget(string format)
    {
        var cases = Lines(format).SelectMany(line => Enumerable.Range(0, line.Bytes.Length).Select(n => new Case(line.Bytes[..n], line.Prelude)));
        RunAll(format, "truncations", cases);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Decode_SamplesWithRandomFieldValues_ReturnsWithinBudget(string format)
    {
        var lines = Lines(format);
        var input = Gen.Select(Gen.Int[0, lines.Length - 1], Address.Array[16], Number.Array[32], Time.Array[4], Gen.Byte.Array[128],
            (line, addresses, numbers, times, keep) => new Case(Refill(lines[line].Text, addresses, numbers, times, keep), lines[line].Prelude));
        Run(format, "random field values", input, "5ca1ab1e0ddf", 20_000);
    }

    private const int MutationKinds = 11;

    /// <summary>One edit of a record; positions and sizes are taken modulo what the record allows.</summary>
    private readonly record struct Mutation(int Kind, int A, int B, byte Value)
    {
        public byte[] Apply(byte[] input)
        {
            var at = input.Length == 0 ? 0 : A % (input.Length + 1);
            var within = input.Length == 0 ? -1 : A % input.Length;
            switch (Kind)
            {
                case 0 when within >= 0:
                    var flipped = input.ToArray();
                    flipped[within] ^= (byte)(1 << (B & 7));
                    return flipped;
                case 1:
                    return input[..at];
                case 2:
                    return Insert(input, at, [Value]);
                case 3:
                    var end = Math.Min(input.Length, at + (B % 16) + 1);
                    return [.. input.AsSpan(0, at), .. input.AsSpan(end)];
                case 4:
                    // A repeated field: a span copied right after itself.
                    var spanEnd = Math.Min(input.Length, at + (B % 96) + 1);
                    return Insert(input, spanEnd, input.AsSpan(at, spanEnd - at));
                case 5:
                    return ReplaceNumber(input, at, HugeNumbers[B % HugeNumbers.Length]);
                case 6:
                    return Insert(input, at, Nesting(B % 5, ((B / 5) % 3000) + 1));
                case 7:
                    var fill = "a9 \\\"<"u8[B % 6];
                    return Insert(input, at, Enumerable.Repeat(fill, (B / 6) % 65536).ToArray());
                case 8:
                    return Insert(input, at, InvalidUtf8[B % InvalidUtf8.Length]);
                case 9:
                    return Insert(input, at, new byte[(B % 4) + 1]);
                case 10 when within >= 0:
                    var replaced = input.ToArray();
                    replaced[within] = Structural[B % Structural.Length];
                    return replaced;
                default:
                    return input;
            }
        }

        private static byte[] Insert(byte[] input, int at, ReadOnlySpan<byte> bytes) => [.. input.AsSpan(0, at), .. bytes, .. input.AsSpan(at)];

        /// <summary>The first digit run at or after <paramref name="at"/> (or the first one) replaced.</summary>
        private static byte[] ReplaceNumber(byte[] input, int at, string number)
        {
            var start = input.AsSpan(at).IndexOfAnyInRange((byte)'0', (byte)'9');
            start = start >= 0 ? at + start : input.AsSpan().IndexOfAnyInRange((byte)'0', (byte)'9');
            if (start < 0)
            {
                return input;
            }

            var length = input.AsSpan(start).IndexOfAnyExceptInRange((byte)'0', (byte)'9');
            var end = length < 0 ? input.Length : start + length;
            return [.. input.AsSpan(0, start), .. Encoding.ASCII.GetBytes(number), .. input.AsSpan(end)];
        }

        private static byte[] Nesting(int style, int depth)
        {
            var (open, middle, close) = style switch
            {
                0 => ("[", "1", "]"),
                1 => ("{\"a\":", "1", "}"),
                2 => ("<a>", "1", "</a>"),
                3 => ("[", "", ""),
                _ => ("<meta direction=\"original\">", "", ""),
            };
            var text = new StringBuilder().Insert(0, open, depth).Append(middle);
            text.Insert(text.Length, close, depth);
            return Encoding.UTF8.GetBytes(text.ToString());
        }
    }

    private static readonly Gen<string> Address = Gen.Frequency(
        (3, Gen.Select(Gen.Byte, Gen.Byte, Gen.Byte, Gen.Byte, (a, b, c, d) => $"{a}.{b}.{c}.{d}")),
        (3, Gen.Byte.Array[16].Select(bytes => new IPAddress(bytes).ToString())),
        (1, Gen.Byte.Array[16].Select(bytes => new IPAddress(bytes).ToString().ToUpperInvariant())),
        (1, Gen.OneOf("256.0.0.1", "1.2.3", "1.2.3.4.5", "::", "::ffff:1.2.3.4", "1::2::3", "01.02.03.04", "fe80::1%eth0",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "1.2.3.-4", "", "::1.2.3.4.5", new string('1', 300), "0x7f.1")));

    private static readonly Gen<string> Number = Gen.Frequency(
        (4, Gen.Int[0, 65535].Select(n => n.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.OneOf("0", "255", "256", "65535", "65536", "-1", "4294967295", "4294967296", "9223372036854775807",
            "9223372036854775808", "18446744073709551615", "18446744073709551616", "253402300799", "253402300800", "-9223372036854775808")),
        (1, Gen.ULong.Select(n => n.ToString(CultureInfo.InvariantCulture))),
        (1, Gen.Long.Select(n => n.ToString(CultureInfo.InvariantCulture))));

    private static readonly Gen<string> Time = Gen.Frequency(
        (1, Gen.OneOf("0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59-23:59", "0000-00-00T00:00:00+23:59", "2024-02-29T23:59:60Z", "2025-02-29T00:00:00Z",
            "1970-01-01T00:00:00", "9999-12-31T23:59:59")),
        (3, Gen.Select(Gen.Int[0, 10000], Gen.Int[0, 13], Gen.Int[0, 32], Gen.Int[0, 24], Gen.Int[0, 61],
            Gen.OneOf("", ".", ".1", ".123456789", ".1234567890123"), Gen.OneOf("Z", "z", "+00:00", "-23:59", "+24:00", ""),
            (y, mo, d, h, mi, fraction, zone) => $"{y:D4}-{mo:D2}-{d:D2}T{h:D2}:{mi:D2}:{mi:D2}{fraction}{zone}")));

    /// <summary>Addresses, times and numbers in a sample record, to be replaced while the structure stays.</summary>
    [GeneratedRegex(@"(?<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)"
        + @"|(?<v6>(?<![0-9A-Za-z:.])(?=[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:)[0-9A-Fa-f:.]{2,45}(?![0-9A-Za-z:.]))"
        + @"|(?<v4>(?<![\w.])\d{1,3}(\.\d{1,3}){3}(?![\w.]))"
        + @"|(?<number>(?<![\w])\d+(?!\w))", RegexOptions.ExplicitCapture | RegexOptions.CultureInvariant)]
    private static partial Regex FieldValue();

    private static byte[] Refill(string line, string[] addresses, string[] numbers, string[] times, byte[] keep)
    {
        var slot = 0;
        var text = FieldValue().Replace(line, match =>
        {
            var choice = keep[slot % keep.Length];
            var index = slot++;
            return choice % 4 == 0 ? match.Value
                : match.Groups["time"].Success ? times[index % times.Length]
                : match.Groups["number"].Success ? numbers[index % numbers.Length]
                : addresses[index % addresses.Length];
        });
        return Encoding.UTF8.GetBytes(text);
    }

    private sealed record Line(string Text, byte[] Bytes, byte[]? Prelude);

    private sealed record Case(byte[] Input, byte[]? Prelude);

    private static Line[] Lines(string format)
    {
        var files = SampleFiles.TryGetValue(format, out var own) ? own : SampleFiles.Values.SelectMany(f => f).ToArray();
        return files.SelectMany(file =>
        {
            var lines = Golden.SampleLines(file);
            var first = Encoding.UTF8.GetBytes(lines[0]);
            return lines.Select((text, i) => new Line(text, Encoding.UTF8.GetBytes(text), i == 0 ? null : first));
        }).ToArray();
    }

    private void Run(string format, string kind, Gen<Case> gen, string seed, long iterations)
    {
        var stats = new Stats(format);
        Guarded(stats, () => gen.Sample(c => stats.Check(c), seed: seed, iter: iterations, threads: 1, print: c => Show(c.Input)));
        Report(kind, stats);
    }

    private void RunAll(string format, string kind, IEnumerable<Case> cases)
    {
        var stats = new Stats(format);
        Guarded(stats, () =>
        {
            foreach (var c in cases)
            {
                stats.Check(c);
            }
        });
        Report(kind, stats);
    }

    private static void Guarded(Stats stats, Action run)
    {
        var task = Task.Factory.StartNew(run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!task.Wait(Deadline))
        {
            Assert.Fail($"{stats.Format}: no return within {Deadline} (a hang?) on input {Show(stats.Current ?? [])}");
        }
    }

    private void Report(string kind, Stats stats) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{stats.Format} {kind}: {stats.Cases} cases; most allocated {stats.MostAllocated} B (input {stats.MostAllocatedLength} B); "
            + $"slowest {stats.Slowest.TotalMilliseconds:F2} ms (input {stats.SlowestLength} B)"));

    private sealed class Stats(string format)
    {
        public string Format => format;

        public long Cases { get; private set; }

        public long MostAllocated { get; private set; }

        public int MostAllocatedLength { get; private set; }

        public TimeSpan Slowest { get; private set; }

        public int SlowestLength { get; private set; }

        public volatile byte[]? Current;

        public void Check(Case c)
        {
            var decoder = DecoderRegistry.Create(format, new DecoderSettings());
            var record = default(FlowRecord);
            if (c.Prelude is not null)
            {
                decoder.Decode(c.Prelude, ref record, out _);
            }

            Current = c.Input;
            var started = Stopwatch.GetTimestamp();
            var before = GC.GetAllocatedBytesForCurrentThread();
            var status = decoder.Decode(c.Input, ref record, out var reason);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            var elapsed = Stopwatch.GetElapsedTime(started);
            Cases++;

            Assert.True(Enum.IsDefined(status), $"status {status}");
            if (status == DecodeStatus.Invalid)
            {
                Assert.False(string.IsNullOrEmpty(reason), "an invalid record names its reason");
            }

            var budget = (BytesPerInputByte * c.Input.Length) + FixedBytes;
            Assert.True(allocated <= budget, $"{format} allocated {allocated} B for {c.Input.Length} B of input (budget {budget} B)");
            if (allocated > MostAllocated)
            {
                (MostAllocated, MostAllocatedLength) = (allocated, c.Input.Length);
            }

            if (elapsed > Slowest)
            {
                (Slowest, SlowestLength) = (elapsed, c.Input.Length);
            }
        }
    }

    /// <summary>Printable ASCII as is, other bytes as <c>\xNN</c>; long inputs cut in the middle.</summary>
    private static string Show(byte[] input)
    {
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"({input.Length} B) \"");
        for (var i = 0; i < input.Length; i++)
        {
            if (i == 2048 && input.Length > 4096)
            {
                text.Append(CultureInfo.InvariantCulture, $"…{input.Length - 4096} B…");
                i = input.Length - 2048;
            }

            var b = input[i];
            _ = b is >= 0x20 and < 0x7F and not (byte)'\\' and not (byte)'"'
                ? text.Append((char)b)
                : text.Append(CultureInfo.InvariantCulture, $"\\x{b:X2}");
        }

        return text.Append('"').ToString();
    }
}
