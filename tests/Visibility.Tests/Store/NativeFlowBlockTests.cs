using System.Buffers;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

/// <summary>Native blocks store exactly what RowBinary rows of the same records store, on both transports' engine.</summary>
public sealed class NativeFlowBlockTests
{
    [Fact]
    public async Task NativeBlocks_StoreTheSameRowsAsRowBinary()
    {
        var records = ServerFlowStoreTests.VariedRecords(20_000).Select((r, i) =>
        {
            r.SourceTopic = i % 3 == 0 ? "flows" : "flows-eu";
            return r;
        }).ToList();

        Assert.Equal(await StoredAsync(records, FlowEncoding.RowBinary, 1), await StoredAsync(records, FlowEncoding.Native, 1));
    }

    [Fact]
    public async Task NativeBlocks_ManyDistinctLabelsAndSeveralChunks_StoreTheSameRowsAsRowBinary()
    {
        // More than 256 and 65,536 distinct values in a column need wider indexes; several chunks make one insert.
        var records = Enumerable.Range(0, 70_000).Select(i =>
        {
            var record = FlowRecord.Blank;
            record.StartMs = record.EndMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + i;
            record.ConnectionId = (ulong)i;
            record.SourceTopic = "t";
            record.SourcePartition = i % 3;
            record.SourceOffset = i;
            record.Src = Endpoint.ForWorkload(new WorkloadSpec
            {
                Name = $"w{i}",
                Labels = new Dictionary<string, string> { ["app"] = $"a{i % 300}", ["env"] = "prod", [$"k{i % 5}"] = $"v{i}" },
            });
            // Destinations without labels: an empty Map column, which carries no key or value data at all.
            record.Dst = i % 2 == 0 ? Endpoint.Internet : Endpoint.Unknown;

            // More than 256 distinct policy names and reasons; the last chunk has no policies at all (an empty array column).
            record.Policies = i < 40_000 && i % 3 == 0 ? $"p{i % 400},q{i % 2}" : null;
            record.VerdictReason = i % 7 == 0 ? $"r{i % 300}" : null;
            record.Verdict = i % 5 == 0 ? FlowVerdict.Blocked : FlowVerdict.Allowed;
            record.IsAttempt = i % 10 == 0;
            return record;
        }).ToList();

        Assert.Equal(await StoredAsync(records, FlowEncoding.RowBinary, 1), await StoredAsync(records, FlowEncoding.Native, 3));
    }

    private static async Task<string> StoredAsync(List<FlowRecord> records, FlowEncoding encoding, int chunks)
    {
        var store = await TestStore.CreateAsync();
        var parts = new List<ReadOnlyMemory<byte>>();
        for (var c = 0; c < chunks; c++)
        {
            var slice = records.Skip(records.Count * c / chunks).Take((records.Count * (c + 1) / chunks) - (records.Count * c / chunks));
            var writer = new ArrayBufferWriter<byte>();
            if (encoding == FlowEncoding.Native)
            {
                var block = new NativeFlowBlock();
                foreach (var record in slice)
                {
                    block.Add(record);
                }

                block.WriteTo(writer);
            }
            else
            {
                foreach (var record in slice)
                {
                    FlowSchema.WriteRow(writer, record);
                }
            }

            parts.Add(writer.WrittenMemory);
        }

        await store.InsertFlowsAsync(parts, encoding, InsertToken.Unique(), CancellationToken.None);
        return await store.QueryAsync(
            $"SELECT {FlowSchema.FlowColumns} FROM {store.Database}.{FlowSchema.FlowsTable} ORDER BY kafka_offset, kafka_partition FORMAT TSV",
            "TSV", static s => System.Text.Encoding.UTF8.GetString(s), [], CancellationToken.None);
    }
}
