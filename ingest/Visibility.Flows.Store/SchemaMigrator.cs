using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Visibility.Flows.Store;

/// <summary>The schema as the store records it, held against the migrations this program declares.</summary>
/// <param name="Bootstrapped">Whether the migrations table exists.</param>
/// <param name="Applied">The versions recorded, ascending.</param>
/// <param name="Pending">The declared migrations not recorded, in order.</param>
/// <param name="Unknown">Recorded versions this program does not declare (a newer release migrated the store).</param>
public sealed record SchemaStatus(bool Bootstrapped, IReadOnlyList<int> Applied, IReadOnlyList<FlowSchema.Migration> Pending, IReadOnlyList<int> Unknown)
{
    /// <summary>Every declared migration recorded and nothing unknown.</summary>
    public bool Current => Bootstrapped && Pending.Count == 0 && Unknown.Count == 0;

    /// <summary>The store has migrations this program does not know.</summary>
    public bool Ahead => Unknown.Count > 0;

    /// <summary>The highest recorded version (0: none).</summary>
    public int Version => Applied.Count == 0 ? 0 : Applied[^1];

    /// <summary>The pending versions for people: <c>14 (insert deduplication…), 15 (…)</c>.</summary>
    public string PendingText => string.Join(", ", Pending.Select(m => $"{m.Version} ({m.Name})"));
}

/// <summary>What one <see cref="SchemaMigrator.MigrateAsync"/> did.</summary>
/// <param name="Applied">The migrations this run applied (0: the schema was current, or another run brought it there).</param>
/// <param name="Version">The schema version afterwards.</param>
/// <param name="WaitedFor">The holder of the migration lock this run waited for, if it waited.</param>
public sealed record MigrationResult(int Applied, int Version, string? WaitedFor);

/// <summary>
/// The one way the schema changes, for every store and every program (<c>visibility migrate</c>, and an embedded
/// <c>serve</c> at start): under the migration lock (a <see cref="StoreLease"/> named <see cref="LockName"/>,
/// renewed while it works), it applies the pending migrations in order, recording each, then brings the tables'
/// TTLs to the configured retention (<see cref="StoreRetentionSync"/>). DDL, <c>ON CLUSTER</c> on a cluster, runs
/// only when something changes: a current schema is checked with two reads. Processes that do not migrate wait for
/// the schema instead (<see cref="WaitForCurrentAsync"/>) and refuse a schema a newer release migrated.
/// </summary>
public sealed partial class SchemaMigrator(IFlowReader reader, IFlowCatalog catalog, StoreLayout layout, StoreRetention retention, ILogger logger)
{
    /// <summary>The lease that makes migrations one run at a time.</summary>
    public const string LockName = "migrate";

    /// <summary>How long a term of the migration lock lasts; the holder renews it while it works.</summary>
    public TimeSpan LockDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a waiting run looks at the lock or the schema again.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a waiting run says so in the log.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The migrator for <paramref name="store"/> as <paramref name="options"/> configure it (its layout and retention).</summary>
    public static SchemaMigrator For(IFlowStore store, StoreOptions options, ILogger logger) =>
        new(store, store, options.Layout, options.Retentions, logger);

    /// <summary>The migrations this program declares, distributed for the layout.</summary>
    public IReadOnlyList<FlowSchema.Migration> Declared => FlowSchema.Migrations(reader.Database, retention, layout);

    /// <summary>Reads the recorded versions (no DDL: a missing database or table reads as an empty schema).</summary>
    public async Task<SchemaStatus> StatusAsync(CancellationToken cancellationToken)
    {
        var exists = await TextAsync(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {table:String}",
            [new("db", reader.Database), new("table", FlowSchema.MigrationsTable)], cancellationToken);
        var declared = Declared;
        if (exists.Trim() == "0")
        {
            return new SchemaStatus(false, [], declared, []);
        }

        var applied = StoreSql.DecodeVersions(await TextAsync(StoreSql.AppliedMigrations(reader.Database), [], cancellationToken));
        var known = declared.Select(m => m.Version).ToHashSet();
        var recorded = applied.ToHashSet();
        return new SchemaStatus(true, applied, [.. declared.Where(m => !recorded.Contains(m.Version))], [.. applied.Where(v => !known.Contains(v))]);
    }

