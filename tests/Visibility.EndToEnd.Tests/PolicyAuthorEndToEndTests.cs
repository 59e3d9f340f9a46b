using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Visibility.Ingest.Demo;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// What a policy author hit when trying the policy verbs as a new user would (issue 20, item 6), each against
/// the demo estate's traffic in a real `visibility serve` (its workloads are VMs), through the API and the CLI.
/// </summary>
public sealed class PolicyAuthorEndToEndTests(DemoTrafficServer server) : IClassFixture<DemoTrafficServer>
{
    /// <summary>Peers as docs/policy.md allows them: <c>{"kind":"internet"}</c>, without <c>labels</c>.</summary>
    private const string PeersWithoutLabels = """
        {"schema": "visibility.policy/v1", "name": "hand", "groupBy": ["app", "env"], "rules": [
          {"name": "internet -> web", "source": {"kind": "internet"}, "destination": {"kind": "workload", "labels": {"app": "web", "env": "prod"}},
           "ports": [{"protocol": "tcp", "from": 443, "to": 443}]},
          {"name": "web -> internet", "source": {"kind": "workload", "labels": {"app": "web"}}, "destination": {"kind": "internet"},
           "ports": [{"protocol": "tcp", "from": 443, "to": 443}]},
          {"name": "unknown -> web", "source": {"kind": "unknown"}, "destination": {"kind": "workload", "labels": {"app": "web", "env": "prod"}},
           "ports": [{"protocol": "tcp", "from": 22, "to": 22}]}
        ]}
        """;

    [Fact]
    public async Task PeersWithoutLabels_AreAcceptedBySimulateRenderAndDiff()
    {
        var (status, body) = await PostAsync("/api/v1/policy/simulate", $$"""{"ruleset": {{PeersWithoutLabels}}, "last": "1h"}""");
        Assert.True(status == HttpStatusCode.OK, body);
        var result = JsonDocument.Parse(body).RootElement;
        Assert.True(result.GetProperty("allowedFlows").GetInt64() > 0, body);       // internet → prod web on 443 is in the demo traffic

        foreach (var format in new[] { "nftables", "networkpolicy" })
        {
            (status, body) = await PostAsync($"/api/v1/policy/render?format={format}", PeersWithoutLabels);
            Assert.True(status == HttpStatusCode.OK, format + ": " + body);
        }

        (status, body) = await PostAsync("/api/v1/policy/diff", $$"""{"before": {{PeersWithoutLabels}}, "after": {{PeersWithoutLabels}}}""");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Equal(3, JsonDocument.Parse(body).RootElement.GetProperty("unchanged").GetInt32());

        // The command line reads such files too.
        var file = Path.Combine(server.Data.Path, "hand.json");
        await File.WriteAllTextAsync(file, PeersWithoutLabels);
        var (exit, stdout, stderr) = await RunAsync("policy", "simulate", "--ruleset", file, "--last", "1h");
        Assert.True(exit == 0, stdout + stderr);
        Assert.EndsWith("all traffic\n", stdout.Split("BLOCKED", 2)[0], StringComparison.Ordinal);
        (exit, stdout, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "diff", file, file]);
        Assert.True(exit == 0, stdout + stderr);

