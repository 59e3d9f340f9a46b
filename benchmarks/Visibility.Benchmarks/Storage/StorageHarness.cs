using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Benchmarks.Support;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;

namespace Visibility.Benchmarks.Storage;

/// <summary>
/// Storage per row (<c>make bench-storage</c>, README "Sizing"): the end-to-end harness's ulogd2 NFCT JSON mix over a
/// labelled estate (NEW and DESTROY per connection), at a given rate over whole hours or minutes ending before now,
/// decoded, enriched and classified by the project's own code and inserted as the ingest writer inserts (Native
/// blocks of 20,000 rows, five per insert) into an embedded store created by the migrations, so the rollup views
/// fill every rollup table as they do for ingest. Kafka is left out: it does not change what is stored. Then, once
/// merges have settled and again after <c>OPTIMIZE … FINAL</c>: rows, bytes on disk, compressed and uncompressed
/// bytes per row of every table (<c>system.parts</c>, active parts), the biggest columns (<c>system.columns</c>), and
/// per whole bucket of each rollup: raw rows, distinct edges (the <c>edges</c> table's key) and rollup rows.
/// </summary>
public static class StorageHarness
{
    private const string Usage = """
        usage: Visibility.Benchmarks storage [options]
          --rate R          records per second of the generated stream (default 10000)
          --minutes M       minutes of records from a whole hour (from 360 minutes on, a whole 6 hours) before now (default 60)
          --workloads W     workloads in the estate (default 3000)
          --edges E         workload-to-workload service edges; 0 pairs workloads at random (default 20000)
          --partitions P    Kafka partitions the records are numbered as if read from (default 64)
          --data DIR        the engine's data directory (default: a new temporary directory, deleted at the end)
          --sample PATH     also write the first 16 MiB of messages there, one per line (to measure compression)
          --markdown PATH   where to write the report (default artifacts/storage/storage-<UTC time>.md)
        """;

    private const string Database = "bench_storage";
    private const int BlockRows = 20_000;
    private const int BlocksPerInsert = 5;

