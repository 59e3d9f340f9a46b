using System.Text;
using System.Text.Json;
using ClickHouse.Driver;
using Visibility.ChdbHttp;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Flows.Store.Server;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Tests.Support;

namespace Visibility.Tests.Store;

/// <summary>
/// The server store through the real driver over HTTP, against the chDB-backed test endpoint and, when
/// VISIBILITY_TEST_CLICKHOUSE is set, a real ClickHouse server. Results are compared with the embedded store
/// holding the same rows.
/// </summary>
public sealed class ServerFlowStoreTests
{
    private static readonly WorkloadIndex Index = WorkloadIndex.Build([
        new WorkloadSpec { Name = "dev-api", Addresses = ["10.20.2.10"], Labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "dev", ["team"] = "blue" } },
        new WorkloadSpec { Name = "prod-db", Addresses = ["10.10.3.0/24", "2001:db8::/64"], Labels = new Dictionary<string, string> { ["app"] = "db", ["env"] = "prod", ["team"] = "red", ["note"] = "quote ' tab \t newline \n ✓" } },
        new WorkloadSpec { Name = "prod-api", Addresses = ["10.10.2.10"], Labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "prod", ["role"] = "web", ["loc"] = "eu-1" } },
    ]);

    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    public static TheoryData<string> Targets => ServerTargets.All;

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task Migrations_ThroughServerTransport_ApplyOnceAndMatchEmbeddedSchema(string target)
    {
        var database = TestStore.NewDatabaseName();
        using var first = await ServerTargets.CreateAsync(target, database);
        using var second = await ServerTargets.CreateAsync(target, database);

        var versions = FlowSchema.Migrations(database, TimeSpan.FromDays(1)).Select(m => m.Version).ToList();
        Assert.Equal(versions, await first.AppliedMigrationsAsync(CancellationToken.None));
        Assert.Equal(versions, await second.AppliedMigrationsAsync(CancellationToken.None));
        var rows = await QueryTextAsync(second, $"SELECT count() FROM `{database}`.schema_migrations", "TabSeparated");
        Assert.Equal($"{versions.Count}\n", rows);

        var embedded = await TestStore.CreateAsync();
        Assert.Equal(await ColumnsAsync(embedded, embedded.Database), await ColumnsAsync(second, database));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task InsertFlows_ThroughServerStore_ComeBackByteForByte(string target)
    {
        using var store = await ServerTargets.CreateAsync(target);
        var embedded = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        foreach (var record in VariedRecords(20_000))
        {
            batch.Add(record);
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        await embedded.InsertFlowsAsync(batch.Rows, CancellationToken.None);

        // Rows are read back in insertion order (kafka_offset is the index) in the format they were written in.
        var read = $"SELECT {FlowSchema.FlowColumns} FROM {{0}}.{FlowSchema.FlowsTable} ORDER BY kafka_offset";
        var fromServer = await store.QueryAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, read, $"`{store.Database}`"), "RowBinary", static s => s.ToArray(), [], CancellationToken.None);
        var fromEmbedded = await embedded.QueryAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, read, $"`{embedded.Database}`"), "RowBinary", static s => s.ToArray(), [], CancellationToken.None);
        Assert.Equal(batch.Rows.Length, fromServer.Length);
        Assert.True(batch.Rows.Span.SequenceEqual(fromServer), "the stored rows differ from the inserted RowBinary");
        Assert.True(fromEmbedded.AsSpan().SequenceEqual(fromServer), "the server and the embedded store hold different rows");

        if (target == ServerTargets.ChdbHttp)
        {
            // What the driver sent: the statement in the URL (with a unique deduplication token: a one-off insert), the
            // rows as the (gzip) body, no database.
            var endpoint = await ServerTargets.EndpointAsync();
            var insert = Assert.Single(endpoint.Requests, r => r.InsertFormat == "RowBinary" && r.Sql!.Contains($"`{store.Database}`.{FlowSchema.FlowsTable}", StringComparison.Ordinal));
            Assert.Matches(
                "^" + System.Text.RegularExpressions.Regex.Escape(StoreSql.InsertFlows(store.Database) + " SETTINGS insert_deduplication_token = '") + "[0-9a-f]{32}'",
                insert.Sql);
            Assert.Equal("gzip", insert.ContentEncoding);
            Assert.Equal(batch.Rows.Length, insert.BodyBytes);
            Assert.False(insert.Url.ContainsKey("database"));
            Assert.Equal(200, insert.Status);
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task Workloads_UpsertedTwice_LoadLatestLikeEmbedded(string target)
    {
        using var store = await ServerTargets.CreateAsync(target);
        var embedded = await TestStore.CreateAsync();
        var first = new List<WorkloadSpec>
        {
            new() { Name = "web", Kind = "vm", Addresses = ["10.0.0.1"], Labels = new Dictionary<string, string> { ["app"] = "web", ["env"] = "prod" } },
            new() { Name = "db 'main'", Addresses = ["10.0.1.0/24"], Labels = new Dictionary<string, string> { ["app"] = "db", ["team"] = "a\tb\\c" } },
        };
        var second = new List<WorkloadSpec> { first[0] with { Labels = new Dictionary<string, string> { ["app"] = "web", ["env"] = "dev" } } };
        foreach (var s in new IFlowStore[] { store, embedded })
        {
            await s.UpsertWorkloadsAsync(first, CancellationToken.None);
            await s.UpsertWorkloadsAsync(second, CancellationToken.None);
            await s.UpsertWorkloadsAsync([], CancellationToken.None);
        }

        var loaded = await store.LoadWorkloadsAsync(CancellationToken.None);
        Assert.Equal(["db 'main'", "web"], loaded.Select(w => w.Name));
        Assert.Equal("dev", loaded.Single(w => w.Name == "web").Labels["env"]);
        Assert.Equal("a\tb\\c", loaded.Single(w => w.Name == "db 'main'").Labels["team"]);
        Assert.Equal(Json(await embedded.LoadWorkloadsAsync(CancellationToken.None)), Json(loaded));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task Graph_OverServerStore_EqualsGraphOverEmbeddedStore(string target)
    {
        using var store = await ServerTargets.CreateAsync(target);
        var embedded = await TestStore.CreateAsync();
        var batch = new FlowBatch();
        foreach (var record in VariedRecords(3_000))
        {
            batch.Add(record);
        }

        await store.InsertFlowsAsync(batch.Rows, CancellationToken.None);
        await embedded.InsertFlowsAsync(batch.Rows, CancellationToken.None);

        foreach (var groupBy in new[] { "app,env", "workload", "address", "team", "env,role,loc" })
        {
            Assert.True(GroupKey.TryParseList(groupBy, out var keys, out var error), error);
            var request = new GraphRequest(Now.AddHours(-1), Now.AddMinutes(1), keys, FilterClause.All, 1000);
            var overServer = await Query.GraphQueryTests.Query(store).RunAsync(request, CancellationToken.None);
            var overEmbedded = await Query.GraphQueryTests.Query(embedded).RunAsync(request, CancellationToken.None);
            Assert.NotEmpty(overServer.Edges);
            Assert.Equal(Json(overEmbedded), Json(overServer));
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task Resume_ThroughServerStore_ReportsRowsBeyondRecordedProgress(string target)
    {
        using var store = await ServerTargets.CreateAsync(target);
        var rows = new System.Buffers.ArrayBufferWriter<byte>();
        foreach (var (partition, count) in new[] { (0, 100), (1, 10) })
        {
            for (var offset = 0; offset < count; offset++)
            {
                var record = FlowRecord.Blank;
                record.StartMs = record.EndMs = Now.ToUnixTimeMilliseconds();
                record.SourceTopic = "t";
                record.SourcePartition = partition;
                record.SourceOffset = offset;
                FlowSchema.WriteRow(rows, record);
            }
        }

        await store.InsertFlowsAsync(rows.WrittenMemory, CancellationToken.None);
        await store.RecordProgressAsync([new PartitionProgress(new KafkaPartition("t", 0), 60)], CancellationToken.None);

        var resumed = await store.ResumeAsync([new KafkaPartition("t", 0), new KafkaPartition("t", 1)], CancellationToken.None);

        Assert.Equal(
            [
                new PartitionResume(new KafkaPartition("t", 0), 60, [.. Enumerable.Range(60, 40).Select(o => (long)o)]),
                new PartitionResume(new KafkaPartition("t", 1), null, [.. Enumerable.Range(0, 10).Select(o => (long)o)]),
            ],
            resumed);
        var check = await StoreCheck.RunAsync(store, CancellationToken.None);
        Assert.Equal((110L, 0L), (check.Rows, check.Duplicates));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task BadQuery_SurfacesClickHouseErrorText(string target)
    {
        using var store = await ServerTargets.CreateAsync(target);

        var missing = await Assert.ThrowsAsync<StoreException>(() => QueryTextAsync(store, "SELECT * FROM no_such_db_x.no_such_table", "JSONEachRow"));
        Assert.Contains("Code: 81", missing.Message, StringComparison.Ordinal);
        Assert.Contains("no_such_db_x", missing.Message, StringComparison.Ordinal);
        Assert.Contains("UNKNOWN_DATABASE", missing.Message, StringComparison.Ordinal);
        Assert.Equal(81, Assert.IsType<ClickHouseServerException>(missing.InnerException).ErrorCode);

        var syntax = await Assert.ThrowsAsync<StoreException>(() => QueryTextAsync(store, "SELEC 1", "TabSeparated"));
        Assert.Contains("SYNTAX_ERROR", syntax.Message, StringComparison.Ordinal);

        var insert = await Assert.ThrowsAsync<StoreException>(() => store.InsertFlowsAsync(new byte[] { 1, 2, 3 }, CancellationToken.None));
        Assert.Contains("DB::Exception", insert.Message, StringComparison.Ordinal);

        // The store stays usable after errors.
        Assert.Equal("2\n", await QueryTextAsync(store, "SELECT 1 + 1", "TabSeparated"));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task BoundParameters_HostileStrings_StayValues(string target)
    {
        using var store = await ServerTargets.CreateAsync(target);
        var hostile = new[]
        {
            $"x'); DROP DATABASE `{store.Database}`; --",
            "back\\slash \\' \\N \\t",
            "tab\there\nnewline\r\nend",
            "{other:String}",
            "ünïcødé ✓ 🙂",
            "\\",
            "'",
            "",
            "`; SELECT 1 FORMAT JSON",
            "&param_v0=evil&query=DROP",
        };
        var select = string.Join(", ", hostile.Select((_, i) => $"{{v{i}:String}} AS v{i}"));
        var parameters = hostile.Select((value, i) => new QueryParameter($"v{i}", value)).ToList();

        var json = await store.QueryAsync($"SELECT {select}", "JSONEachRow", static s => Encoding.UTF8.GetString(s), parameters, CancellationToken.None);

        using var row = JsonDocument.Parse(json);
        Assert.Equal(hostile, hostile.Select((_, i) => row.RootElement.GetProperty($"v{i}").GetString()));
        Assert.Equal("1\n", await store.QueryAsync(
            "SELECT count() FROM system.databases WHERE name = {db:String}", "TabSeparated", static s => Encoding.UTF8.GetString(s),
            [new QueryParameter("db", store.Database)], CancellationToken.None));

        if (target == ServerTargets.ChdbHttp)
        {
            // The values went as param_* URL values; the SQL text the endpoint ran holds none of them.
            var endpoint = await ServerTargets.EndpointAsync();
            var sent = Assert.Single(endpoint.Requests, r => r.Sql?.Contains(select, StringComparison.Ordinal) == true);
            Assert.All(hostile.Where(h => h.Length > 2), h => Assert.DoesNotContain(h, sent.Sql!, StringComparison.Ordinal));
            Assert.Equal(hostile.Length, sent.Url.Keys.Count(k => k.StartsWith("param_v", StringComparison.Ordinal)));
        }
    }

    [Fact]
    public async Task Initialize_ServerUnreachable_FailsNamingEndpointButNotPassword()
    {
        var port = FreePort();
        var error = await Assert.ThrowsAsync<StoreException>(() =>
            ServerTargets.CreateOnAsync($"Host=127.0.0.1;Port={port};Username=u;Password=sekrit-pw-1", null, null));
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("unreachable", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sekrit-pw-1", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Initialize_WrongPassword_FailsWithAuthenticationErrorButNotPassword()
    {
        await using var guarded = await ChdbHttpServer.StartAsync(new ChdbHttpOptions
        {
            DataPath = TestStore.DataPath,
            Connections = 1,
            User = "analyst",
            Password = "right-pw;'x",
        });

        var error = await Assert.ThrowsAsync<StoreException>(() =>
            ServerTargets.CreateOnAsync($"Host=127.0.0.1;Port={guarded.Port};Username=analyst;Password=wrong-pw-2", null, null));
        Assert.Contains("AUTHENTICATION_FAILED", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-pw-2", error.ToString(), StringComparison.Ordinal);

        using var store = await ServerTargets.CreateOnAsync(guarded.ConnectionString.Replace("Password=right-pw;'x", "Password=\"right-pw;'x\"", StringComparison.Ordinal), null, null);
        Assert.NotEmpty(await store.AppliedMigrationsAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData(null, "is required")]
    [InlineData("  ", "is required")]
    [InlineData("just some words Password=hunter2x", "not a valid ClickHouse connection string")]
    [InlineData("Host=db1;Prot=9000;Password=hunter2x", "unknown key 'prot'")]
    [InlineData("Host=db1;Port=eighty;Password=hunter2x", "Port must be a number")]
    [InlineData("Password=hunter2x;Protocol=tcp", "Protocol must be http or https")]
    public void ConnectionString_MissingOrInvalid_ExplainedWithoutEchoingIt(string? connectionString, string expected)
    {
        var error = Assert.Throws<StoreException>(() => ServerFlowStore.ParseConnectionString(connectionString));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2x", error.Message, StringComparison.Ordinal);
        var validation = new StoreOptionsValidator().Validate(null, new StoreOptions { Mode = "server", ConnectionString = connectionString });
        Assert.True(validation.Failed);
        Assert.Contains(expected, validation.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClusterLayout_OnServerWithoutThatCluster_FailsWithClickHouseMessage()
    {
        var endpoint = await ServerTargets.EndpointAsync();
        var database = TestStore.NewDatabaseName();
        using var store = new ServerFlowStore(Microsoft.Extensions.Options.Options.Create(new StoreOptions
        {
            Mode = "server",
            ConnectionString = endpoint.ConnectionString,
            Database = database,
            Cluster = "no_such_cluster",
            MigrateOnStart = true,
        }), Microsoft.Extensions.Logging.Abstractions.NullLogger<ServerFlowStore>.Instance);

        var error = await Assert.ThrowsAsync<StoreException>(() => store.InitializeAsync(CancellationToken.None));
        Assert.Contains("DB::Exception", error.Message, StringComparison.Ordinal);
        var sent = Assert.Single(endpoint.Requests, r => r.Sql == $"CREATE DATABASE IF NOT EXISTS `{database}` ON CLUSTER no_such_cluster");
        Assert.Equal("1", sent.Url["distributed_foreground_insert"]);
        Assert.Equal(500, sent.Status);
    }

    private static async Task<string> QueryTextAsync(IFlowStore store, string sql, string format) =>
        await store.QueryAsync(sql, format, static s => Encoding.UTF8.GetString(s), [], CancellationToken.None);

    private static Task<string> ColumnsAsync(IFlowStore store, string database) => store.QueryAsync(
        "SELECT table, name, type, default_expression, compression_codec FROM system.columns WHERE database = {db:String} ORDER BY table, position",
        "TabSeparated", static s => Encoding.UTF8.GetString(s), [new QueryParameter("db", database)], CancellationToken.None);

    private static string Json<T>(T value) => JsonSerializer.Serialize(value);

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Records over every column: IPv4 and IPv6, NAT, workloads with free-form labels, unknown and internet
    /// peers, NEW/DESTROY pairs and delta counters; kafka_offset is the record's index.
    /// </summary>
    internal static IEnumerable<FlowRecord> VariedRecords(int count)
    {
        string[] sources = ["10.20.2.10", "10.10.2.10", "10.99.0.5", "203.0.113.7", "2001:db8::7"];
        string[] destinations = ["10.10.3.10", "10.10.3.11", "2001:db8::1", "10.10.2.10", "198.51.100.1"];
        var start = Now.AddMinutes(-30).ToUnixTimeMilliseconds();
        for (var i = 0; i < count; i++)
        {
            Assert.True(IpAddressKey.TryParse(sources[i % sources.Length].AsSpan(), out var src));
            Assert.True(IpAddressKey.TryParse(destinations[(i / 3) % destinations.Length].AsSpan(), out var dst));
            var conversation = i / 2;
            var destroy = i % 2 == 1;
            var port = (ushort)(i % 7 == 0 ? 53 : 5432);
            var proto = (byte)(port == 53 ? 17 : 6);
            var ts = start + conversation;
            yield return new FlowRecord
            {
                StartMs = ts,
                EndMs = destroy ? ts + 1500 : 0,
                ConnectionId = ConnectionKey.Compute((uint)conversation, ts / 1000, proto, src, dst, (ushort)(30000 + (conversation % 20000)), port),
                Event = destroy ? FlowEvent.Destroy : FlowEvent.New,
                Protocol = proto,
                SrcIp = src,
                SrcPort = (ushort)(30000 + (conversation % 20000)),
                DstIp = dst,
                DstPort = port,
                NatSrcIp = i % 5 == 0 ? src + 1 : UInt128.Zero,
                NatSrcPort = i % 5 == 0 ? (ushort)(60000 + (i % 1000)) : (ushort)0,
                BytesOut = destroy ? (ulong)(100 + i) : 0,
                PacketsOut = destroy ? 2UL : 0,
                BytesIn = destroy ? (ulong)(1000 + i) : 0,
                PacketsIn = destroy ? 3UL : 0,
                CountersAreDeltas = i % 11 == 0,
                Connections = (uint)(i % 13 == 0 ? 4 : 1),
                Src = Index.Lookup(src),
                Dst = Index.Lookup(dst),
                SourcePartition = i % 4,
                SourceOffset = i,

                // Some refused attempts with a reason, some records naming the policies that decided them.
                Verdict = i % 17 == 0 ? FlowVerdict.Blocked : FlowVerdict.Allowed,
                IsAttempt = i % 17 == 0,
                Audited = i % 19 == 0,
                VerdictReason = i % 17 == 0 ? (i % 2 == 0 ? "POLICY_DENIED" : "reject") : null,
                Policies = i % 9 == 0 ? Policies[i % Policies.Length] : null,
            };
        }
    }

    private static readonly string[] Policies = ["shop/allow-web", "shop/deny-dev,team/b", "visibility-drop"];
}