        // A workload peer without labels is still refused: "any workload" has to be written as labels {}.
        (status, body) = await PostAsync("/api/v1/policy/render?format=nftables", PeersWithoutLabels.Replace("{\"kind\": \"unknown\"}", "{\"kind\": \"workload\"}", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("rules[2].source.labels", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_WithoutRangeOrFilter_JudgesOnlyTheTrafficTheDraftGoverns()
    {
        var draftFile = Path.Combine(server.Data.Path, "prod.json");
        var (exit, _, stderr) = await RunAsync("policy", "draft", "--last", "1h", "--filter", "dst.env = prod", "--include-flagged", "--name", "prod", "--out", draftFile);
        Assert.True(exit == 0, stderr);

        // The draft covers its scope (destinations in env=prod) fully; dev → dev is not its business.
        (exit, var stdout, stderr) = await RunAsync("policy", "simulate", "--ruleset", draftFile, "--fail-on-blocked");
        Assert.True(exit == 0, stdout + stderr);
        Assert.StartsWith("100.0% of ", stdout, StringComparison.Ordinal);
        Assert.Contains("dst.env = prod", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("env=dev -> app=api,env=dev", stdout, StringComparison.Ordinal);

        // Asked for all traffic, the rest of the estate shows up as blocked.
        (exit, stdout, stderr) = await RunAsync("policy", "simulate", "--ruleset", draftFile, "--all-traffic", "--fail-on-blocked");
        Assert.True(exit == 4, stdout + stderr);
        Assert.Contains("BLOCKED  app=api,env=dev -> app=db,env=dev  tcp/5432", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RenderNetworkPolicy_VmWorkloads_AreLeftOutWithANote_AndTheScopeIsDeniedByDefault()
    {
        var draftFile = Path.Combine(server.Data.Path, "prod-np.json");
        var (exit, _, stderr) = await RunAsync("policy", "draft", "--last", "1h", "--filter", "dst.env = prod", "--name", "prod", "--out", draftFile);
        Assert.True(exit == 0, stderr);
        (exit, var yaml, stderr) = await RunAsync("policy", "render", "--ruleset", draftFile, "--format", "networkpolicy");
        Assert.True(exit == 0, stderr);

        // Every demo workload is a VM: no pod selector stands for them, and the file says so.
        Assert.Contains("# not rendered: app=api,env=prod -> app=db,env=prod: destination app=db,env=prod is vm workloads", yaml, StringComparison.Ordinal);
        Assert.DoesNotContain("visibility-allow-app-db-env-prod", yaml, StringComparison.Ordinal);
        // The scope is isolated whatever the rules: pods with env=prod get no ingress but what a rule allows.
        Assert.Contains("name: visibility-default-deny-env-prod", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RenderNftables_ForOneHost_HasOnlyWhatReachesIt_AndTheManagementAllowList()
    {
        var draftFile = Path.Combine(server.Data.Path, "all.json");
        var (exit, _, stderr) = await RunAsync("policy", "draft", "--last", "1h", "--name", "all", "--out", draftFile);
        Assert.True(exit == 0, stderr);
        var nftFile = Path.Combine(server.Data.Path, "prod-db-1.nft");
        (exit, _, stderr) = await RunAsync("policy", "render", "--ruleset", draftFile, "--format", "nftables", "--host", "prod-db-1", "--management-allow", "192.0.2.10/32,2001:db8::/64", "--out", nftFile);
        Assert.True(exit == 0, stderr);
        var nft = File.ReadAllText(nftFile);
        Assert.Contains("comment \"app=api,env=prod -> app=db,env=prod\"", nft, StringComparison.Ordinal);
        Assert.DoesNotContain("-> app=api,env=prod\"", nft, StringComparison.Ordinal);      // web → api does not reach prod-db-1
        Assert.DoesNotContain("10.20.3.10", nft, StringComparison.Ordinal);                 // nor does anything to dev-db-1
        Assert.Contains("ip saddr 192.0.2.10 accept comment \"management\"", nft, StringComparison.Ordinal);
        Assert.Contains("ip6 saddr 2001:db8::/64 accept comment \"management\"", nft, StringComparison.Ordinal);
        var check = await ProcessRunner.RunAsync("/usr/sbin/nft", ["-c", "-f", nftFile]);
        Assert.True(check.ExitCode == 0, check.Stderr);

        // The all-hosts file still has every rule; a host that is not in the inventory is named.
        (exit, var all, stderr) = await RunAsync("policy", "render", "--ruleset", draftFile, "--format", "nftables");
        Assert.True(exit == 0, stderr);
        Assert.Contains("-> app=api,env=prod\"", all, StringComparison.Ordinal);
        var (status, body) = await PostAsync("/api/v1/policy/render?format=nftables&host=no-such-host", File.ReadAllText(draftFile));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("no-such-host", body, StringComparison.Ordinal);
        (status, body) = await PostAsync("/api/v1/policy/render?format=nftables&managementAllow=10.0.0.0/33", File.ReadAllText(draftFile));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("10.0.0.0/33", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Draft_IsWrittenPlain_AndDiffJsonIsCamelCase()
    {
        var draftFile = Path.Combine(server.Data.Path, "plain.json");
        var (exit, _, stderr) = await RunAsync("policy", "draft", "--last", "1h", "--name", "plain", "--out", draftFile);
        Assert.True(exit == 0, stderr);
        var text = File.ReadAllText(draftFile);
        Assert.True(text.Contains("\"app=api,env=prod -> app=db,env=prod\"", StringComparison.Ordinal), text);
        Assert.DoesNotContain("\\u003E", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("null", text, StringComparison.Ordinal);

        (exit, var stdout, stderr) = await VisibilityProcess.RunCommandAsync(["policy", "diff", draftFile, draftFile, "--json"]);
        Assert.True(exit == 0, stdout + stderr);
        var keys = JsonDocument.Parse(stdout).RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["added", "removed", "changed", "unchanged", "same"], keys);
    }

    [Fact]
    public async Task Draft_RangeEndsInThePast_AndDraftingItAgainGivesTheSameRules()
    {
        var asked = DateTimeOffset.UtcNow;
        var first = await GetDraftAsync("/api/v1/policy/draft?last=1h&name=again");
        var answered = DateTimeOffset.UtcNow;
        var source = first.GetProperty("ruleset").GetProperty("source");
        var from = source.GetProperty("from").GetDateTimeOffset();
        var to = source.GetProperty("to").GetDateTimeOffset();

        // Not the end of the current minute: already past when the draft was answered, and not long before it was asked.
        Assert.InRange(to, asked.AddSeconds(-5), answered);
        // It starts where last=1h starts (a whole minute), so it is at most an hour long.
        Assert.Equal(0, from.UtcTicks % TimeSpan.TicksPerMinute);
        Assert.InRange(to - from, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
        Assert.True(first.GetProperty("flowsCovered").GetInt64() > 0, first.GetRawText());

        var again = await GetDraftAsync($"/api/v1/policy/draft?from={Uri.EscapeDataString(from.ToString("O"))}&to={Uri.EscapeDataString(to.ToString("O"))}&name=again");
        Assert.Equal(first.GetProperty("flowsCovered").GetInt64(), again.GetProperty("flowsCovered").GetInt64());
        Assert.Equal(first.GetProperty("ruleset").GetProperty("rules").GetRawText(), again.GetProperty("ruleset").GetProperty("rules").GetRawText());
        Assert.Equal(to, again.GetProperty("ruleset").GetProperty("source").GetProperty("to").GetDateTimeOffset());
    }

    private async Task<JsonElement> GetDraftAsync(string path)
    {
        using var response = await server.Serve.Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return JsonDocument.Parse(body).RootElement;
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args) =>
        VisibilityProcess.RunCommandAsync([.. args, "--url", server.Serve.BaseUrl]);

    private async Task<(HttpStatusCode Status, string Body)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await server.Serve.Http.PostAsync(path, content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}

/// <summary>One `serve` holding the demo estate's inventory and three rounds of its conversations, through the dev broker.</summary>
public sealed class DemoTrafficServer : IAsyncLifetime, IDisposable
{
    private IngestRig? rig;

    public TempDirectory Data { get; } = new("visibility-policy-author");

    public VisibilityProcess Serve { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        rig = new IngestRig("policy-author", partitions: 1);
        Serve = VisibilityProcess.Start(Data.Path, environment: rig.Environment());
        await Serve.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using (var put = await Serve.Http.PutAsJsonAsync("/api/v1/workloads", DemoEstate.Workloads))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        using (var producer = new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = rig.Bootstrap }).Build())
        {
            rig.Produce(producer, 0, DemoEstate.Conversations.Count * 3);
            producer.Flush(TimeSpan.FromSeconds(10));
        }

        await rig.WaitCommittedToEndAsync(Serve, TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        await Serve.DisposeAsync();
        if (rig is not null)
        {
            await rig.DisposeAsync();
            rig = null;
        }
    }

    public void Dispose() => Data.Dispose();
}
