using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;
using Visibility.Benchmarks.Support;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>The machine a run measured, for the record.</summary>
internal sealed record MachineInfo(DateTime StartedUtc, string Cpu, int Cores, double MemoryGiB, string Os, string Runtime, string LoadAverage)
{
    public static MachineInfo Describe()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memKb = File.ReadLines("/proc/meminfo").Where(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture)).FirstOrDefault();
        var os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?.Split('=', 2)[1].Trim('"') ?? RuntimeInformation.OSDescription
            : RuntimeInformation.OSDescription;
        return new MachineInfo(DateTime.UtcNow, cpu, Environment.ProcessorCount, memKb / 1024.0 / 1024.0, os, RuntimeInformation.FrameworkDescription, LoadAverageNow());
    }

    public static string LoadAverageNow() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
}

/// <summary>Writes the harness's results as Markdown (also printed to the console).</summary>
internal static class Report
{
    private const double BareTarget = 0.8;
    private const double EngineTarget = 1.0;

    public static string Markdown(
        MachineInfo machine, string chdbVersion, HarnessOptions options, IReadOnlyList<string> args, FlowMix mix, int partitions,
        LoadResult load, IReadOnlyList<(int Round, PhaseResult Result)> results)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        var tally = mix.Tally;
        md.AppendLine("# End-to-end ingest throughput: Kafka → store");
        md.AppendLine();
        md.AppendLine(inv, $"- Date: {machine.StartedUtc:yyyy-MM-dd HH:mm} UTC (load average {machine.LoadAverage} at the start, {MachineInfo.LoadAverageNow()} at the end)");
        md.AppendLine(inv, $"- Machine: {machine.Cpu}, {machine.Cores} cores, {machine.MemoryGiB:0.0} GiB, {machine.Os}; {machine.Runtime}, librdkafka {Library.VersionString}, chDB {chdbVersion}");
        md.AppendLine(inv, $"- Command: `dotnet run -c Release --project benchmarks/Visibility.Benchmarks -- e2e{(args.Count > 0 ? " " : "")}{string.Join(' ', args)}`");
        md.AppendLine(inv, $"- Topic: {mix.Records:N0} ulogd2 NFCT JSON messages, {load.UncompressedBytes.Sum() / (double)mix.Records:0} bytes on average: {mix.Good:N0} good " +
            $"({mix.Connections:N0} connections × NEW + DESTROY) and {mix.Bad:N0} malformed ({mix.Bad * 100.0 / mix.Records:0.0#} %); {partitions} partitions, " +
            $"compression {options.Compression.ToString().ToLowerInvariant()}, ≈ {ThroughputHarness.Mib(load.MaxPartitionBytes)} per partition at most " +
            $"(the mock broker keeps 5 MiB); produced once at {mix.Records / load.Seconds:N0} msg/s and checked to be complete before and after the runs.");
        md.AppendLine(inv, $"- Mix: {options.Workloads:N0} workloads (80 % one IPv4 address, 10 % IPv6, 10 % a /24); of the stored rows " +
            $"{Pct(tally.SrcWorkloadRows, mix.Good)} come from a workload, {Pct(tally.SrcUnknownRows, mix.Good)} from unknown internal peers, " +
            $"{Pct(tally.SrcInternetRows, mix.Good)} from the internet, {Pct(tally.DstInternetRows, mix.Good)} go to the internet; " +
            $"{Pct(tally.Ipv6Rows, mix.Good)} IPv6, {Pct(tally.UdpRows, mix.Good)} UDP.");
        md.AppendLine(inv, $"- Each system: {options.Consumers} consumer(s), a fresh consumer group, the same topic; {options.Rounds} round(s), the order rotating. " +
            $"Pipeline: `{options.Format}` decoder, batch size {(options.BatchSize?.ToString("N0", inv) ?? "default (20,000)")}, " +
            $"linger {(options.BatchLinger is { } l ? l.TotalMilliseconds.ToString("N0", inv) + " ms" : "default (250 ms)")}, " +
            $"prefetch {(options.PrefetchKilobytes is { } k ? k.ToString("N0", inv) + " KiB" : "default (16,384 KiB)")}" +
            $"{string.Concat(options.ConsumerProperties.Select(p => $", `{p.Key}={p.Value}`"))}, embedded store (chDB) in this process.");
        md.AppendLine("- Verified in every round: the pipeline stored exactly the good records (count, distinct connections and the " +
            "enrichment of both ends as generated) and dead-lettered exactly the malformed ones (metrics and the dead-letter topic); the bare " +
            "consumer read every partition to its end; the Kafka engine's table holds every good record and one error row per malformed one " +
            "(unless its row says INCOMPLETE: then it is measured up to where its consumers stopped receiving).");
        md.AppendLine();
        md.AppendLine("Records/s run from the first record consumed to the last one stored (read, for the bare consumer); \"s from start\"");
        md.AppendLine("adds the group join (the broker waits 3 s for members). CPU is the whole process's over the measured window (the");
        md.AppendLine("broker and the engine live in it too), per record and as cores used; RSS is the process's, which also holds the");
        md.AppendLine("broker's copy of the topic.");
        md.AppendLine();
        md.AppendLine("| round | system | records/s | s (first → last) | s from start | CPU s | cores | CPU µs/record | RSS before | RSS peak | RSS steady | notes |");
        md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var (round, r) in results)
        {
            md.AppendLine(inv, $"| {round} | {r.System} | {r.RecordsPerSecond:N0} | {r.Seconds:0.00} | {r.SecondsFromStart:0.00} | {r.Usage.Cpu.TotalSeconds:0.00} | " +
                $"{r.Usage.Cores:0.00} | {r.CpuMicrosPerRecord:0.00} | {Mb(r.Usage.RssBefore)} | {Mb(r.Usage.RssPeak)} | {Mb(r.Usage.RssSteady)} | {r.Note} |");
        }

        var ratios = new List<(double Bare, double Engine, double Cpu, bool EngineComplete)>();
        foreach (var round in results.Select(r => r.Round).Distinct())
        {
            if (Get(results, round, Systems.Pipeline) is { } pipeline && Get(results, round, Systems.Bare) is { } bare &&
                Get(results, round, Systems.KafkaEngine) is { } engine)
            {
                ratios.Add((pipeline.RecordsPerSecond / bare.RecordsPerSecond, pipeline.RecordsPerSecond / engine.RecordsPerSecond,
                    pipeline.CpuMicrosPerRecord / engine.CpuMicrosPerRecord, engine.Complete));
            }
        }

        if (ratios.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("Ratios within each round (records/s; CPU per record: lower is better):");
            md.AppendLine();
            md.AppendLine("| round | pipeline / bare consumer | pipeline / Kafka engine | CPU per record, pipeline / Kafka engine |");
            md.AppendLine("|---:|---:|---:|---:|");
            for (var i = 0; i < ratios.Count; i++)
            {
                var mark = ratios[i].EngineComplete ? "" : " (engine incomplete)";
                md.AppendLine(inv, $"| {i + 1} | {ratios[i].Bare:0.00} | {ratios[i].Engine:0.00}{mark} | {ratios[i].Cpu:0.00}{mark} |");
            }

            md.AppendLine();
            var bareMedian = Median(ratios.Select(r => r.Bare));
            // Rounds where the engine stopped short say little about it; they count only when no round is complete.
            var engineRounds = ratios.Any(r => r.EngineComplete) ? ratios.Where(r => r.EngineComplete).ToList() : ratios;
            var engineMedian = Median(engineRounds.Select(r => r.Engine));
            var engineScope = ratios.Any(r => r.EngineComplete)
                ? $"over the {engineRounds.Count} round(s) where the engine read everything"
                : "(the engine stopped short in every round)";
            md.AppendLine(inv, $"Median over rounds: pipeline / bare consumer **{bareMedian:0.00}** (target ≥ {BareTarget:0.0}: {(bareMedian >= BareTarget ? "met" : "missed")}), " +
                $"pipeline / Kafka engine **{engineMedian:0.00}** {engineScope} (target ≥ {EngineTarget:0.0}: {(engineMedian >= EngineTarget ? "met" : "missed")}).");
        }

        md.AppendLine();
        md.AppendLine("| system | records/s (median) | CPU µs/record (median) | cores (median) | RSS peak − before (median) |");
        md.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var system in options.Systems)
        {
            var of = results.Where(r => r.Result.System == system).Select(r => r.Result).ToList();
            md.AppendLine(inv, $"| {system} | {Median(of.Select(r => r.RecordsPerSecond)):N0} | {Median(of.Select(r => r.CpuMicrosPerRecord)):0.00} | " +
                $"{Median(of.Select(r => r.Usage.Cores)):0.00} | {Mb((long)Median(of.Select(r => (double)(r.Usage.RssPeak - r.Usage.RssBefore))))} |");
        }

        md.AppendLine();
        md.AppendLine("Where the CPU goes (per thread, grouped by thread name; µs per record, mean over rounds):");
        md.AppendLine();
        foreach (var system in options.Systems)
        {
            var of = results.Where(r => r.Result.System == system).Select(r => r.Result).ToList();
            var groups = string.Join(", ", of
                .SelectMany(r => r.Usage.CpuByThreadGroup.Select(g => (g.Key, Micros: g.Value * 1e6 / r.Records)))
                .GroupBy(g => g.Key)
                .Select(g => (g.Key, Micros: g.Sum(x => x.Micros) / of.Count))
                .Where(g => g.Micros >= 0.01)
                .OrderByDescending(g => g.Micros)
                .Select(g => g.Key + " " + g.Micros.ToString("0.00", inv)));
            md.AppendLine(inv, $"- {system}: {groups}");
        }

        return md.ToString();
    }

    private static PhaseResult? Get(IReadOnlyList<(int Round, PhaseResult Result)> results, int round, string system) =>
        results.FirstOrDefault(r => r.Round == round && r.Result.System == system).Result;

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN
            : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2]
            : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Pct(long part, long whole) => string.Create(CultureInfo.InvariantCulture, $"{part * 100.0 / whole:0.0} %");

    private static string Mb(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:N0} MB");
}
