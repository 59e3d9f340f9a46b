using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export;
using Visibility.Query.Export.Sinks;
using Visibility.Query.Export.Streams;
using Visibility.Query.Findings;
using Visibility.Query.Graph;

namespace Visibility.Benchmarks.Export;

/// <summary>
/// The findings stream end to end (<c>make bench-export-stream</c>): N distinct findings (dev workloads → prod
/// workloads on distinct ports) over ten past intervals in an embedded store, and an export worker catching up on them
/// into a file sink (fsynced): from its start until the checkpoint holds the last record. Measures what the store
/// read, the per-interval findings query, formatting and the sink cost together, for each format.
/// </summary>
public static class ExportStreamHarness
{
    public static async Task<int> RunAsync(string[] args)
    {
        var findings = args.Length > 1 && args[0] == "--findings" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50_000;
        var directory = Directory.CreateTempSubdirectory("visibility-export-stream-").FullName;
        try
        {
            var store = new EmbeddedFlowStore(
                Options.Create(new StoreOptions { Path = Path.Combine(directory, "store"), Database = "bench_export", Retention = TimeSpan.FromDays(3650) }),
                NullLogger<EmbeddedFlowStore>.Instance);
            await store.InitializeAsync(CancellationToken.None);
            var interval = TimeSpan.FromMinutes(1);
            var start = ExportWorker.Align(DateTimeOffset.UtcNow.AddHours(-1), interval);
            await LoadAsync(store, findings, start, interval);
            var rules = new FindingRules(new FindingsOptions());
            var retention = StoreRetention.RawOnly(TimeSpan.FromDays(3650));
            // As serve reads findings: the stored kinds and the blocked_attempts kind computed at query time.
            var findingsQuery = new FindingsQuery(store, retention, rules)
            {
                Sources = [new BlockedAttemptsFindings(store, retention, new BlockedAttemptsOptions())],
            };
            var source = new ExportRecordSource(findingsQuery, new GraphQuery(store, retention, rules));
            Console.WriteLine($"export stream: {findings:N0} findings over 10 intervals of {interval.TotalMinutes} min, file sink, {Environment.ProcessorCount} cores, load {Load()}");
            // Baseline in the same run: reading the ten intervals' records (the findings queries) without formatting or a sink.
            var probe = new ExportSinkDefinition { Delay = "0s", RepeatAfter = "1d", Interval = "1m", StartAt = start }.ToStream("probe");
            // The same reads without the blocked_attempts query first (it also warms the engine up), then as serve reads.
            var storedOnly = new ExportRecordSource(new FindingsQuery(store, retention, rules), new GraphQuery(store, retention, rules));
            var readStored = Stopwatch.StartNew();
            for (var i = 0; i < 10; i++)
            {
                _ = await storedOnly.ReadAsync(probe, start + (interval * i), start + (interval * (i + 1)), CancellationToken.None);
            }

            var readStoredSeconds = readStored.Elapsed.TotalSeconds;
            var read = Stopwatch.StartNew();
            var readRecords = 0;
            for (var i = 0; i < 10; i++)
            {
                readRecords += (await source.ReadAsync(probe, start + (interval * i), start + (interval * (i + 1)), CancellationToken.None)).Records.Count;
            }

            var readSeconds = read.Elapsed.TotalSeconds;
            var saves = Stopwatch.StartNew();
            var probeState = new ExportStateStore(store, store);
            for (var i = 0; i < 20; i++)
            {
                await probeState.SaveCheckpointAsync("probe", new ExportCheckpoint(start, i, i), CancellationToken.None);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"checkpoint save: {saves.Elapsed.TotalMilliseconds / 20:0.0} ms each"));
            Console.WriteLine("| format | records/s | seconds | records |");
            Console.WriteLine("|---|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| (reading the intervals only) | {readRecords / readSeconds:N0} | {readSeconds:0.00} | {readRecords:N0} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| (reading them without blocked_attempts) | {readRecords / readStoredSeconds:N0} | {readStoredSeconds:0.00} | {readRecords:N0} |"));
            foreach (var format in ExportFormats.All(ExportIdentity.Default))
            {
                var name = "bench-" + format.Name;
                var settings = new ExportSinkDefinition { Delay = "0s", RepeatAfter = "1d", Interval = "1m", StartAt = start, Format = format.Name }.ToStream(name);
                await using var sink = new TimedSink(new FileSink(new FileSinkOptions(Path.Combine(directory, $"{name}.log"))));
                var worker = new ExportWorker(settings, sink, format, source, new ExportStateStore(store, store), NullLogger.Instance);
                using var stop = new CancellationTokenSource();
                var clock = Stopwatch.StartNew();
                // The embedded store answers synchronously: on its own thread the worker would not yield to this loop.
                var run = Task.Run(() => worker.RunAsync(stop.Token));
                while (worker.Status().RecordsConfirmed < findings && !run.IsCompleted)
                {
                    await Task.Delay(20);
                }

                var seconds = clock.Elapsed.TotalSeconds;
                await stop.CancelAsync();
                await run;
                var confirmed = worker.Status().RecordsConfirmed;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {format.Name} | {confirmed / seconds:N0} | {seconds:0.00} | {confirmed:N0} | sink {sink.Seconds:0.00} s |"));
            }