    /// <summary>
    /// Brings the schema to this program's version: refuses a schema with unknown versions; when something is pending,
    /// creates the database and the migrations and leases tables, takes the migration lock (waiting, and saying who
    /// has it, while another run does), reads the versions again, and applies what is still pending. Then the
    /// retention. <paramref name="holder"/> names this run in the lock.
    /// </summary>
    public async Task<MigrationResult> MigrateAsync(string holder, CancellationToken cancellationToken)
    {
        var status = await StatusAsync(cancellationToken);
        RefuseAhead(status);
        if (status.Current)
        {
            await SyncRetentionAsync(cancellationToken);
            logger.LogInformation("Schema current at version {Version}: no migration to apply", status.Version);
            return new MigrationResult(0, status.Version, null);
        }

        logger.LogInformation("Schema at version {Version}; pending: {Pending}", status.Version, status.PendingText);
        foreach (var statement in FlowSchema.BootstrapStatements(reader.Database, layout))
        {
            await ExecuteAsync(statement, cancellationToken);
        }

        var lease = new StoreLease(reader, catalog, LockName, holder, LockDuration);
        var waitedFor = await AcquireAsync(lease, cancellationToken);
        using var working = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewal = RenewAsync(lease, working);
        try
        {
            status = await StatusAsync(working.Token);
            RefuseAhead(status);
            if (status.Pending.Count == 0)
            {
                logger.LogInformation("Schema current at version {Version}: {Holder} applied the migrations while this run waited", status.Version, waitedFor ?? "another run");
                return new MigrationResult(0, status.Version, waitedFor);
            }

            foreach (var migration in status.Pending)
            {
                await ApplyAsync(migration, working.Token);
            }

            await SyncRetentionAsync(working.Token);
            var version = status.Pending[^1].Version;
            logger.LogInformation("Applied {Count} migrations; schema at version {Version}", status.Pending.Count, version);
            return new MigrationResult(status.Pending.Count, version, waitedFor);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && renewal.IsCompleted && renewal.Result is { } thief)
        {
            throw new StoreException($"Lost the migration lock to {thief} while migrating (this run was too slow to renew it): run `visibility migrate` again once it has finished.");
        }
        finally
        {
            await working.CancelAsync();
            await renewal;
            try
            {
                await lease.ReleaseAsync(CancellationToken.None);
            }
            catch (Exception ex) when (IsStoreFailure(ex))
            {
                // Not released, the lock runs out after LockDuration; what failed the run is the error to report.
                logger.LogWarning("Could not release the migration lock (it expires by itself): {Reason}", ex.Message);
            }
        }
    }

    private static bool IsStoreFailure(Exception ex) => ex is StoreException or Chdb.ChdbException or HttpRequestException;

    /// <summary>
    /// The schema step of opening a store (<see cref="IFlowCatalog.InitializeAsync"/>): migrates when
    /// <see cref="StoreOptions.MigratesOnStart"/>, else waits up to <see cref="StoreOptions.SchemaWait"/> for the schema.
    /// </summary>
    public async Task AtStartAsync(StoreOptions options, CancellationToken cancellationToken)
    {
        if (options.MigratesOnStart)
        {
            await MigrateAsync(StoreLease.ProcessHolder("start"), cancellationToken);
        }
        else
        {
            await WaitForCurrentAsync(options.SchemaWait, cancellationToken);
        }
    }

