using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// <c>Visibility__Store__Mode=server</c> through the real program: <c>visibility serve</c> and a second
/// <c>visibility ingest</c> process share one store, the test ClickHouse HTTP endpoint running as its own process.
/// </summary>
public sealed class ServerModeEndToEndTests(Xunit.Abstractions.ITestOutputHelper log) : IDisposable
{
    private readonly TempDirectory data = new("visibility-e2e-server");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task ServerMode_ServeAndIngestProcesses_ShareOneStoreAndGraphCountsEveryConnectionOnce()
    {
        await using var endpoint = await ChdbHttpProcess.StartAsync(Path.Combine(data.Path, "chdb"), TimeSpan.FromSeconds(60));
        Dictionary<string, string> Environment(string user, string? bootstrap = null) => new()
        {
            ["Visibility__Store__Mode"] = "server",
            ["Visibility__Store__ConnectionString"] = endpoint.ConnectionString(user),
            ["Visibility__Store__Database"] = "e2e_server",
            ["Visibility__Kafka__BootstrapServers"] = bootstrap ?? "",

            // The mock broker holds a rebalance until every member rejoins or its session times out (45 s by
            // default); short sessions let the second process get its partitions in seconds.
            ["Visibility__Kafka__Properties__session.timeout.ms"] = "6000",
            ["Visibility__Kafka__Properties__heartbeat.interval.ms"] = "500",
        };

        // The schema is `visibility migrate`'s: serve and ingest on a server store wait for it, not migrate.
        var (migrated, migrateOut, migrateErr) = await VisibilityProcess.RunCommandAsync(["migrate"], Environment("migrate"));
        Assert.True(migrated == 0, migrateOut + migrateErr);
        Assert.Matches(@"^applied \d+ migrations; schema at version \d+\n$", migrateOut);

        // serve runs the dev broker in-process; the ingest process joins the same consumer group through it.
        await using var service = VisibilityProcess.Start(Path.Combine(data.Path, "unused-serve"), environment: Environment("serve"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        log.WriteLine($"ready {clock.Elapsed}");
        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        await using var worker = VisibilityProcess.Start(Path.Combine(data.Path, "unused-ingest"), environment: Environment("worker", service.Bootstrap), command: "ingest");

        // Keyed records spread over the partitions; produce rounds until both processes have stored some.
        var connections = 0;
        await Eventually.TrueAsync(
            () =>
            {
                if (StoredBy(endpoint, "serve") && StoredBy(endpoint, "worker"))
                {
                    return true;
                }

                Assert.False(worker.HasExited, $"the ingest process exited:\n{worker.Output}");
                connections = Produce(service.Bootstrap, connections, 40);
                return false;
            },
            TimeSpan.FromSeconds(90), "rows stored by both processes",
            () => $"endpoint log:\n{string.Join('\n', endpoint.Lines.TakeLast(40))}\ningest:\n{worker.Output}", TimeSpan.FromMilliseconds(300));

        log.WriteLine($"both stored {clock.Elapsed}, {connections} connections");
        var graph = await PipelineEndToEndTests.WaitForGraphAsync(
            service.Http, g => PipelineEndToEndTests.Edges(g).Values.Sum(e => e.Flows) >= connections, TimeSpan.FromSeconds(60));
        Assert.Equal(connections, PipelineEndToEndTests.Edges(graph).Values.Sum(e => e.Flows));
        log.WriteLine($"graph {clock.Elapsed}");
        Assert.Contains("Server store ready at http://127.0.0.1:", service.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serve", "", "Visibility:Store:ConnectionString is required when Visibility:Store:Mode is 'server'.")]
    [InlineData("ingest", "Host=127.0.0.1;Port={port};Username=u;Password=e2e-secret-pw", "is unreachable: Connection refused")]
    [InlineData("ingest", "Host=127.0.0.1;Port=notaport;Password=e2e-secret-pw", "Port must be a number")]
    public async Task ServerMode_StoreMissingInvalidOrUnreachable_ExitsWithOneLineReason(string command, string connectionString, string expected)
    {
        var port = FreePorts.Tcp().ToString(CultureInfo.InvariantCulture);
        await using var process = VisibilityProcess.Start(data.Path, command: command, environment: new Dictionary<string, string>
        {
            ["Visibility__Store__Mode"] = "server",
            ["Visibility__Store__ConnectionString"] = connectionString.Replace("{port}", port, StringComparison.Ordinal),
        });

        Assert.Equal(1, await process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var lines = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var reason = Assert.Single(lines, l => l.StartsWith("visibility: ", StringComparison.Ordinal));
        Assert.Contains(expected, reason, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain("e2e-secret-pw", process.Output, StringComparison.Ordinal);
    }

    private static bool StoredBy(ChdbHttpProcess endpoint, string user) =>
        endpoint.Lines.Any(l => l.Contains($"user={user} ", StringComparison.Ordinal) && l.Contains("-> 200 (insert RowBinary", StringComparison.Ordinal));

    /// <summary>Produces <paramref name="count"/> more demo connections (NEW and DESTROY, keyed by connection); returns the total.</summary>
    private static int Produce(string bootstrap, int already, int count)
    {
        var start = DateTimeOffset.UtcNow.AddMinutes(-2);
        using var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        for (var n = already + 1; n <= already + count; n++)
        {
            var (src, dst, proto, port) = DemoEstate.Conversations[n % DemoEstate.Conversations.Count];
            var c = new Ulogd2Writer.Connection((uint)n, src, dst, proto, (ushort)(20000 + (n % 40000)), port, start.AddMilliseconds(n), start.AddMilliseconds(n + 500),
                (ulong)(100 + n), 2, (ulong)(1000 + n), 3);
            var key = n.ToString(CultureInfo.InvariantCulture);
            producer.Produce("flows", new Message<string, string> { Key = key, Value = Ulogd2Writer.New(c) });
            producer.Produce("flows", new Message<string, string> { Key = key, Value = Ulogd2Writer.Destroy(c) });
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
        return already + count;
    }
}
