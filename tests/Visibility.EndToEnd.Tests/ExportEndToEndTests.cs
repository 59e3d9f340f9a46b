using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// SIEM export through the real program: records on the dev broker → `visibility serve` (ingest, store, export) →
/// a real rsyslog over TCP. The service is stopped mid-stream while records keep arriving in Kafka and started again;
/// every finding reaches rsyslog once. Also the sinks API and `visibility export`.
/// </summary>
public sealed partial class ExportEndToEndTests : IDisposable
{
    private readonly TempDirectory data = new("visibility-export-e2e");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task FindingsToRsyslog_ServiceRestartedMidStream_EachFindingOnce_SinksApi_ExportCommand()
    {
        using var receiver = await RsyslogReceiver.StartAsync();
        await using var rig = new IngestRig("export", partitions: 4);
        var environment = new Dictionary<string, string>(rig.Environment())
        {
            ["Visibility__Export__Sinks__soc__Type"] = "syslog",
            ["Visibility__Export__Sinks__soc__Protocol"] = "tcp",
            ["Visibility__Export__Sinks__soc__Host"] = "127.0.0.1",
            ["Visibility__Export__Sinks__soc__Port"] = receiver.TcpPort.ToString(CultureInfo.InvariantCulture),
            ["Visibility__Export__Sinks__soc__Format"] = "cef",
            ["Visibility__Export__Sinks__soc__Interval"] = "1s",
            ["Visibility__Export__Sinks__soc__Delay"] = "1s",
            ["Visibility__Export__MaxBackoff"] = "00:00:01",
            ["Visibility__Export__ConfirmTimeout"] = "00:00:02",
        };
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap, LingerMs = 5 }).Build();
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);

        await using (var service = VisibilityProcess.Start(data.Path, environment: environment))
        {
            await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
            using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
            {
                Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            }

            // dev-api-1 → prod-db-1 on a new port every record: a cross_env finding each.
            for (var round = 0; round < 6; round++)
            {
                rig.ProduceCrossEnv(producer, 20_000 + (round * 10), 10);
                await Task.Delay(500);
            }

            await receiver.WaitForAsync("tcp", 15, TimeSpan.FromSeconds(60));
            await service.StopAsync();
            Assert.Equal(0, service.ExitCode);
        }

        // While the service is down, more traffic reaches Kafka; then the service comes back and more follows.
        rig.ProduceCrossEnv(producer, 20_060, 60);
        await using (var service = VisibilityProcess.Start(data.Path, environment: environment))
        {
            await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
            rig.ProduceCrossEnv(producer, 20_120, 60);
            await rig.WaitCommittedToEndAsync(service, TimeSpan.FromSeconds(60));

            var findings = await service.Http.GetFromJsonAsync<JsonElement>($"/api/v1/findings?from={started.ToUnixTimeSeconds()}&limit=10000");
            var expected = findings.GetProperty("findings").EnumerateArray()
                .Select(f => (f.GetProperty("kind").GetString()!, f.GetProperty("service").GetString()!)).ToList();
            Assert.True(expected.Count(f => f.Item1 == "cross_env") == 180, $"{expected.Count(f => f.Item1 == "cross_env")} cross_env findings: {findings}\n{service.Output}");

            var received = await receiver.WaitForAsync("tcp", expected.Count, TimeSpan.FromSeconds(90));
            var status = await WaitForSinkAsync(service.Http, s => s.GetProperty("status").GetProperty("recordsConfirmed").GetInt64() > 0
                && s.GetProperty("status").GetProperty("pending").GetInt32() == 0
                && s.GetProperty("status").GetProperty("position").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddSeconds(-5));
            received = receiver.Received("tcp");
            var messages = received.Select(CefSyslogFinding.Parse).ToList();
            Assert.Equal(expected.Count, messages.Count);
            Assert.Equal(expected.Count, messages.Select(m => m.EventId).Distinct().Count());
            Assert.Equal(expected.Order(), messages.Select(m => (m.Kind, m.Service)).Order());
            Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), messages.Select(m => m.Sequence).Order());
            Assert.Equal("config", status.GetProperty("origin").GetString());

            var metrics = await service.Http.GetStringAsync("/metrics");
            Assert.Contains($"visibility_export_sequence{{format=\"cef\",sink=\"soc\"}} {expected.Count}", metrics, StringComparison.Ordinal);

            await SinksApiAsync(service, rig);
            await ExportCommandAsync(service, started, expected.Count);
        }
    }

    private async Task SinksApiAsync(VisibilityProcess service, IngestRig rig)
    {
        var http = service.Http;
        var file = Path.Combine(data.Path, "export", "summaries.jsonl");
        using (var created = await http.PostAsJsonAsync("/api/v1/export/sinks", new
        {
            name = "archive", type = "file", path = file, content = "summaries", format = "json", interval = "1s", delay = "1s",
            startAt = DateTimeOffset.UtcNow.AddMinutes(-2),
        }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        // Summaries of the last two minutes land in the file, one JSON object per line.
        await Eventually.TrueAsync(() => File.Exists(file) && File.ReadAllLines(file).Any(l => l.Contains("\"app\":\"db\"", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), "summaries in the file", interval: TimeSpan.FromMilliseconds(200));
        var summary = JsonDocument.Parse(File.ReadAllLines(file).First()).RootElement;
        Assert.Equal("flow_summary", summary.GetProperty("type").GetString());

        var list = await http.GetFromJsonAsync<JsonElement>("/api/v1/export/sinks");
        Assert.Equal(["archive", "soc"], list.EnumerateArray().Select(s => s.GetProperty("name").GetString()).Order());

        using (var duplicate = await http.PostAsJsonAsync("/api/v1/export/sinks", new { name = "archive", type = "file", path = file }))
        {
            Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        }

        using (var bad = await http.PostAsJsonAsync("/api/v1/export/sinks", new { name = "x", type = "syslog", protocol = "smtp", format = "xml", hots = "a" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("hots", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var bad = await http.PostAsJsonAsync("/api/v1/export/sinks", new { name = "x", type = "syslog", protocol = "smtp", format = "xml" }))
        {
            var text = await bad.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("protocol 'smtp'", text, StringComparison.Ordinal);
            Assert.Contains("host is required", text, StringComparison.Ordinal);
            Assert.Contains("format 'xml'", text, StringComparison.Ordinal);
        }

        // A test record through an unsaved Kafka definition, and one through a port nobody listens on.
        var topic = rig.Topic + "-siem";
        using (var test = await http.PostAsJsonAsync("/api/v1/export/test", new { type = "kafka", topic, format = "ocsf" }))
        {
            var result = await test.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(result.GetProperty("delivered").GetBoolean(), result.ToString());
        }

        using (var test = await http.PostAsJsonAsync("/api/v1/export/test", new { type = "syslog", host = "127.0.0.1", port = FreePorts.Tcp() }))
        {
            var result = await test.Content.ReadFromJsonAsync<JsonElement>();
            Assert.False(result.GetProperty("delivered").GetBoolean());
            Assert.Contains("refused", result.GetProperty("error").GetString()!, StringComparison.OrdinalIgnoreCase);
        }

        using (var configured = await http.DeleteAsync("/api/v1/export/sinks/soc"))
        {
            Assert.Equal(HttpStatusCode.Conflict, configured.StatusCode);
        }

        using (var deleted = await http.DeleteAsync("/api/v1/export/sinks/archive"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        using (var gone = await http.GetAsync("/api/v1/export/sinks/archive"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }
    }

    private async Task ExportCommandAsync(VisibilityProcess service, DateTimeOffset started, int findings)
    {
        var output = Path.Combine(data.Path, "findings.leef");
        var (exitCode, stdout, stderr) = await VisibilityProcess.RunCommandAsync(
            ["export", "--url", service.BaseUrl, "--format", "leef", "--from", started.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
             "--pieces", "7", "--out", output]);
        Assert.True(exitCode == 0, stderr + stdout);
        var lines = File.ReadAllLines(output);
        Assert.Equal(findings, lines.Length);
        Assert.All(lines, l => Assert.StartsWith("LEEF:2.0|Visibility|Visibility|1.0|", l, StringComparison.Ordinal));
        Assert.Equal(findings, lines.Select(l => EventIdAttribute().Match(l).Groups[1].Value).Distinct().Count());
        Assert.Contains("100%", stderr, StringComparison.Ordinal);
        Assert.Contains($"exported {findings:N0} findings records", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output + ".partial"));

        var (badExit, _, badError) = await VisibilityProcess.RunCommandAsync(["export", "--url", service.BaseUrl, "--format", "xml", "--last", "1h"]);
        Assert.Equal(1, badExit);
        Assert.Contains("format 'xml'", badError, StringComparison.Ordinal);
    }

    private static Task<JsonElement> WaitForSinkAsync(HttpClient http, Func<JsonElement, bool> done) =>
        Eventually.WaitAsync(() => http.GetFromJsonAsync<JsonElement>("/api/v1/export/sinks/soc"), done, TimeSpan.FromSeconds(60), "the sink settling", interval: TimeSpan.FromMilliseconds(200));

    [GeneratedRegex("\teventId=([^\t]+)")]
    private static partial Regex EventIdAttribute();
}
