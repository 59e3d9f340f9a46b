using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store;

/// <summary>
/// The store on the embedded engine (chDB). Three connections on one data directory: one for flow inserts (an
/// open insert stream blocks its connection), one for reads, one for control (lease claims, workloads), so
/// inserts, queries and inventory changes do not wait on each other.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A singleton for the life of the process; its connections outlive it by design.")]
public sealed class EmbeddedFlowStore : IFlowStore
{
    private readonly StoreOptions options;
    private readonly ILogger<EmbeddedFlowStore> logger;
    private readonly SemaphoreSlim initGate = new(1, 1);
    // Writer connections: an open insert blocks its connection, and separate connections insert concurrently, so
    // each ingest consumer's writer takes one of its own from this pool for each insert.
    private readonly System.Collections.Concurrent.ConcurrentBag<ChdbConnection> writers = [];
    private ChdbEngine? engine;
    private ChdbConnection? reader;
    private ChdbConnection? control;
    private bool ready;

    public EmbeddedFlowStore(IOptions<StoreOptions> options, ILogger<EmbeddedFlowStore> logger)
    {
        this.options = options.Value;
        this.logger = logger;
        Database = this.options.Database;
    }

    public string Database { get; }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await initGate.WaitAsync(cancellationToken);
        try
        {
            if (ready)
            {
                return;
            }

            Open();
            await SchemaMigrator.For(this, options, logger).AtStartAsync(options, cancellationToken);
            ready = true;
            logger.LogInformation("Embedded store ready at {Path}, database {Database}", engine!.Path, Database);
        }
        finally
        {
            initGate.Release();
        }
    }

    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        await initGate.WaitAsync(cancellationToken);
        try
        {
            Open();
        }
        finally
        {
            initGate.Release();
        }
    }

    private void Open()
    {
        if (control is not null)
        {
            return;
        }

        var opened = ChdbEngine.Open(options.Path, options.LibraryPath);
        writers.Add(opened.Connect());
        reader = opened.Connect();
        engine = opened;
        control = opened.Connect();
    }

    public Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, InsertToken token, CancellationToken cancellationToken)
    {
        var (sql, format) = StoreSql.InsertFlows(Database, encoding, token.Settings);
        return StoreTelemetry.InsertAsync("embedded", Database, () =>
        {
            EnsureFreeSpace();
            return WithWriterAsync(c => c.InsertAsync(sql, format, chunks, cancellationToken));
        });
    }

    public Task RecordProgressAsync(IReadOnlyList<PartitionProgress> progress, CancellationToken cancellationToken) =>
        StoreTelemetry.ProgressAsync(Database, () => WithWriterAsync(c => c.InsertAsync(IngestProgress.InsertSql(Database), "RowBinary", IngestProgress.Encode(progress), cancellationToken)));

    public Task<IReadOnlyList<PartitionResume>> ResumeAsync(IReadOnlyCollection<KafkaPartition> partitions, CancellationToken cancellationToken)
    {
        var connection = control ?? throw NotInitialized();
        return IngestProgress.ResumeAsync(
            Database, StoreLayout.SingleServer, partitions,
            (sql, parameters, ct) => connection.QueryTextAsync(sql, "TabSeparated", parameters, ct),
            cancellationToken);
    }

    public Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken)
    {
        var connection = reader ?? throw NotInitialized();
        return StoreTelemetry.QueryAsync("embedded", Database, () => connection.QueryAsync(sql, format, read, parameters, cancellationToken));
    }

    public async Task InsertRowsAsync(string insertSql, string format, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        await (control ?? throw NotInitialized()).InsertAsync(insertSql, format, data, cancellationToken);

    public async Task UpsertWorkloadsAsync(IReadOnlyList<WorkloadSpec> workloads, CancellationToken cancellationToken)
    {
        var connection = control ?? throw NotInitialized();
        if (workloads.Count == 0)
        {
            return;
        }

        await connection.InsertAsync(
            StoreSql.InsertWorkloads(Database), "JSONEachRow", StoreSql.EncodeWorkloads(workloads, DateTime.UtcNow), cancellationToken);
    }

    public async Task<IReadOnlyList<WorkloadSpec>> LoadWorkloadsAsync(CancellationToken cancellationToken)
    {
        var connection = control ?? throw NotInitialized();
        var text = await connection.QueryTextAsync(StoreSql.LoadWorkloads(Database), "JSONEachRow", cancellationToken: cancellationToken);
        return StoreSql.DecodeWorkloads(text);
    }

    public async Task<bool> DeleteWorkloadAsync(string name, CancellationToken cancellationToken)
    {
        var connection = control ?? throw NotInitialized();
        var live = await connection.QueryTextAsync(StoreSql.WorkloadLive(Database), "TabSeparated", [new QueryParameter("name", name)], cancellationToken);
        if (!StoreSql.DecodeLive(live))
        {
            return false;
        }

        await connection.InsertAsync(StoreSql.InsertWorkloads(Database), "JSONEachRow", StoreSql.EncodeTombstone(name, DateTime.UtcNow), cancellationToken);
        return true;
    }

    public async Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken)
    {
        var connection = control ?? throw NotInitialized();
        return await AppliedAsync(connection, cancellationToken);
    }

    private async Task<IReadOnlyList<int>> AppliedAsync(ChdbConnection connection, CancellationToken cancellationToken)
    {
        var text = await connection.QueryTextAsync(StoreSql.AppliedMigrations(Database), cancellationToken: cancellationToken);
        return StoreSql.DecodeVersions(text);
    }

    private async Task WithWriterAsync(Func<ChdbConnection, Task<ulong>> insert)
    {
        var open = engine ?? throw NotInitialized();
        var connection = writers.TryTake(out var idle) ? idle : open.Connect();
        try
        {
            await insert(connection);
        }
        catch (ChdbException ex) when (IsOutOfSpace(ex))
        {
            // chDB says "Cannot reserve 1.00 MiB, not enough space" without naming the disk.
            throw new StoreException($"No space left for the embedded store at {open.Path}: {ex.Message}", ex);
        }
        finally
        {
            writers.Add(connection);
        }
    }

    /// <summary>Refuses a flow insert while the store's file system has less free space than <see cref="StoreOptions.MinFreeMegabytes"/>.</summary>
    private void EnsureFreeSpace()
    {
        var open = engine ?? throw NotInitialized();
        if (options.MinFreeMegabytes == 0)
        {
            return;
        }

        var free = new DriveInfo(open.Path).AvailableFreeSpace;
        if (free < (long)options.MinFreeMegabytes << 20)
        {
            throw new StoreException(
                $"No space left for the embedded store at {open.Path}: {free / 1048576.0:F1} MiB free, flow inserts need {options.MinFreeMegabytes} MiB (Visibility:Store:MinFreeMegabytes)");
        }
    }

    private static bool IsOutOfSpace(ChdbException ex) =>
        ex.Message.Contains("NOT_ENOUGH_SPACE", StringComparison.Ordinal) || ex.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase);

    private static InvalidOperationException NotInitialized() =>
        new("The store is not initialized; InitializeAsync must complete first.");
}
