using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Policy through the real program: the demo estate's traffic via the dev broker → `visibility serve`, then
/// `visibility policy draft | simulate | diff` and the API's checks on what it is given.
/// </summary>
public sealed class PolicyEndToEndTests : IDisposable
{
    private const string Unflagged = "not finding in (cross_env, unknown_source, internet_source)";
    private readonly TempDirectory data = new("visibility-policy-e2e");

    public void Dispose() => data.Dispose();

    [Fact]
    public async Task DraftSimulateDiff_FromTheCommandLine_AgainstObservedTraffic()
    {
        await using var rig = new IngestRig("policy", partitions: 2);
        await using var service = VisibilityProcess.Start(data.Path, environment: rig.Environment());
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using (var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap }).Build())
        {
            rig.Produce(producer, 0, DemoEstate.Conversations.Count * 3);
            producer.Flush(TimeSpan.FromSeconds(10));
        }

        await rig.WaitCommittedToEndAsync(service, TimeSpan.FromSeconds(60));
        var url = service.BaseUrl;
        var draftFile = Path.Combine(data.Path, "draft.json");
        var (exit, _, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "draft", "--url", url, "--last", "1h", "--name", "demo", "--out", draftFile]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("flagged flows left out", stderr, StringComparison.Ordinal);
        var ruleset = JsonDocument.Parse(File.ReadAllText(draftFile)).RootElement;
        var names = ruleset.GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("name").GetString()).ToList();
        Assert.Contains("app=api,env=prod -> app=db,env=prod", names);
        Assert.DoesNotContain("app=api,env=dev -> app=db,env=prod", names);     // cross_env: left out
        Assert.DoesNotContain(names, n => n!.StartsWith("internet", StringComparison.Ordinal));
        Assert.Equal("visibility.policy/v1", ruleset.GetProperty("schema").GetString());

        // --out into a folder that does not exist: a usage error naming it, not a crash.
        var nowhere = Path.Combine(data.Path, "no-such-folder", "draft.json");
        (exit, _, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "draft", "--url", url, "--last", "1h", "--out", nowhere]);
        Assert.True(exit == 2, stderr);
        Assert.Contains($"--out {nowhere}: cannot write it", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);

        // The traffic it was drafted from passes; everything including the flagged flows does not.
        (exit, var stdout, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "simulate", "--url", url, "--ruleset", draftFile, "--last", "1h", "--filter", Unflagged, "--fail-on-blocked"]);
        Assert.True(exit == 0, stdout + stderr);
        Assert.StartsWith("100.0% of ", stdout, StringComparison.Ordinal);

        (exit, stdout, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "simulate", "--url", url, "--ruleset", draftFile, "--last", "1h", "--fail-on-blocked"]);
        Assert.True(exit == 4, stdout + stderr);
        Assert.Contains("BLOCKED  app=api,env=dev -> app=db,env=prod  tcp/5432", stdout, StringComparison.Ordinal);
        Assert.Contains("BLOCKED  internet -> app=web,env=prod  tcp/443", stdout, StringComparison.Ordinal);

        // A draft with the flagged flows differs by exactly those rules.
        var everything = Path.Combine(data.Path, "everything.json");
        (exit, _, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "draft", "--url", url, "--last", "1h", "--include-flagged", "--out", everything]);
        Assert.True(exit == 0, stderr);
        (exit, stdout, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "diff", draftFile, everything]);
        Assert.True(exit == 3, stdout + stderr);
        Assert.Contains("+ app=api,env=dev -> app=db,env=prod  tcp/5432", stdout, StringComparison.Ordinal);
        Assert.Contains("0 removed, 0 changed", stdout, StringComparison.Ordinal);
        (exit, _, _) = await VisibilityProcess.RunCommandAsync(["policy", "diff", draftFile, draftFile]);
        Assert.Equal(0, exit);

        // Rendered: an nftables ruleset that nft accepts, and Kubernetes NetworkPolicies.
        var nftFile = Path.Combine(data.Path, "draft.nft");
        (exit, _, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "draft", "--url", url, "--last", "1h", "--format", "nftables", "--out", nftFile]);
        Assert.True(exit == 0, stderr);
        var nftText = File.ReadAllText(nftFile);
        Assert.Contains("table inet visibility", nftText, StringComparison.Ordinal);
        Assert.Contains("10.10.3.10", nftText, StringComparison.Ordinal);      // prod-db-1's address, from the inventory
        var check = await ProcessRunner.RunAsync("/usr/sbin/nft", ["-c", "-f", nftFile]);
        Assert.True(check.ExitCode == 0, check.Stderr);

        (exit, stdout, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "render", "--url", url, "--ruleset", draftFile, "--format", "networkpolicy"]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("kind: NetworkPolicy", stdout, StringComparison.Ordinal);
        // The demo's workloads are VMs: no pod selector stands for them, the file says so, and the draft's scope
        // (all traffic) is isolated by default.
        Assert.Contains("destination app=db,env=prod is vm workloads; NetworkPolicy selects pods only", stdout, StringComparison.Ordinal);
        Assert.Contains("name: visibility-default-deny-all", stdout, StringComparison.Ordinal);

        // Bad input is named.
        using (var bad = await service.Http.PostAsJsonAsync("/api/v1/policy/simulate", new
        {
            ruleset = new { name = "x", groupBy = Array.Empty<string>(), rules = new[] { new { name = "r", source = new { kind = "host", labels = new { } }, destination = new { kind = "internet", labels = new { } }, ports = new[] { new { protocol = "tcp", from = 90, to = 80 } } } } },
        }))
        {
            var text = await bad.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("rules[0].source.kind 'host'", text, StringComparison.Ordinal);
            Assert.Contains("rules[0].ports[0] 90-80", text, StringComparison.Ordinal);
        }

        using (var bad = await service.Http.GetAsync("/api/v1/policy/draft?groupBy=&filter=port%20%3D"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }
    }
}
