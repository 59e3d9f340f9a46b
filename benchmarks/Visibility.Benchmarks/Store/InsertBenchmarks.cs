using System.Buffers;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using Visibility.Benchmarks.Support;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;

namespace Visibility.Benchmarks.Store;

/// <summary>
/// Insert throughput into the store: one batch of realistic enriched rows (the end-to-end harness's ulogd2 mix over
/// a 3,000-workload estate, decoded and enriched by the project's own code, encoded by
/// <see cref="FlowSchema.WriteRow"/>) per operation, through <see cref="IFlowWriter.InsertFlowsAsync"/> into
/// <c>flows_raw</c> as created by the migrations. Each iteration inserts eight batches and then truncates the
/// table, so every iteration starts from the same small table; merges that start during an iteration count.
/// <see cref="Transport"/> names the store (<see cref="StoreTransports"/>): embedded (chDB in process) or the server
/// transport (ClickHouse.Driver over HTTP) against the chDB-backed test endpoint in the same process.
/// <see cref="Chunks"/> &gt; 1 splits the batch into that many separately encoded buffers inserted as one insert, as
/// the ingest writer stores batches that queued up behind a running insert (5 × 20,000 rows: its default InsertRows).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(8)]
[Config(typeof(Config))]
public class InsertBenchmarks
{
    private IFlowStore? store;
    private byte[] rows = [];
    private ReadOnlyMemory<byte>[] chunks = [];
    private long bytesOut;

    public static IEnumerable<string> Transports => StoreTransports.Available;

    [ParamsSource(nameof(Transports))]
    public string Transport { get; set; } = StoreTransports.Embedded;

    /// <summary>Rows per insert.</summary>
    [Params(20_000, 100_000)]
    public int BatchRows { get; set; }

    /// <summary>How the rows are encoded: RowBinary rows, or Native blocks with per-block label dictionaries.</summary>
    [Params(FlowEncoding.RowBinary, FlowEncoding.Native)]
    public FlowEncoding Encoding { get; set; }

    /// <summary>Buffers the insert's rows come in (only 1 with 20,000 rows: see <see cref="Config"/>).</summary>
    [Params(1, 5)]
    public int Chunks { get; set; }

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    [Benchmark]
    public Task Insert() => store!.InsertFlowsAsync(chunks, Encoding, InsertToken.Unique(), CancellationToken.None);

    [IterationCleanup]
    public void Truncate() => Execute($"TRUNCATE TABLE {Table}");

    [GlobalCleanup]
    public void Cleanup()
    {
        Execute($"DROP DATABASE IF EXISTS {FlowSchema.QuoteDatabase(store!.Database)}");
        StoreTransports.StopAsync(store).GetAwaiter().GetResult();
        if (Directory.Exists(StoreTransports.EmbeddedDataPath))
        {
            // Both transports run on this process's engine, which keeps running until the process exits; this
            // only unlinks its files.
            Directory.Delete(StoreTransports.EmbeddedDataPath, recursive: true);
        }
    }

    private string Table => $"{FlowSchema.QuoteDatabase(store!.Database)}.{FlowSchema.FlowsTable}";

    private async Task SetupAsync()
    {
        (rows, var rowEnds, bytesOut, var records) = EncodeBatch(BatchRows);
        chunks = Encoding == FlowEncoding.Native ? EncodeNative(records, Chunks) : Split(rows, rowEnds, Chunks);
        store = await StoreTransports.CreateAsync(Transport, "bench_insert_" + Guid.NewGuid().ToString("N")[..8]);

        // The store must hold exactly what was encoded, inserted the way it is timed, before anything is timed.
        await Insert();
        var check = Query($"SELECT count(), sum(bytes_out), countIf(src_workload != '') > 0 FROM {Table}");
        var expected = string.Create(CultureInfo.InvariantCulture, $"{BatchRows}\t{bytesOut}\t1");
        if (check != expected)
        {
            throw new InvalidOperationException($"the {Transport} store holds '{check}' after one batch, expected '{expected}'");
        }

        Truncate();
    }

    /// <summary>
    /// RowBinary for <paramref name="count"/> rows, as the ingest consumer encodes them, the offset after each row,
    /// and their bytes_out sum.
    /// </summary>
    internal static (byte[] Rows, int[] RowEnds, long BytesOut, List<FlowRecord> Records) EncodeBatch(int count)
    {
        var records = new List<FlowRecord>(count);
        var ends = new int[count];
        var estate = BenchEstate.Create(3_000);
        var index = WorkloadIndex.Build(estate.Workloads);
        var decoder = new Ulogd2JsonDecoder();
        var writer = new ArrayBufferWriter<byte>(count * 320);
        var record = default(FlowRecord);
        long sum = 0;
        long n = 0;
        foreach (var message in new FlowMix(estate, count, malformedFraction: 0).Enumerate())
        {
            if (decoder.Decode(message.Value, ref record, out var reason) != DecodeStatus.Ok)
            {
                throw new InvalidOperationException("the mix produced a record the decoder rejects: " + reason);
            }

            FlowEnricher.Enrich(ref record, index);
            record.SourcePartition = (int)(message.Connection % 32);
            record.SourceOffset = n++ / 32;
            FlowSchema.WriteRow(writer, record);
            records.Add(record);
            ends[n - 1] = writer.WrittenCount;
            sum += (long)record.BytesOut;
        }

        return (writer.WrittenSpan.ToArray(), ends, sum, records);
    }

    /// <summary>The records as <paramref name="count"/> Native blocks, as the ingest consumer encodes its batches.</summary>
    private static ReadOnlyMemory<byte>[] EncodeNative(List<FlowRecord> records, int count)
    {
        var parts = new ReadOnlyMemory<byte>[count];
        for (var i = 0; i < count; i++)
        {
            var block = new NativeFlowBlock();
            foreach (var record in records.Skip(records.Count * i / count).Take((records.Count * (i + 1) / count) - (records.Count * i / count)))
            {
                block.Add(record);
            }

            var writer = new ArrayBufferWriter<byte>();
            block.WriteTo(writer);
            parts[i] = writer.WrittenMemory;
        }

        return parts;
    }

    /// <summary>The rows in <paramref name="count"/> buffers of their own (as consumer batches are), split at row boundaries.</summary>
    private static ReadOnlyMemory<byte>[] Split(byte[] rows, int[] rowEnds, int count)
    {
        var parts = new ReadOnlyMemory<byte>[count];
        var start = 0;
        for (var i = 0; i < count; i++)
        {
            var end = i == count - 1 ? rows.Length : rowEnds[(rowEnds.Length * (i + 1) / count) - 1];
            parts[i] = rows.AsSpan(start, end - start).ToArray();
            start = end;
        }

        return parts;
    }

    private void Execute(string sql) => Query(sql);

    private string Query(string sql) =>
        store!.QueryAsync(sql, "TabSeparated", static span => System.Text.Encoding.UTF8.GetString(span).Trim(), [], CancellationToken.None)
            .GetAwaiter().GetResult();

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new RowsPerSecondColumn(nameof(BatchRows)));

            // The multi-chunk case is the writer's coalesced insert: 5 × 20,000 rows; 5 × 4,000 is not measured.
            AddFilter(new SimpleFilter(c => c.Parameters[nameof(Chunks)] is not int n || n == 1 || c.Parameters[nameof(BatchRows)] is 100_000));
        }
    }
}
