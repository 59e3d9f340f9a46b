using System.Diagnostics;
using System.Globalization;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// Watches this process while one phase runs: CPU time (the process total, and per thread grouped by thread name,
/// which tells the broker, the Kafka clients, the ingest threads and the engine apart), and the resident set.
/// Samples on a thread of its own: resident set every 50 ms, per-thread CPU every 500 ms (a thread that ends
/// between two samples keeps its last sampled value; what is not attributed is reported as such).
/// </summary>
internal sealed class PhaseMonitor : IDisposable
{
    private readonly Thread thread;
    private readonly ManualResetEventSlim stop = new();
    private long startTicks;
    private TimeSpan startCpu;
    private Dictionary<int, ThreadSample> first;
    private readonly Dictionary<int, ThreadSample> last;
    private readonly List<(long Ticks, long Rss)> rss = [];
    private readonly Lock gate = new();

    private PhaseMonitor()
    {
        RssBefore = ResidentBytes();
        first = ThreadSample.ReadAll();
        last = new Dictionary<int, ThreadSample>(first);
        startCpu = ProcessCpu();
        startTicks = Stopwatch.GetTimestamp();
        thread = new Thread(Run) { IsBackground = true, Name = "e2e-monitor" };
        thread.Start();
    }

    public long RssBefore { get; }

    public static PhaseMonitor Start() => new();

    /// <summary>
    /// Marks the moment the first record was consumed: CPU and threads are measured from here on, so the group
    /// join before it (the broker's rebalance delay) counts neither as time nor as idle cores.
    /// </summary>
    public void MarkActive()
    {
        var threads = ThreadSample.ReadAll();
        lock (gate)
        {
            first = threads;
            foreach (var (tid, sample) in threads)
            {
                last[tid] = sample;
            }
        }

        startCpu = ProcessCpu();
        startTicks = Stopwatch.GetTimestamp();
    }

    /// <summary>Stops sampling and returns what was seen since <see cref="Start"/>.</summary>
    public PhaseUsage Stop()
    {
        var endTicks = Stopwatch.GetTimestamp();
        var cpu = ProcessCpu() - startCpu;
        stop.Set();
        thread.Join();
        Merge(ThreadSample.ReadAll());
        var wall = Stopwatch.GetElapsedTime(startTicks, endTicks);
        var groups = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (tid, end) in last)
        {
            var before = first.TryGetValue(tid, out var b) && b.Name == end.Name ? b.CpuNs : 0;
            var seconds = (end.CpuNs - before) / 1e9;
            if (seconds > 0)
            {
                var group = ThreadGroups.Of(end.Name);
                groups[group] = groups.GetValueOrDefault(group) + seconds;
            }
        }

        var attributed = groups.Values.Sum();
        if (cpu.TotalSeconds - attributed > 0.05)
        {
            groups["(threads that ended between samples)"] = cpu.TotalSeconds - attributed;
        }

        List<(long Ticks, long Rss)> samples;
        lock (gate)
        {
            samples = [.. rss];
        }

        samples.Add((endTicks, ResidentBytes()));
        var peak = samples.Max(s => s.Rss);
        // Steady: the median over the middle half of the measured window, away from start-up and the tail.
        var from = startTicks + ((endTicks - startTicks) / 4);
        var to = startTicks + ((endTicks - startTicks) * 3 / 4);
        var middle = samples.Where(s => s.Ticks >= from && s.Ticks <= to).Select(s => s.Rss).Order().ToList();
        var steady = middle.Count > 0 ? middle[middle.Count / 2] : peak;
        return new PhaseUsage(wall, cpu, RssBefore, peak, steady, groups.OrderByDescending(g => g.Value).ToList());
    }

    public void Dispose() => stop.Dispose();

    private void Run()
    {
        var nextThreads = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 2);
        while (!stop.Wait(50))
        {
            var now = Stopwatch.GetTimestamp();
            lock (gate)
            {
                rss.Add((now, ResidentBytes()));
            }

            if (now >= nextThreads)
            {
                Merge(ThreadSample.ReadAll());
                nextThreads = now + (Stopwatch.Frequency / 2);
            }
        }
    }

    private void Merge(Dictionary<int, ThreadSample> sample)
    {
        lock (gate)
        {
            foreach (var (tid, s) in sample)
            {
                last[tid] = s;
            }
        }
    }

    private static TimeSpan ProcessCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    /// <summary>The resident set, from /proc/self/statm (pages).</summary>
    public static long ResidentBytes()
    {
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }

    private readonly record struct ThreadSample(string Name, long CpuNs)
    {
        public static Dictionary<int, ThreadSample> ReadAll()
        {
            var result = new Dictionary<int, ThreadSample>();
            foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    var tid = int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture);
                    var name = File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n');
                    // schedstat: time on CPU in ns, then wait time, then slices.
                    var schedstat = File.ReadAllText(Path.Combine(dir, "schedstat"));
                    var cpu = long.Parse(schedstat.AsSpan(0, schedstat.IndexOf(' ', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
                    result[tid] = new ThreadSample(name, cpu);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The thread ended while being read; its last sample stands.
                }
            }

            return result;
        }
    }
}

/// <summary>CPU and memory of one phase.</summary>
internal sealed record PhaseUsage(
    TimeSpan Wall, TimeSpan Cpu, long RssBefore, long RssPeak, long RssSteady, IReadOnlyList<KeyValuePair<string, double>> CpuByThreadGroup)
{
    public double Cores => Cpu.TotalSeconds / Math.Max(1e-9, Wall.TotalSeconds);
}

/// <summary>Names the stage a thread belongs to, from the names the runtime, librdkafka and ClickHouse give their threads.</summary>
internal static class ThreadGroups
{
    public static string Of(string name) => name switch
    {
        "rdk:mock" => "Kafka broker (librdkafka mock cluster)",
        _ when name.StartsWith("rdk:", StringComparison.Ordinal) => "librdkafka client threads (Confluent.Kafka)",
        _ when name.StartsWith(".NET Long Run", StringComparison.Ordinal) => ".NET long-running tasks (ingest consume/decode/enrich/encode loops)",
        _ when name.StartsWith(".NET TP Worker", StringComparison.Ordinal) => ".NET thread pool (chDB calls made from .NET: inserts, queries)",
        BareConsumerPhase.ThreadName => "bare consumer threads (Consume loop)",
        "KafkaMain" or "KafkaBroker" => "chDB Kafka engine: librdkafka threads",
        "e2e-monitor" => "harness sampling",
        _ when name.StartsWith(".NET", StringComparison.Ordinal) || name == "dotnet" || name.StartsWith("Visibility", StringComparison.Ordinal)
            => ".NET runtime (main, GC, timers, sockets)",
        // ClickHouse's own thread names: MergeMutate (merges), BgStrmSchPool (Kafka streaming), QueryPipelineEx, …
        _ => $"chDB '{name}'",
    };
}
