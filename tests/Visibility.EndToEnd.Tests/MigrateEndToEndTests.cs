using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Server;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// <c>visibility migrate</c> through the real program on a server store (the chDB HTTP endpoint as its own process):
/// two runs at once, on an empty store and on stores a previous release left with raw flows — one run applies the
/// migrations, the other waits for it and finds the schema current; the schema ends as a single run on an empty
/// store makes it, and the backfilled rollups equal the raw rows. And a process that does not migrate waiting for it.
/// </summary>
public sealed partial class MigrateEndToEndTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDirectory data = new("visibility-e2e-migrate");

    public void Dispose() => data.Dispose();

    [Theory]
    [InlineData(0, 0)]
    [InlineData(6, 4000)] // before the rollups: migrations 7-9 backfill them
    [InlineData(13, 4000)]
    [InlineData(15, 4000)] // before the flow verdicts (migration 16 alters the rollups and makes their views again)
    public async Task Migrate_TwoRunsAtOnce_OneAppliesTheOtherWaits_SchemaAsFreshAndRollupsEqualRaw(int version, int rows)
    {
        await using var endpoint = await ChdbHttpProcess.StartAsync(Path.Combine(data.Path, "chdb"), TimeSpan.FromSeconds(60));
        var database = $"e2e_migrate_{version}";
        using var store = await OpenAsync(endpoint, database);
        if (version > 0)
        {
            await OlderStore.PrepareAsync(store, version, rows, TimeSpan.FromDays(30));
        }

        var declared = FlowSchema.Migrations(database, TimeSpan.FromDays(30)).Select(m => m.Version).ToList();
        var runs = await Task.WhenAll(
            VisibilityProcess.RunCommandAsync(["migrate"], Settings(endpoint, database, "first")),
            VisibilityProcess.RunCommandAsync(["migrate"], Settings(endpoint, database, "second")));
        foreach (var (exit, stdout, stderr) in runs)
        {
            log.WriteLine($"exit {exit}\n{stdout}{stderr}");
            Assert.True(exit == 0, stdout + stderr);
        }

        // One run did the work; the other waited for it (or, had it started late, found nothing to do).
        var worker = Assert.Single(runs, r => Applied().IsMatch(r.Stdout));
        Assert.Equal(declared.Count - version, int.Parse(Applied().Match(worker.Stdout).Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Matches(@"Applying migration \d+ \(", worker.Stderr);
        var other = Assert.Single(runs, r => !Applied().IsMatch(r.Stdout));
        Assert.Matches(@"^schema current at version \d+: (.+ applied the migrations while this run waited|nothing to apply)\n$", other.Stdout);
        if (version is > 0 and < 9)
        {
            Assert.Matches(@"Migration 7: backfilled `e2e_migrate_\d+`\.flows_1m, \d+ rows", worker.Stderr);
        }

        Assert.Equal(declared, await store.AppliedMigrationsAsync(CancellationToken.None));
        Assert.Equal(declared.Count, int.Parse(await TextAsync(store, $"SELECT count() FROM `{database}`.schema_migrations"), CultureInfo.InvariantCulture));

        // The schema a single run gives an empty store.
        using var fresh = await OpenAsync(endpoint, "e2e_migrate_fresh");
        var (freshExit, freshOut, freshErr) = await VisibilityProcess.RunCommandAsync(["migrate"], Settings(endpoint, fresh.Database, "fresh"));
        Assert.True(freshExit == 0, freshOut + freshErr);
        Assert.Equal(await SchemaAsync(fresh), await SchemaAsync(store));

        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.True(check.RollupsMatch, string.Join('\n', check.Rollups.Select(r => $"{r.Table} {r.Closed} {r.Bytes} vs raw {check.Raw.Closed} {check.Raw.Bytes}")));
        Assert.Equal(FlowSchema.AllRollups.Count, check.Rollups.Count);
        Assert.Equal(rows > 0, check.Raw.Closed > 0);

        // A run on the current schema changes nothing; --check says so.
        var again = await VisibilityProcess.RunCommandAsync(["migrate", "--check"], Settings(endpoint, database, "check"));
        Assert.Equal((0, $"schema current at version {declared[^1]}\n"), (again.ExitCode, again.Stdout));
    }

    [Fact]
    public async Task Ingest_OnAServerStoreBehind_WaitsSayingToRunMigrate_CheckReportsPending_ThenIngestStarts()
    {
        await using var endpoint = await ChdbHttpProcess.StartAsync(Path.Combine(data.Path, "chdb"), TimeSpan.FromSeconds(60));
        const string database = "e2e_migrate_wait";
        using var store = await OpenAsync(endpoint, database);
        await OlderStore.PrepareAsync(store, 13, 100, TimeSpan.FromDays(30));

        var check = await VisibilityProcess.RunCommandAsync(["migrate", "--check"], Settings(endpoint, database, "check"));
        Assert.Equal(3, check.ExitCode);
        Assert.Matches(@"^schema at version 13; pending: 14 \(.+\)\n$", check.Stdout);

        // Without migrate the worker waits, not ready, saying what is missing; it gives up after SchemaWait.
        var settings = new Dictionary<string, string>(Settings(endpoint, database, "worker")) { ["Visibility__Store__SchemaWait"] = "00:00:03" };
        await using (var gaveUp = VisibilityProcess.Start(Path.Combine(data.Path, "w1"), environment: settings, command: "ingest"))
        {
            Assert.Equal(1, await gaveUp.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("this program needs migrations 14 (", gaveUp.Output, StringComparison.Ordinal);
            Assert.Contains("visibility: The store's schema is at version 13 and this program needs migrations 14", gaveUp.Output, StringComparison.Ordinal);
            Assert.Contains("run `visibility migrate`", gaveUp.Output, StringComparison.Ordinal);
        }

        // With time to wait, it starts once migrate has run.
        settings["Visibility__Store__SchemaWait"] = "00:02:00";
        await using var worker = VisibilityProcess.Start(Path.Combine(data.Path, "w2"), environment: settings, command: "ingest");
        await Eventually.TrueAsync(() => worker.Output.Contains("run `visibility migrate`", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
            "the worker saying it waits for migrate", () => worker.Output);
        var migrate = await VisibilityProcess.RunCommandAsync(["migrate"], Settings(endpoint, database, "migrate"));
        Assert.True(migrate.ExitCode == 0, migrate.Stdout + migrate.Stderr);
        await worker.WaitReadyAsync(TimeSpan.FromSeconds(60));
        Assert.Contains("Server store ready at", worker.Output, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Settings(ChdbHttpProcess endpoint, string database, string user) => new()
    {
        ["Visibility__Store__Mode"] = "server",
        ["Visibility__Store__ConnectionString"] = endpoint.ConnectionString(user),
        ["Visibility__Store__Database"] = database,
    };

    /// <summary>A store on the endpoint, opened without looking at the schema (this test process reads and prepares it).</summary>
    private static async Task<ServerFlowStore> OpenAsync(ChdbHttpProcess endpoint, string database)
    {
        var store = new ServerFlowStore(
            Options.Create(new StoreOptions { Mode = "server", ConnectionString = endpoint.ConnectionString("test"), Database = database }),
            NullLogger<ServerFlowStore>.Instance);
        await store.OpenAsync(CancellationToken.None);
        return store;
    }

    /// <summary>Every table (engine, full engine clause, definition) and column, with the database's name taken out.</summary>
    private static async Task<string> SchemaAsync(ServerFlowStore store)
    {
        var tables = await store.QueryAsync(
            "SELECT name, engine, replaceAll(engine_full, {db:String}, 'DB'), replaceAll(create_table_query, {db:String}, 'DB') FROM system.tables WHERE database = {db:String} ORDER BY name",
            "TabSeparated", static s => Encoding.UTF8.GetString(s), [new("db", store.Database)], CancellationToken.None);
        var columns = await store.QueryAsync(
            "SELECT table, position, name, type, default_kind, default_expression, compression_codec FROM system.columns WHERE database = {db:String} ORDER BY table, position",
            "TabSeparated", static s => Encoding.UTF8.GetString(s), [new("db", store.Database)], CancellationToken.None);
        Assert.Contains("flows_app_6h_mv", tables, StringComparison.Ordinal);
        return tables + columns;
    }

    private static async Task<string> TextAsync(ServerFlowStore store, string sql) =>
        (await store.QueryAsync(sql, "TabSeparated", static s => Encoding.UTF8.GetString(s), [], CancellationToken.None)).Trim();

    [GeneratedRegex(@"^applied (\d+) migrations; schema at version \d+\n$")]
    private static partial Regex Applied();
}