    public static async Task<int> RunAsync(string[] args)
    {
        var rate = 10_000;
        var minutes = 60;
        var workloads = 3_000;
        var edges = 20_000;
        var partitions = 64;
        string? dataPath = null;
        string? sample = null;
        string? markdown = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} needs a value");
            switch (args[i])
            {
                case "--rate": rate = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--minutes": minutes = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--workloads": workloads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--edges": edges = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--partitions": partitions = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--data": dataPath = Next(); break;
                case "--sample": sample = Next(); break;
                case "--markdown": markdown = Next(); break;
                case "--help" or "-h": Console.WriteLine(Usage); return 0;
                default: Console.Error.WriteLine($"unknown option '{args[i]}'\n{Usage}"); return 2;
            }
        }

        var temporary = dataPath is null;
        dataPath ??= Path.Combine(Path.GetTempPath(), "visibility-bench-storage-" + Guid.NewGuid().ToString("N")[..8]);
        markdown ??= Path.Combine("artifacts", "storage", $"storage-{DateTime.UtcNow:yyyyMMdd-HHmmss}.md");
        var report = new StringBuilder();
        try
        {
            var store = new EmbeddedFlowStore(
                Options.Create(new StoreOptions { Path = dataPath, Database = Database }), NullLogger<EmbeddedFlowStore>.Instance);
            await store.InitializeAsync(CancellationToken.None);
            // Aligned to the coarsest bucket the span can hold whole (6 hours from 360 minutes on, else an hour).
            var align = minutes >= 360 ? TimeSpan.TicksPerHour * 6 : TimeSpan.TicksPerHour;
            var ticks = DateTimeOffset.UtcNow.AddMinutes(-minutes).UtcTicks;
            var start = new DateTimeOffset(ticks - (ticks % align), TimeSpan.Zero);
            var end = start.AddMinutes(minutes);
            var estate = BenchEstate.Create(workloads);
            var mix = new FlowMix(estate, (long)rate * minutes * 60, malformedFraction: 0, start: start, span: end - start, serviceEdges: edges);
            var pairing = edges > 0 ? string.Create(CultureInfo.InvariantCulture, $"{edges:N0} service edges") : "workloads paired at random";
            Line(report, string.Create(CultureInfo.InvariantCulture,
                $"Storage per row: {mix.Records:N0} ulogd2 records ({mix.Connections:N0} connections × NEW + DESTROY) at {rate:N0} records/s, {start:yyyy-MM-dd HH:mm}–{end:HH:mm} UTC; {workloads:N0} workloads, {pairing}; {Environment.ProcessorCount} CPUs, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"));

            var watch = Stopwatch.StartNew();
            var messageBytes = await LoadAsync(store, estate, mix, partitions, sample);
            Line(report, string.Create(CultureInfo.InvariantCulture,
                $"Loaded in {watch.Elapsed.TotalSeconds:F0} s ({mix.Records / watch.Elapsed.TotalSeconds:N0} rows/s); Kafka message (the ulogd2 JSON record) {messageBytes / (double)mix.Records:F1} bytes on average"));
            Line(report, "");

            await SettleAsync(store);
            Line(report, "### As stored, merges settled");
            Line(report, "");
            await PartsAsync(store, report);
            foreach (var table in Tables)
            {
                await Exec(store, $"OPTIMIZE TABLE {Database}.{table} FINAL");
            }

            await SettleAsync(store);
            Line(report, "### After OPTIMIZE … FINAL");
            Line(report, "");
            await PartsAsync(store, report);
            await ColumnsAsync(store, report);
            await BucketsAsync(store, report, start, end);

            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(markdown))!);
            await File.WriteAllTextAsync(markdown, report.ToString());
            Console.Error.WriteLine($"report: {markdown}");
            return 0;
        }
        finally
        {
            Visibility.Flows.Store.Chdb.ChdbEngine.Shutdown(TimeSpan.FromSeconds(30));
            if (temporary && Directory.Exists(dataPath))
            {
                Directory.Delete(dataPath, recursive: true);
            }
        }
    }

    private static readonly string[] Tables =
        [FlowSchema.FlowsTable, .. FlowSchema.AllRollups.Select(r => r.Name), FlowSchema.EdgesTable];

    /// <summary>
    /// Decodes, enriches and classifies the mix as the ingest pipeline does, numbering each record as if read from
    /// partition <c>connection mod P</c> of a topic, and inserts it in Native blocks; generation runs beside the
    /// inserts. Returns the messages' total bytes.
    /// </summary>
    private static async Task<long> LoadAsync(EmbeddedFlowStore store, BenchEstate estate, FlowMix mix, int partitions, string? sample)
    {
        using var inserts = new BlockingCollection<ReadOnlyMemory<byte>[]>(boundedCapacity: 2);
        long messageBytes = 0;
        var producer = Task.Run(() =>
        {
            try
            {
                var index = WorkloadIndex.Build(estate.Workloads);
                var decoder = new Ulogd2JsonDecoder();
                var offsets = new long[partitions];
                var record = default(FlowRecord);
                var block = new NativeFlowBlock();
                var chunks = new List<ReadOnlyMemory<byte>>(BlocksPerInsert);
                using var sampleFile = sample is null ? null : File.Create(sample);
                foreach (var message in mix.Enumerate())
                {
                    messageBytes += message.Value.Length;
                    if (sampleFile is not null && sampleFile.Length < 16 << 20)
                    {
                        sampleFile.Write(message.Value);
                        sampleFile.WriteByte((byte)'\n');
                    }

                    if (decoder.Decode(message.Value, ref record, out var reason) != DecodeStatus.Ok)
                    {
                        throw new InvalidOperationException("the mix produced a record the decoder rejects: " + reason);
                    }

                    FlowEnricher.Enrich(ref record, index);
                    record.Findings = FindingRules.Default.Classify(record.Src!, record.Dst!);
                    record.SourceTopic = "flows";
                    record.SourcePartition = (int)(message.Connection % partitions);
                    record.SourceOffset = offsets[record.SourcePartition]++;
                    block.Add(record);
                    if (block.Count == BlockRows)
                    {
                        chunks.Add(Encode(block));
                        if (chunks.Count == BlocksPerInsert)
                        {
                            inserts.Add([.. chunks]);
                            chunks.Clear();
                        }
                    }
                }

                if (block.Count > 0)
                {
                    chunks.Add(Encode(block));
                }

                if (chunks.Count > 0)
                {
                    inserts.Add([.. chunks]);
                }
            }
            finally
            {
                inserts.CompleteAdding();
            }
        });

        long rows = 0;
        foreach (var chunks in inserts.GetConsumingEnumerable())
        {
            await store.InsertFlowsAsync(chunks, FlowEncoding.Native, InsertToken.Unique(), CancellationToken.None);
            rows += chunks.Length * BlockRows;
            Console.Error.Write($"\rinserted ≈ {Math.Min(rows, mix.Records):N0} of {mix.Records:N0} rows   ");
        }

        Console.Error.WriteLine();
        await producer;
        var stored = long.Parse(await Text(store, $"SELECT count() FROM {Database}.{FlowSchema.FlowsTable}"), CultureInfo.InvariantCulture);
        if (stored != mix.Good)
        {
            throw new InvalidOperationException($"flows_raw holds {stored:N0} rows, expected {mix.Good:N0} (a TTL or a lost insert)");
        }

        return messageBytes;
    }

    private static ReadOnlyMemory<byte> Encode(NativeFlowBlock block)
    {
        var writer = new ArrayBufferWriter<byte>(block.Count * 200);
        block.WriteTo(writer);
        block.Reset();
        return writer.WrittenMemory;
    }

    /// <summary>Active parts per table: rows, parts, bytes on disk, compressed and uncompressed bytes, per row.</summary>
    private static async Task PartsAsync(EmbeddedFlowStore store, StringBuilder report)
    {
        Line(report, "| table | rows | parts | on disk | on disk / row | compressed / row | uncompressed / row | ratio |");
        Line(report, "|---|---:|---:|---:|---:|---:|---:|---:|");
        var text = await Text(store, $"""
            SELECT table, sum(rows), count(), sum(bytes_on_disk), sum(data_compressed_bytes), sum(data_uncompressed_bytes)
            FROM system.parts WHERE database = '{Database}' AND active AND table IN ({string.Join(", ", Tables.Select(t => $"'{t}'"))})
            GROUP BY table ORDER BY indexOf([{string.Join(", ", Tables.Select(t => $"'{t}'"))}], table)
            """);
        foreach (var f in Rows(text))
        {
            var rows = double.Parse(f[1], CultureInfo.InvariantCulture);
            var (disk, compressed, uncompressed) = (Num(f[3]), Num(f[4]), Num(f[5]));
            Line(report, string.Create(CultureInfo.InvariantCulture,
                $"| {f[0]} | {rows:N0} | {f[2]} | {disk / 1048576:N1} MiB | {disk / rows:F1} B | {compressed / rows:F1} B | {uncompressed / rows:F1} B | {uncompressed / compressed:F1} |"));
        }

        Line(report, "");
    }

    /// <summary>Every column of flows_raw and the five biggest of each other table, by compressed bytes.</summary>
    private static async Task ColumnsAsync(EmbeddedFlowStore store, StringBuilder report)
    {
        Line(report, "Columns (compressed bytes per row, uncompressed in brackets): flows_raw all, other tables their five biggest");
        Line(report, "");
        Line(report, "| table | columns |");
        Line(report, "|---|---|");
        foreach (var table in Tables)
        {
            var rows = Num(await Text(store, $"SELECT sum(rows) FROM system.parts WHERE database = '{Database}' AND active AND table = '{table}'"));
            var text = await Text(store, $"""
                SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns
                WHERE database = '{Database}' AND table = '{table}' ORDER BY data_compressed_bytes DESC
                """);
            var columns = Rows(text).Take(table == FlowSchema.FlowsTable ? 100 : 5).ToList();
            if (columns.All(f => f[1] == "0"))
            {
                // Compact parts (under min_bytes_for_wide_part, 10 MiB) keep every column in one file: no sizes per column.
                Line(report, $"| {table} | (compact parts: no sizes per column) |");
                continue;
            }

            Line(report, $"| {table} | {string.Join("; ", columns.Select(f => string.Create(CultureInfo.InvariantCulture, $"{f[0]} {Num(f[1]) / rows:F2} ({Num(f[2]) / rows:F1})")))} |");
        }

        Line(report, "");
    }

    /// <summary>
    /// Per rollup, over its whole buckets inside the loaded span: buckets, raw rows, distinct edges (the key of
    /// <c>edges</c>: both ends' workload and kind, protocol, port) and rollup rows per bucket.
    /// </summary>
    private static async Task BucketsAsync(EmbeddedFlowStore store, StringBuilder report, DateTimeOffset start, DateTimeOffset end)
    {
        Line(report, "Per whole bucket inside the span (after OPTIMIZE … FINAL, so a rollup row is one key):");
        Line(report, "");
        Line(report, "| table | whole buckets | raw rows / bucket | distinct edges / bucket | rollup rows / bucket | rollup rows / edge | rollup rows / raw row |");
        Line(report, "|---|---:|---:|---:|---:|---:|---:|");
        var range = string.Create(CultureInfo.InvariantCulture,
            $"toDateTime('{start:yyyy-MM-dd HH:mm:ss}', 'UTC') AS range_start, toDateTime('{end:yyyy-MM-dd HH:mm:ss}', 'UTC') AS range_end");
        foreach (var rollup in FlowSchema.AllRollups)
        {
            var seconds = (long)rollup.Granularity.TotalSeconds;
            var text = await Text(store, string.Create(CultureInfo.InvariantCulture, $"""
                WITH {range}
                SELECT count(), avg(r.rows), avg(r.edges), avg(t.rows)
                FROM
                (
                    SELECT toDateTime(toStartOfInterval(ts, toIntervalSecond({seconds})), 'UTC') AS b, count() AS rows, uniqExact({FlowSchema.EdgeKey}) AS edges
                    FROM {Database}.{FlowSchema.FlowsTable} WHERE ts >= range_start AND ts < range_end GROUP BY b
                ) AS r
                INNER JOIN (SELECT bucket AS b, count() AS rows FROM {Database}.{rollup.Name} GROUP BY b) AS t ON t.b = r.b
                WHERE r.b >= range_start AND r.b + toIntervalSecond({seconds}) <= range_end
                """));
            var f = Rows(text).Single();
            if (f[0] == "0")
            {
                var rows = Num(await Text(store, $"SELECT count() FROM {Database}.{rollup.Name}"));
                Line(report, string.Create(CultureInfo.InvariantCulture, $"| {rollup.Name} | 0 (span shorter than a bucket: {rows:N0} rows in the partial bucket) | | | | | |"));
                continue;
            }

            var (raw, edges, rolled) = (Num(f[1]), Num(f[2]), Num(f[3]));
            Line(report, string.Create(CultureInfo.InvariantCulture,
                $"| {rollup.Name} | {f[0]} | {raw:N0} | {edges:N0} | {rolled:N0} | {rolled / edges:F3} | {rolled / raw:F4} |"));
        }

        var all = Rows(await Text(store, $"""
            SELECT (SELECT count() FROM {Database}.{FlowSchema.EdgesTable}),
                (SELECT uniqExact({FlowSchema.EdgeKey}) FROM {Database}.{FlowSchema.FlowsTable}),
                (SELECT count() FROM {Database}.{FlowSchema.FlowsTable})
            """)).Single();
        Line(report, string.Create(CultureInfo.InvariantCulture,
            $"| {FlowSchema.EdgesTable} | (no buckets) | {Num(all[2]):N0} in all | {Num(all[1]):N0} in all | {Num(all[0]):N0} | {Num(all[0]) / Num(all[1]):F3} | {Num(all[0]) / Num(all[2]):F4} |"));
        Line(report, "");
    }

    /// <summary>Waits (bounded) until no merge runs.</summary>
    private static async Task SettleAsync(EmbeddedFlowStore store)
    {
        for (var i = 0; i < 600; i++)
        {
            if (await Text(store, $"SELECT count() FROM system.merges WHERE database = '{Database}'") == "0")
            {
                return;
            }

            await Task.Delay(1000);
        }
    }

    private static double Num(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    private static IEnumerable<string[]> Rows(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t'));

    private static void Line(StringBuilder report, string line)
    {
        report.AppendLine(line);
        Console.WriteLine(line);
    }

    private static Task<int> Exec(EmbeddedFlowStore store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static _ => 0, [], CancellationToken.None);

    private static Task<string> Text(EmbeddedFlowStore store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static span => Encoding.UTF8.GetString(span).Trim(), [], CancellationToken.None);
}
