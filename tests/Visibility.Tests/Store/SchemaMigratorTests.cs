using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Tests.Support;
using Xunit.Abstractions;

namespace Visibility.Tests.Store;

/// <summary>
/// The migration runner on the real engine: the lock (a second run waits naming the holder, then finds the work
/// done), a schema a newer release migrated (refused), a schema behind (a process that does not migrate waits and
/// says to run <c>visibility migrate</c>), and the backfills of migrations 7–9 (run again after a crash, and with rows
/// stored between the views and the backfill: the rollups still equal the raw rows).
/// </summary>
public sealed class SchemaMigratorTests(ITestOutputHelper output)
{
    /// <summary>Long enough that no test row expires.</summary>
    private static readonly TimeSpan Retention = TimeSpan.FromDays(3650);

    private static readonly TimeSpan Fast = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task Migrate_LockHeldByAnotherRun_WaitsNamingTheHolder_ThenFindsItsWorkDone()
    {
        var store = await OpenAsync();
        foreach (var statement in FlowSchema.BootstrapStatements(store.Database, StoreLayout.SingleServer))
        {
            await ExecuteAsync(store, statement);
        }

        var other = new StoreLease(store, store, SchemaMigrator.LockName, "other-run", TimeSpan.FromSeconds(4));
        Assert.True((await other.TryAcquireAsync(CancellationToken.None)).Held);
        var log = new RecordingLogger(output);
        var waiting = Migrator(store, log).MigrateAsync("this-run", CancellationToken.None);

        await Eventually.TrueAsync(() => log.Lines.Any(l => l.Contains("Waiting for the migration lock: other-run has it", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), "the waiting run naming the holder", () => string.Join('\n', log.Lines));
        Assert.False(waiting.IsCompleted);
        Assert.Empty(await store.AppliedMigrationsAsync(CancellationToken.None));

        // The holder does the work (the same holder name: it holds the lock) and lets go; the waiting run then finds nothing to do.
        var done = await Migrator(store, new RecordingLogger(output)).MigrateAsync("other-run", CancellationToken.None);
        Assert.Equal(Declared.Count, done.Applied);
        var result = await waiting;
        Assert.Equal(new MigrationResult(0, Declared[^1], "other-run"), result);
        Assert.Contains(log.Lines, l => l.Contains("other-run applied the migrations while this run waited", StringComparison.Ordinal));
        Assert.Equal(Declared, await store.AppliedMigrationsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Migrate_TwoRunsAtOnce_OneAppliesEverything_TheOtherNothing()
    {
        var store = await OpenAsync();
        var results = await Task.WhenAll(
            Migrator(store, new RecordingLogger(output)).MigrateAsync("a", CancellationToken.None),
            Migrator(store, new RecordingLogger(output)).MigrateAsync("b", CancellationToken.None));

        Assert.Equal(new[] { 0, Declared.Count }, results.Select(r => r.Applied).Order());
        Assert.Equal(Declared.Count, (await QueryAsync(store, $"SELECT version FROM `{store.Database}`.schema_migrations")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task StoreMigratedByNewerRelease_MigrateAndWaitRefuse()
    {
        var store = await OpenAsync();
        await Migrator(store, new RecordingLogger(output)).MigrateAsync("first", CancellationToken.None);
        await ExecuteAsync(store, $"INSERT INTO `{store.Database}`.schema_migrations (version, name) VALUES (99, 'from the future')");

        var migrate = await Assert.ThrowsAsync<StoreException>(() => Migrator(store, new RecordingLogger(output)).MigrateAsync("second", CancellationToken.None));
        var wait = await Assert.ThrowsAsync<StoreException>(() => Migrator(store, new RecordingLogger(output)).WaitForCurrentAsync(TimeSpan.FromMinutes(1), CancellationToken.None));
        foreach (var error in new[] { migrate, wait })
        {
            Assert.Contains("migrations this program does not know (99", error.Message, StringComparison.Ordinal);
            Assert.Contains("a newer release migrated it", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WaitForCurrent_SchemaBehind_SaysToRunMigrateUntilTheLimit_ThenFails()
    {
        var store = await OpenAsync();
        await OlderStore.PrepareAsync(store, version: 13, rows: 0, Retention);
        var log = new RecordingLogger(output);
        var migrator = Migrator(store, log);

        var error = await Assert.ThrowsAsync<StoreException>(() => migrator.WaitForCurrentAsync(TimeSpan.FromSeconds(1), CancellationToken.None));

        Assert.Contains("The store's schema is at version 13 and this program needs migrations 14 (insert deduplication", error.Message, StringComparison.Ordinal);
        Assert.Contains("run `visibility migrate`", error.Message, StringComparison.Ordinal);
        var said = log.Lines.Where(l => l.Contains("needs migrations 14 (", StringComparison.Ordinal) && l.Contains("run `visibility migrate`", StringComparison.Ordinal)).ToList();
        Assert.True(said.Count >= 2, string.Join('\n', log.Lines));
        Assert.Equal(Enumerable.Range(1, 13), await store.AppliedMigrationsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task WaitForCurrent_MigratedMeanwhile_Returns()
    {
        var store = await OpenAsync();
        var log = new RecordingLogger(output);
        var waiting = Migrator(store, log).WaitForCurrentAsync(TimeSpan.FromMinutes(2), CancellationToken.None);
        await Eventually.TrueAsync(() => log.Lines.Any(l => l.Contains("The store's schema is not created", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), "the wait saying the schema is missing");
        Assert.False(waiting.IsCompleted);

        await Migrator(store, new RecordingLogger(output)).MigrateAsync("migrate", CancellationToken.None);

        Assert.True((await waiting).Current);
    }

    [Fact]
    public async Task Backfills_RunAgainAfterACrash_WithRowsStoredBetweenViewsAndBackfill_RollupsEqualRawRows()
    {
        var store = await OpenAsync();
        await OlderStore.PrepareAsync(store, version: 6, rows: 3000, Retention);
        var seven = Declared7(store.Database);

        // Migration 7 up to its views, then rows arrive (through the views), then its backfill, then a crash before
        // the version is recorded: the next run applies 7 again, and 8 and 9 with theirs.
        var views = seven.Statements.TakeWhile(s => !s.StartsWith("TRUNCATE", StringComparison.Ordinal)).ToList();
        foreach (var statement in views)
        {
            await ExecuteAsync(store, statement);
        }

        await OlderStore.InsertRawAsync(store, 3000, 1500);
        foreach (var statement in seven.Statements.Skip(views.Count))
        {
            await ExecuteAsync(store, statement);
        }

        var result = await Migrator(store, new RecordingLogger(output)).MigrateAsync("after-crash", CancellationToken.None);

        Assert.Equal(Declared.Count - 6, result.Applied);
        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.Raw.Closed > 0 && check.Raw.Bytes > 0);
        Assert.True(check.RollupsMatch, string.Join('\n', check.Rollups.Select(r => $"{r.Table} {r.Closed} {r.Bytes} vs raw {check.Raw.Closed} {check.Raw.Bytes}")));
        Assert.Equal(FlowSchema.AllRollups.Count, check.Rollups.Count);
    }

    [Fact]
    public async Task Migrate_FromRelease15_OldRowsReadAsAllowedConnections_RollupsKeepTheirSums_NewAttemptsCountApart()
    {
        var store = await OpenAsync();
        await OlderStore.PrepareAsync(store, version: 15, rows: 3000, Retention);
        var rollups = FlowSchema.AllRollups.Except(FlowSchema.ServiceRollups).Select(r => r.Name).ToList();
        var before = await SumsAsync(store, rollups);

        var result = await Migrator(store, new RecordingLogger(output)).MigrateAsync("to-16", CancellationToken.None);
        Assert.Equal((Declared.Count(v => v > 15), Declared[^1]), (result.Applied, result.Version));

        // Every stored row is an allowed connection with nothing named; the rollups' sums are those of before.
        Assert.Equal("3000\t3000\t3000\t3000\t3000\t3000", (await QueryAsync(store,
            $"SELECT count(), countIf(verdict = 'allowed'), countIf(attempt = 0), countIf(audited = 0), countIf(verdict_reason = ''), countIf(empty(policies)) FROM {Db(store)}.flows_raw")).Trim());
        Assert.Equal(before, await SumsAsync(store, rollups));
        foreach (var rollup in rollups)
        {
            Assert.Equal("0\t0\t0", (await QueryAsync(store,
                $"SELECT countIf(verdict != 'allowed'), countIf(notEmpty(policies)), sum(attempts) FROM {Db(store)}.{rollup}")).Trim());
        }

        // The views were made again: a refused attempt stored now counts in attempts only, in every rollup.
        await ExecuteAsync(store, $"""
            INSERT INTO {Db(store)}.flows_raw (ts, end_ts, conn_id, event, proto, dst_port, bytes_out, packets_out, src_app, dst_app, src_env, dst_env,
                kafka_topic, kafka_partition, kafka_offset, counters_delta, verdict, attempt, verdict_reason, policies)
            VALUES (now64(3) - 30, 0, 7, 1, 6, 5432, 60, 1, 'app1', 'db', 'dev', 'prod', 'flows', 0, 900001, 1, 'blocked', 1, 'POLICY_DENIED', ['prod/deny-dev'])
            """);
        var after = await SumsAsync(store, rollups);
        foreach (var rollup in rollups)
        {
            Assert.Equal(before[rollup], after[rollup]);
            Assert.Equal("1\t1\t1", (await QueryAsync(store,
                $"SELECT sum(attempts), countIf(verdict = 'blocked'), countIf(has(policies, 'prod/deny-dev')) FROM {Db(store)}.{rollup}")).Trim());
        }

        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.RollupsMatch, string.Join('\n', check.Rollups.Select(r => $"{r.Table} {r.Closed} {r.Bytes} vs raw {check.Raw.Closed} {check.Raw.Bytes}")));

        // Run again, as after a crash before the version was recorded: nothing changes, nothing fails.
        foreach (var statement in FlowSchema.Migrations(store.Database, StoreRetention.RawOnly(Retention)).Single(m => m.Version == 16).Statements)
        {
            await ExecuteAsync(store, statement);
        }

        Assert.Equal(after, await SumsAsync(store, rollups));
    }

    [Fact]
    public async Task Migrate_FromRelease17_ServiceRollupsHoldEveryStoredRowPerService_KeepUpThroughTheViews_AndRefillAlike()
    {
        var store = await OpenAsync();
        await OlderStore.PrepareAsync(store, version: 17, rows: 3000, Retention);
        await ExecuteAsync(store, $"""
            INSERT INTO {Db(store)}.flows_raw (ts, end_ts, conn_id, event, proto, dst_port, bytes_out, packets_out, src_app, dst_app, src_env, dst_env,
                kafka_topic, kafka_partition, kafka_offset, counters_delta, verdict, attempt, verdict_reason, policies)
            VALUES (now64(3) - 30, 0, 7, 1, 6, 5432, 60, 1, 'app1', 'db', 'dev', 'prod', 'flows', 0, 900001, 1, 'blocked', 1, 'POLICY_DENIED', ['prod/deny-dev'])
            """);

        var result = await Migrator(store, new RecordingLogger(output)).MigrateAsync("to-18", CancellationToken.None);
        Assert.Equal((1, 18), (result.Applied, result.Version));

        // Filled from the rows stored: per app × env pair, service and verdict, the sums of flows_1h (the hourly table's
        // and the 6-hour one's), the refused attempt apart with its policy.
        await AssertServiceSumsAsync(store);
        foreach (var table in FlowSchema.ServiceRollups)
        {
            Assert.Equal("1\t1\t1", (await QueryAsync(store,
                $"SELECT sum(attempts), countIf(verdict = 'blocked'), countIf(has(policies, 'prod/deny-dev')) FROM {Db(store)}.{table.Name}")).Trim());
        }

        // Rows stored from now on reach them through the views.
        await OlderStore.InsertRawAsync(store, 3000, 1000);
        await AssertServiceSumsAsync(store);
        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.RollupsMatch, string.Join('\n', check.Rollups.Select(r => $"{r.Table} {r.Closed} {r.Bytes} vs raw {check.Raw.Closed} {check.Raw.Bytes}")));

        // Run again, as after a crash before the version was recorded: the same rows again.
        var tables = FlowSchema.ServiceRollups.Select(r => r.Name).ToList();
        var before = await SumsAsync(store, tables);
        foreach (var statement in FlowSchema.Migrations(store.Database, StoreRetention.RawOnly(Retention)).Single(m => m.Version == 18).Statements)
        {
            await ExecuteAsync(store, statement);
        }

        Assert.Equal(before, await SumsAsync(store, tables));
        await AssertServiceSumsAsync(store);
    }

    /// <summary>Each service rollup's sums per app × env pair, service, verdict and policies equal those of the finer table it is kept from.</summary>
    private static async Task AssertServiceSumsAsync(IFlowStore store)
    {
        foreach (var (table, from) in new[] { ("flows_app_svc_1h", "flows_1h"), ("flows_app_svc_6h", "flows_1h") })
        {
            string Sql(string t) => $"""
                SELECT src_app, src_env, dst_app, dst_env, proto, dst_port, verdict, policies,
                    sum(opened), sum(closed), sum(attempts), sum(bytes), sum(packets), min(first_seen), max(last_seen)
                FROM {Db(store)}.{t}
                GROUP BY ALL ORDER BY ALL
                """;
            var expected = await QueryAsync(store, Sql(from));
            Assert.Contains("5432", expected, StringComparison.Ordinal);
            Assert.Equal(expected, await QueryAsync(store, Sql(table)));
        }
    }

    /// <summary>Each table's connection, attempt and byte sums.</summary>
    private static async Task<Dictionary<string, string>> SumsAsync(IFlowStore store, IEnumerable<string> tables)
    {
        var sums = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            sums[table] = (await QueryAsync(store, $"SELECT sum(opened), sum(closed), sum(bytes), sum(packets), count() > 0 FROM {Db(store)}.{table}")).Trim();
        }

        return sums;
    }

    private static string Db(IFlowStore store) => FlowSchema.QuoteDatabase(store.Database);

    private static IReadOnlyList<int> Declared { get; } = [.. FlowSchema.Migrations("x", TimeSpan.FromDays(1)).Select(m => m.Version)];

    private static FlowSchema.Migration Declared7(string database) =>
        FlowSchema.Migrations(database, StoreRetention.RawOnly(Retention)).Single(m => m.Version == 7);

    private static SchemaMigrator Migrator(IFlowStore store, ILogger logger) =>
        new(store, store, StoreLayout.SingleServer, StoreRetention.RawOnly(Retention), logger)
        {
            LockDuration = TimeSpan.FromSeconds(4),
            PollInterval = Fast,
            ReportInterval = TimeSpan.FromMilliseconds(300),
        };

    /// <summary>A store in a database of its own, opened without looking at its schema.</summary>
    private static async Task<EmbeddedFlowStore> OpenAsync()
    {
        var store = new EmbeddedFlowStore(
            Options.Create(new StoreOptions { Path = TestStore.DataPath, Database = TestStore.NewDatabaseName(), Retention = Retention }),
            NullLogger<EmbeddedFlowStore>.Instance);
        await store.OpenAsync(CancellationToken.None);
        return store;
    }

    private static Task ExecuteAsync(IFlowStore store, string sql) => QueryAsync(store, sql);

    private static Task<string> QueryAsync(IFlowStore store, string sql) =>
        store.QueryAsync(sql, "TabSeparated", static s => Encoding.UTF8.GetString(s), [], CancellationToken.None);

    /// <summary>Keeps every line (and writes it to the test's output).</summary>
    private sealed class RecordingLogger(ITestOutputHelper output) : ILogger
    {
        private readonly ConcurrentQueue<string> lines = new();
        private readonly TestLogger inner = new(output, "migrate");

        public IReadOnlyList<string> Lines => [.. lines];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lines.Enqueue(formatter(state, exception));
            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