            return 0;
        }
        finally
        {
            // The engine must stop before the process exits (a pending merge at exit crashes it).
            Visibility.Flows.Store.Chdb.ChdbEngine.Shutdown(TimeSpan.FromSeconds(30));
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task LoadAsync(EmbeddedFlowStore store, int findings, DateTimeOffset start, TimeSpan interval)
    {
        var workloads = new List<WorkloadSpec>();
        for (var i = 0; i < 100; i++)
        {
            workloads.Add(new WorkloadSpec { Name = $"dev-{i}", Addresses = [$"10.20.{i / 250}.{(i % 250) + 1}"], Labels = new Dictionary<string, string> { ["app"] = $"app{i % 10}", ["env"] = "dev" } });
            workloads.Add(new WorkloadSpec { Name = $"prod-{i}", Addresses = [$"10.10.{i / 250}.{(i % 250) + 1}"], Labels = new Dictionary<string, string> { ["app"] = $"app{i % 10}", ["env"] = "prod" } });
        }

        var index = WorkloadIndex.Build(workloads);
        var rules = new FindingRules(new FindingsOptions());
        var batch = new FlowBatch();
        for (var n = 0; n < findings; n++)
        {
            // Pair n: dev (n % 100) → prod (n / 100 % 100) on port 1024 + n / 10,000: each pair and port once.
            Assert(IpAddressKey.TryParse($"10.20.0.{(n % 100) + 1}".AsSpan(), out var src));
            Assert(IpAddressKey.TryParse($"10.10.0.{(n / 100 % 100) + 1}".AsSpan(), out var dst));
            var at = start + (interval * 10 * n / findings);
            var (from, to) = (index.Lookup(src), index.Lookup(dst));
            batch.Add(new FlowRecord
            {
                StartMs = at.ToUnixTimeMilliseconds(), EndMs = at.ToUnixTimeMilliseconds() + 10, ConnectionId = (ulong)n, Event = FlowEvent.Destroy,
                Protocol = 6, SrcIp = src, DstIp = dst, SrcPort = 40000, DstPort = (ushort)(1024 + (n / 10_000)),
                BytesOut = 100, BytesIn = 200, PacketsOut = 1, PacketsIn = 2, Connections = 1, Src = from, Dst = to,
                Findings = rules.Classify(from, to), SourceTopic = "bench", SourcePartition = 0, SourceOffset = n,
            });
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
    }

    private static void Assert(bool condition)
    {
        if (!condition)
        {
            throw new InvalidOperationException("bad address");
        }
    }

    private static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    /// <summary>A sink that adds up the time spent in it (sending and waiting for confirmation).</summary>
    private sealed class TimedSink(IExportSink inner) : IExportSink
    {
        private readonly Stopwatch clock = new();

        public double Seconds => clock.Elapsed.TotalSeconds;

        public string Destination => inner.Destination;

        public int Pending => inner.Pending;

        public async Task SendAsync(IReadOnlyList<ExportItem> items, CancellationToken cancellationToken)
        {
            clock.Start();
            try
            {
                await inner.SendAsync(items, cancellationToken);
            }
            finally
            {
                clock.Stop();
            }
        }

        public async Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            clock.Start();
            try
            {
                return await inner.WaitConfirmedAsync(timeout, cancellationToken);
            }
            finally
            {
                clock.Stop();
            }
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