    /// <summary>
    /// For processes that do not migrate: returns once the schema is current, checking every
    /// <see cref="PollInterval"/> and logging every <see cref="ReportInterval"/> which versions are missing and that
    /// <c>visibility migrate</c> brings them; fails after <paramref name="limit"/>, or at once when the store has
    /// versions this program does not know.
    /// </summary>
    public async Task<SchemaStatus> WaitForCurrentAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var nextReport = TimeSpan.Zero;
        while (true)
        {
            var status = await StatusAsync(cancellationToken);
            RefuseAhead(status);
            if (status.Current)
            {
                if (clock.Elapsed > PollInterval)
                {
                    logger.LogInformation("Schema at version {Version} after waiting {Waited:F0} s", status.Version, clock.Elapsed.TotalSeconds);
                }

                return status;
            }

            var behind = status.Bootstrapped ? $"at version {status.Version}" : "not created";
            if (clock.Elapsed >= limit)
            {
                throw new StoreException(
                    $"The store's schema is {behind} and this program needs migrations {status.PendingText}: run `visibility migrate` " +
                    $"(waited {limit.TotalSeconds:F0} s, Visibility:Store:SchemaWait; or Visibility:Store:MigrateOnStart=true to migrate at start).");
            }

            if (clock.Elapsed >= nextReport)
            {
                logger.LogWarning(
                    "The store's schema is {Behind}; this program needs migrations {Pending}: run `visibility migrate`. Waiting ({Left:F0} s left, Visibility:Store:SchemaWait)",
                    behind, status.PendingText, (limit - clock.Elapsed).TotalSeconds);
                nextReport += ReportInterval;
            }

            var pause = limit - clock.Elapsed;
            await Task.Delay(pause < PollInterval ? pause : PollInterval, cancellationToken);
        }
    }

    private static void RefuseAhead(SchemaStatus status)
    {
        if (status.Ahead)
        {
            throw new StoreException(
                $"The store's schema has migrations this program does not know ({string.Join(", ", status.Unknown)}; it knows up to {status.Applied.Where(v => !status.Unknown.Contains(v)).DefaultIfEmpty().Max()}): " +
                "a newer release migrated it. Run that release (or newer); this one refuses to use the store.");
        }
    }

    /// <summary>Takes the lock, saying every <see cref="ReportInterval"/> who has it meanwhile. Returns the holder waited for, if any.</summary>
    private async Task<string?> AcquireAsync(StoreLease lease, CancellationToken cancellationToken)
    {
        string? waitedFor = null;
        var clock = Stopwatch.StartNew();
        var nextReport = TimeSpan.Zero;
        while (true)
        {
            var state = await lease.TryAcquireAsync(cancellationToken);
            if (state.Held)
            {
                logger.LogInformation("Took the migration lock as {Holder}{Waited}", lease.Holder,
                    waitedFor is null ? "" : $" after waiting {clock.Elapsed.TotalSeconds:F0} s for {waitedFor}");
                return waitedFor;
            }

            waitedFor = state.Holder ?? waitedFor;
            if (clock.Elapsed >= nextReport)
            {
                logger.LogInformation("Waiting for the migration lock: {Holder} has it (until {Expires:HH:mm:ss} UTC unless it renews)",
                    state.Holder ?? "another run", state.ExpiresAt);
                nextReport += ReportInterval;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    /// <summary>Keeps the lock while the migrations run; when another holder has it, cancels the work and returns that holder.</summary>
    private async Task<string?> RenewAsync(StoreLease lease, CancellationTokenSource working)
    {
        try
        {
            while (true)
            {
                await Task.Delay(LockDuration / 4, working.Token);
                var state = await lease.TryAcquireAsync(working.Token);
                if (!state.Held && state.Holder is not null)
                {
                    logger.LogError("Lost the migration lock to {Holder}", state.Holder);
                    await working.CancelAsync();
                    return state.Holder;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            // The migration's own statements meet the same store: their failure is the one reported.
            logger.LogWarning("Could not renew the migration lock: {Reason}", ex.Message);
            return null;
        }
    }

    private async Task ApplyAsync(FlowSchema.Migration migration, CancellationToken cancellationToken)
    {
        logger.LogInformation("Applying migration {Version} ({Name}): {Count} statements", migration.Version, migration.Name, migration.Statements.Count);
        var clock = Stopwatch.StartNew();
        foreach (var statement in migration.Statements)
        {
            var step = Stopwatch.StartNew();
            await ExecuteAsync(statement, cancellationToken);
            if (Backfill().Match(statement) is { Success: true } backfill)
            {
                var table = backfill.Groups["table"].Value;
                var rows = (await TextAsync($"SELECT count() FROM {table}", [], cancellationToken)).Trim();
                logger.LogInformation("Migration {Version}: backfilled {Table}, {Rows} rows, in {Elapsed:F1} s", migration.Version, table, rows, step.Elapsed.TotalSeconds);
            }
        }

        await TextAsync(StoreSql.RecordMigration(reader.Database), StoreSql.RecordMigrationParameters(migration), cancellationToken);
        logger.LogInformation("Applied migration {Version} ({Name}) in {Elapsed:F1} s", migration.Version, migration.Name, clock.Elapsed.TotalSeconds);
    }

    private async Task SyncRetentionAsync(CancellationToken cancellationToken)
    {
        var (sql, parameters) = StoreRetentionSync.CurrentQuery(reader.Database, layout);
        var current = await reader.QueryAsync(sql, "TSVRaw", static span => Encoding.UTF8.GetString(span), parameters, cancellationToken);
        foreach (var (statement, change) in StoreRetentionSync.Changes(reader.Database, retention, layout, current))
        {
            await ExecuteAsync(statement, cancellationToken);
            logger.LogInformation("Retention changed: {Change}", change);
        }
    }

    private async Task ExecuteAsync(string statement, CancellationToken cancellationToken) => await TextAsync(statement, [], cancellationToken);

    private Task<string> TextAsync(string sql, IReadOnlyList<Chdb.QueryParameter> parameters, CancellationToken cancellationToken) =>
        reader.QueryAsync(sql, "TabSeparated", static span => Encoding.UTF8.GetString(span), parameters, cancellationToken);

    [GeneratedRegex(@"^\s*INSERT INTO (?<table>`[A-Za-z0-9_]+`\.[A-Za-z0-9_]+)\s+SELECT\b")]
    private static partial Regex Backfill();
}

