using System.IO.Compression;
using System.Text;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO;
using ClickHouse.Driver.ADO.Parameters;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Flows.Labels;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Flows.Store.Server;

/// <summary>
/// The store on a ClickHouse server or cluster, through ClickHouse.Driver over HTTP. It runs the same SQL as the
/// embedded store (<see cref="StoreSql"/>, <see cref="FlowSchema"/>); values travel only as bound parameters
/// (<c>param_*</c>) or as insert data. Bulk inserts post the RowBinary bytes the ingest path already encoded as
/// <c>INSERT … FORMAT RowBinary</c>. Nothing here retries: the ingest writer does, and every error carries
/// ClickHouse's own message.
/// </summary>
public sealed class ServerFlowStore : IFlowStore, IDisposable
{
    private readonly StoreOptions options;
    private readonly ILogger<ServerFlowStore> logger;
    private readonly SemaphoreSlim initGate = new(1, 1);
    private ClickHouseClient? client;
    private bool compressInserts;
    private string endpoint = "";
    private bool ready;

    public ServerFlowStore(IOptions<StoreOptions> options, ILogger<ServerFlowStore> logger)
    {
        this.options = options.Value;
        this.logger = logger;
        Database = this.options.Database;
        Layout = this.options.Layout;
    }

    public string Database { get; }

    /// <summary>One server, or the configured cluster.</summary>
    public StoreLayout Layout { get; }

    /// <summary>
    /// Parses a ClickHouse.Driver connection string. The message of a failure never repeats the string, which
    /// may hold a password.
    /// </summary>
    public static ClickHouseClientSettings ParseConnectionString(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new StoreException("Visibility:Store:ConnectionString is required when Visibility:Store:Mode is 'server'.");
        }

