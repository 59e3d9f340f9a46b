using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The security test's first two findings against a real <c>serve</c> with authentication on: an exporter key
/// scoped to <c>env=dev</c> could overwrite any file the service can write through a file sink's path, and could
/// use the sink test as a port scanner (and a file-existence oracle through <c>caFile</c>). Each request below is
/// the one the report showed; each now gets a refusal and touches nothing.
/// </summary>
public sealed class ExportConfinementEndToEndTests(ConfinedExportServer server) : IClassFixture<ConfinedExportServer>
{
    private string ExportDirectory => server.ExportDirectory;

    private int AllowedPort => server.AllowedPort;

    private string Exporter => server.ExporterKey;

    private VisibilityProcess Serve => server.Serve;

    private string Outside => server.Outside.Path;

    [Fact]
    public async Task FileSinkTest_ExistingFileOutside_IsRefused_AndTheFileIsUntouched()
    {
        var victim = Path.Combine(Outside, "passwd");
        await File.WriteAllTextAsync(victim, "root:x:0:0:root:/root:/bin/bash\n");

        // The report's request: an existing file outside, rotated to .1 and replaced by a CEF line on today's main.
        var (status, body) = await SendAsync("/api/v1/export/test", Exporter, new { type = "file", path = victim, maxBytes = 4096, maxFiles = 1 });
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Contains("leaves the export directory", body, StringComparison.Ordinal);
        Assert.Equal("root:x:0:0:root:/root:/bin/bash\n", await File.ReadAllTextAsync(victim));
        Assert.False(File.Exists(victim + ".1"));

        // Traversal out of the export directory, into a folder that does not exist: refused, and no folder appears.
        var traversal = $"../../{Path.GetFileName(Outside)}/made/here.log";
        (status, body) = await SendAsync("/api/v1/export/test", Exporter, new { type = "file", path = traversal });
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.False(Directory.Exists(Path.Combine(Outside, "made")));

        // The same through a sink that would stream: refused before it is saved.
        (status, body) = await SendAsync("/api/v1/export/sinks", Exporter, new { name = "escape", type = "file", path = "../../../etc/cron.d/x" });
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync("/api/v1/export/sinks/escape", Exporter)).Status);
    }

    [Fact]
    public async Task FileSinkTest_LinkOrDeviceInsideTheExportDirectory_IsRefused()
    {
        Directory.CreateDirectory(ExportDirectory);
        var target = Directory.CreateDirectory(Path.Combine(Outside, "linked")).FullName;
        var victim = Path.Combine(target, "store-file");
        await File.WriteAllTextAsync(victim, "precious");
        File.CreateSymbolicLink(Path.Combine(ExportDirectory, "link"), target);
        File.CreateSymbolicLink(Path.Combine(ExportDirectory, "alias.log"), victim);

        foreach (var path in new[] { "link/store-file", "alias.log", "/dev/null" })
        {
            var (status, body) = await SendAsync("/api/v1/export/test", Exporter, new { type = "file", path, maxBytes = 4096, maxFiles = 1 });
            Assert.True(status == HttpStatusCode.BadRequest, $"{path}: {status}: {body}");
        }

        Assert.Equal("precious", await File.ReadAllTextAsync(victim));
        Assert.Equal(["store-file"], Directory.GetFiles(target).Select(Path.GetFileName));
    }

    [Fact]
    public async Task FileSinkTest_PathInsideTheExportDirectory_IsWrittenThere()
    {
        var (status, body) = await SendAsync("/api/v1/export/test", Exporter, new { type = "file", path = "soc/test.cef", format = "cef" });
        Assert.True(status == HttpStatusCode.OK, $"{status}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("delivered").GetBoolean(), body);
        var line = Assert.Single(await File.ReadAllLinesAsync(Path.Combine(ExportDirectory, "soc", "test.cef")));
        Assert.StartsWith("CEF:0|", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FileSinkTest_AnotherSinksFileOrItsRotations_IsRefused()
    {
        // An admin's sink writes soc/archive.jsonl; an exporter aims a test (which rotates at maxBytes) or a sink of
        // its own at that file or its rotated files.
        var (created, createdBody) = await SendAsync("/api/v1/export/sinks", null, new { name = "archive", type = "file", path = "soc/archive.jsonl", format = "json" });
        Assert.True(created == HttpStatusCode.Created, $"{created}: {createdBody}");
        foreach (var path in new[] { "soc/archive.jsonl", "soc/archive.jsonl.1", "soc/./archive.jsonl", Path.Combine(ExportDirectory, "soc", "archive.jsonl.5") })
        {
            var (status, body) = await SendAsync("/api/v1/export/test", Exporter, new { type = "file", path, maxBytes = 4096, maxFiles = 1 });
            Assert.True(status == HttpStatusCode.BadRequest, $"{path}: {status}: {body}");
            Assert.Contains("of another sink", body, StringComparison.Ordinal);
        }

        var (mine, mineBody) = await SendAsync("/api/v1/export/sinks", Exporter, new { name = "mine", type = "file", path = "soc/archive.jsonl" });
        Assert.True(mine == HttpStatusCode.BadRequest, $"{mine}: {mineBody}");
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync("/api/v1/export/sinks/archive", null, delete: true)).Status);
    }

    [Fact]
    public async Task SyslogSinkTest_ByAnExporter_IsNotAPortScanner()
    {
        // On today's main port 1 answered "Connection refused" and the service's own port "delivered". Now both get
        // one answer, before any connection, and so does a caFile naming a file that exists and one that does not.
        var answers = new List<string>();
        foreach (var target in new object[]
        {
            new { type = "syslog", protocol = "tcp", host = "127.0.0.1", port = 1 },
            new { type = "syslog", protocol = "tcp", host = "127.0.0.1", port = Serve.HttpPort },
            new { type = "syslog", protocol = "udp", host = "127.0.0.1", port = 53 },
            new { type = "kafka", topic = "probe", bootstrapServers = $"127.0.0.1:{Serve.BrokerPort.ToString(CultureInfo.InvariantCulture)}" },
        })
        {
            var (status, body) = await SendAsync("/api/v1/export/test", Exporter, target);
            Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
            answers.Add(JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()!);
        }

        Assert.Single(answers.Distinct());
        Assert.Contains("Visibility:Export:AllowedDestinations", answers[0], StringComparison.Ordinal);

        var caAnswers = new List<string>();
        foreach (var caFile in new[] { "/etc/shadow", "/etc/nonexistent" })
        {
            var (status, body) = await SendAsync("/api/v1/export/test", Exporter, new { type = "syslog", protocol = "tls", host = "127.0.0.1", port = AllowedPort, caFile });
            Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
            caAnswers.Add(JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()!.Replace(caFile, "<caFile>", StringComparison.Ordinal));
        }

        Assert.Single(caAnswers.Distinct());
        Assert.Contains("leaves the CA folder", caAnswers[0], StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", caAnswers[0], StringComparison.Ordinal);

        // A destination the operator listed works for the exporter; any destination for an admin.
        var (allowed, allowedBody) = await SendAsync("/api/v1/export/test", Exporter, new { type = "syslog", protocol = "tcp", host = "127.0.0.1", port = AllowedPort });
        Assert.True(allowed == HttpStatusCode.OK, $"{allowed}: {allowedBody}");
        Assert.True(JsonDocument.Parse(allowedBody).RootElement.GetProperty("delivered").GetBoolean(), allowedBody);
        var (admin, adminBody) = await SendAsync("/api/v1/export/test", null, new { type = "syslog", protocol = "tcp", host = "127.0.0.1", port = 1 });
        Assert.True(admin == HttpStatusCode.OK, $"{admin}: {adminBody}");
        Assert.False(JsonDocument.Parse(adminBody).RootElement.GetProperty("delivered").GetBoolean(), adminBody);
    }

    /// <summary>A request with the exporter's key, or the admin key (null); the answer's status and body.</summary>
    private async Task<(HttpStatusCode Status, string Body)> SendAsync(string path, string? credential, object? json = null, bool delete = false)
    {
        using var request = new HttpRequestMessage(delete ? HttpMethod.Delete : json is null ? HttpMethod.Get : HttpMethod.Post, path);
        if (credential is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        }

        if (json is not null)
        {
            request.Content = JsonContent.Create(json, json.GetType());
        }

        using var response = await Serve.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}

/// <summary>
/// One <c>serve</c> with authentication on whose operator allows one syslog destination (a TCP listener of the
/// test's), an exporter key scoped to <c>env=dev</c>, and a folder outside the export directory to aim at.
/// </summary>
public sealed class ConfinedExportServer : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory data = new("visibility-confine");
    private readonly TcpListener allowedReceiver = new(IPAddress.Loopback, 0);

    public TempDirectory Outside { get; } = new("visibility-victim");

    public VisibilityProcess Serve { get; private set; } = null!;

    public string ExporterKey { get; private set; } = "";

    public string ExportDirectory => Path.Combine(data.Path, "export");

    /// <summary>The operator's CA folder (empty: the test is about what lies outside it).</summary>
    public string CaDirectory => Path.Combine(data.Path, "ca");

    public int AllowedPort => ((IPEndPoint)allowedReceiver.LocalEndpoint).Port;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Outside.Path);
        Directory.CreateDirectory(CaDirectory);
        allowedReceiver.Start();
        _ = AcceptAndDrainAsync();
        Serve = VisibilityProcess.Start(data.Path, [], new Dictionary<string, string>
        {
            ["Visibility__Auth__Disabled"] = "false",
            ["Visibility__Export__AllowedDestinations__0"] = $"127.0.0.1:{AllowedPort.ToString(CultureInfo.InvariantCulture)}",
            ["Visibility__Export__CaDirectory"] = CaDirectory,
        });
        await Serve.WaitForPrintedKeyAsync(TimeSpan.FromSeconds(90));
        await Serve.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using var created = await Serve.Http.PostAsJsonAsync("/api/v1/keys", new { name = "dev-exporter", role = "exporter", scope = "env=dev" });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        ExporterKey = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("key").GetString()!;
    }

    /// <summary>The allowed syslog receiver: accepts connections and reads what arrives.</summary>
    private async Task AcceptAndDrainAsync()
    {
        try
        {
            while (true)
            {
                var client = await allowedReceiver.AcceptTcpClientAsync();
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        await client.GetStream().CopyToAsync(Stream.Null);
                    }
                });
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Stopped at the end of the test.
        }
    }

    public async Task DisposeAsync() => await Serve.DisposeAsync();

    public void Dispose()
    {
        allowedReceiver.Stop();
        allowedReceiver.Dispose();
        data.Dispose();
        Outside.Dispose();
    }
}