        try
        {
            var builder = new ClickHouseConnectionStringBuilder { ConnectionString = connectionString };
            CheckKeys(builder);
            var settings = new ClickHouseClientSettings(builder);
            settings.Validate();
            return settings;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or InvalidCastException or OverflowException)
        {
            var reason = Redact(ex.Message, connectionString);
            throw new StoreException($"Visibility:Store:ConnectionString is not a valid ClickHouse connection string: {reason}", ex);
        }
    }

    /// <summary>Where the store connects, for logs and errors: scheme, host and port, never credentials.</summary>
    public static string DescribeEndpoint(ClickHouseClientSettings settings) =>
        $"{settings.Protocol}://{settings.Host}:{settings.Port}{settings.Path}";

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
            logger.LogInformation("Server store ready at {Endpoint}, database {Database}, {Layout}",
                endpoint, Database, Layout.Cluster is { } cluster ? $"cluster {cluster}{(Layout.Replicated ? "" : " (shards without replicas)")}" : "single server");
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

    /// <summary>Creates the client (it connects on the first request: nothing here meets the server).</summary>
    private void Open()
    {
        if (client is not null)
        {
            return;
        }

        var settings = ParseConnectionString(options.ConnectionString);

        // Every statement names its database, so the connection carries none: the database may not exist
        // before the first migration creates it.
        settings.Database = null;
        // A retried flow insert is dropped by the views' tables too, not only by the raw table (InsertToken). Set on
        // the connection, so that a connection string can still say otherwise (set_…=0).
        settings.CustomSettings.TryAdd(InsertToken.ViewsSetting, 1);
        if (Layout.IsCluster)
        {
            // An insert acknowledged through a Distributed table must already be on its shards, not queued
            // on the node that took it (the ingest writer commits Kafka offsets on that acknowledgement).
            settings.CustomSettings["distributed_foreground_insert"] = 1;
        }

        if (Layout.IsCluster && Layout.Replicated)
        {
            // ... and on a majority of each shard's replicas: a replica lost before the others fetched its part
            // then loses nothing that was acknowledged (and committed to Kafka), and the resume, which reads every
            // replica, finds every acknowledged row and progress.
            settings.CustomSettings["insert_quorum"] = "auto";
        }

        endpoint = DescribeEndpoint(settings);
        compressInserts = settings.UseCompression;
        client = new ClickHouseClient(settings);
    }

    public Task InsertFlowsAsync(IReadOnlyList<ReadOnlyMemory<byte>> chunks, FlowEncoding encoding, InsertToken token, CancellationToken cancellationToken)
    {
        var (sql, format) = StoreSql.InsertFlows(Database, encoding, token.TokenSetting);
        return StoreTelemetry.InsertAsync("server", Database, () => InsertAsync(sql, format, chunks, cancellationToken));
    }

    public Task RecordProgressAsync(IReadOnlyList<PartitionProgress> progress, CancellationToken cancellationToken) =>
        StoreTelemetry.ProgressAsync(Database, () => InsertAsync(IngestProgress.InsertSql(Database), "RowBinary", IngestProgress.Encode(progress), cancellationToken));

    public Task<IReadOnlyList<PartitionResume>> ResumeAsync(IReadOnlyCollection<KafkaPartition> partitions, CancellationToken cancellationToken) =>
        IngestProgress.ResumeAsync(
            Database, Layout, partitions,
            (sql, parameters, ct) => QueryTextAsync(sql, "TabSeparated", parameters, ct),
            cancellationToken);

    public Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken) =>
        StoreTelemetry.QueryAsync("server", Database, () => RunAsync(sql, format, parameters, read, cancellationToken));

    public Task InsertRowsAsync(string insertSql, string format, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        InsertAsync(insertSql, format, data, cancellationToken);

    public async Task UpsertWorkloadsAsync(IReadOnlyList<WorkloadSpec> workloads, CancellationToken cancellationToken)
    {
        if (workloads.Count == 0)
        {
            return;
        }

        await InsertAsync(StoreSql.InsertWorkloads(Database), "JSONEachRow", StoreSql.EncodeWorkloads(workloads, DateTime.UtcNow), cancellationToken);
    }

    public async Task<IReadOnlyList<WorkloadSpec>> LoadWorkloadsAsync(CancellationToken cancellationToken) =>
        StoreSql.DecodeWorkloads(await QueryTextAsync(StoreSql.LoadWorkloads(Database), "JSONEachRow", [], cancellationToken));

    public async Task<bool> DeleteWorkloadAsync(string name, CancellationToken cancellationToken)
    {
        if (!StoreSql.DecodeLive(await QueryTextAsync(StoreSql.WorkloadLive(Database), "TabSeparated", [new QueryParameter("name", name)], cancellationToken)))
        {
            return false;
        }

        await InsertAsync(StoreSql.InsertWorkloads(Database), "JSONEachRow", StoreSql.EncodeTombstone(name, DateTime.UtcNow), cancellationToken);
        return true;
    }

    public async Task<IReadOnlyList<int>> AppliedMigrationsAsync(CancellationToken cancellationToken) =>
        StoreSql.DecodeVersions(await QueryTextAsync(StoreSql.AppliedMigrations(Database), "TabSeparated", [], cancellationToken));

    public void Dispose()
    {
        client?.Dispose();
        initGate.Dispose();
    }

    private Task<string> QueryTextAsync(string sql, string format, IReadOnlyList<QueryParameter> parameters, CancellationToken cancellationToken) =>
        RunAsync(sql, format, parameters, static bytes => Encoding.UTF8.GetString(bytes), cancellationToken);

    /// <summary>
    /// Runs one statement through the driver's HTTP query path and hands its whole output, in
    /// <paramref name="format"/>, to <paramref name="read"/>.
    /// </summary>
    private async Task<T> RunAsync<T>(string sql, string format, IReadOnlyList<QueryParameter> parameters, ReadSpan<T> read, CancellationToken cancellationToken)
    {
        var current = client ?? throw NotInitialized();
        try
        {
            using var connection = current.CreateConnection();
            using var command = new ClickHouseCommand(connection) { CommandText = sql };
            foreach (var parameter in parameters)
            {
                // The driver takes each value's type from the {name:Type} placeholder and sends it as param_<name>.
                command.Parameters.Add(new ClickHouseDbParameter { ParameterName = parameter.Name, Value = parameter.Value });
            }

            command.CustomSettings["default_format"] = format;

            // The server buffers the whole result before answering, so an error found late is an HTTP error
            // with ClickHouse's message rather than a truncated 200 response.
            command.CustomSettings["wait_end_of_query"] = 1;
            using var result = await command.ExecuteRawResultAsync(cancellationToken);
            await using var body = await result.ReadDecompressedStreamAsync();
            using var buffer = new MemoryStream();
            await body.CopyToAsync(buffer, cancellationToken);
            return read(buffer.GetBuffer().AsSpan(0, checked((int)buffer.Length)));
        }
        catch (Exception ex) when (Translate(ex, cancellationToken) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>
    /// Inserts <paramref name="data"/>, encoded in <paramref name="format"/>, with <paramref name="insertSql"/>
    /// (<c>INSERT INTO db.table (columns)</c>): the SQL goes in the URL, the data as the request body.
    /// </summary>
    private Task InsertAsync(string insertSql, string format, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        InsertAsync(insertSql, format, [data], cancellationToken);

    private async Task InsertAsync(string insertSql, string format, IReadOnlyList<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken)
    {
        var current = client ?? throw NotInitialized();
        var compress = compressInserts;
        try
        {
            using var response = await current.PostStreamAsync(
                $"{insertSql} FORMAT {format}",
                async (stream, token) =>
                {
                    if (!compress)
                    {
                        foreach (var chunk in chunks)
                        {
                            await stream.WriteAsync(chunk, token);
                        }

                        return;
                    }

                    await using var gzip = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true);
                    foreach (var chunk in chunks)
                    {
                        await gzip.WriteAsync(chunk, token);
                    }
                },
                compress,
                cancellationToken);
        }
        catch (Exception ex) when (Translate(ex, cancellationToken) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>Driver and transport failures as <see cref="StoreException"/>s naming the endpoint; cancellation passes.</summary>
    private StoreException? Translate(Exception ex, CancellationToken cancellationToken) => ex switch
    {
        ClickHouseServerException server => new StoreException($"ClickHouse at {endpoint}: {server.Message.Trim()}", server),
        HttpRequestException http => new StoreException($"ClickHouse at {endpoint} is unreachable: {http.Message}", http),
        OperationCanceledException timeout when !cancellationToken.IsCancellationRequested =>
            new StoreException($"ClickHouse at {endpoint} did not answer in time", timeout),
        _ => null,
    };

    // The driver ignores keys it does not know and falls back to defaults for values it cannot read, so a
    // misspelt "Prot=9000" would silently talk to port 8123: both are refused here. Key names are safe to echo.
    private static void CheckKeys(ClickHouseConnectionStringBuilder builder)
    {
        var known = typeof(ClickHouseConnectionStringBuilder)
            .GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly)
            .Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (string key in builder.Keys)
        {
            if (!known.Contains(key) && !key.StartsWith("set_", StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"unknown key '{key}' (ClickHouse.Driver knows {string.Join(", ", known.Order(StringComparer.Ordinal))}, and set_<setting>)");
            }
        }

        if (builder.TryGetValue("Port", out var port) && !ushort.TryParse(Convert.ToString(port, System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture, out _))
        {
            throw new ArgumentException("Port must be a number from 1 to 65535");
        }

        if (builder.TryGetValue("Protocol", out var protocol) && protocol is not ("http" or "https"))
        {
            throw new ArgumentException("Protocol must be http or https");
        }
    }

    private static string Redact(string message, string connectionString)
    {
        var builder = new System.Data.Common.DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = connectionString;
        }
        catch (ArgumentException)
        {
            // Not even key=value pairs: nothing can be picked out, so say only that.
            return "it is not a list of key=value pairs";
        }

        foreach (var key in new[] { "Password", "BearerToken" })
        {
            if (builder.TryGetValue(key, out var secret) && secret is string { Length: > 0 } text)
            {
                message = message.Replace(text, "***", StringComparison.Ordinal);
            }
        }

        return message;
    }

    private static InvalidOperationException NotInitialized() =>
        new("The store is not initialized; InitializeAsync must complete first.");
}
