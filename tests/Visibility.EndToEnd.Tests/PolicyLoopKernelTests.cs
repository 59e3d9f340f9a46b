using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The policy loop on a real kernel (issue 20, acceptance): hosts dev (app=api, env=dev), prod (app=api, env=prod)
/// and db (app=db, env=prod) in network namespaces behind a gateway namespace whose ulogd2 writes NFCT (connections)
/// and NFLOG (logged packets) JSON; both files are shipped through Kafka, one topic per format as a gateway would
/// ship them, into a real `visibility serve`. Observed prod → db traffic is drafted for env=prod, saved, provisioned
/// in visibility mode; the provisioned set rendered as nftables (no host: the gateway routes, so it needs the
/// forward chain) is loaded in the gateway, and the ruleset provisioned enforced. Then the kernel refuses dev → db,
/// ulogd2 writes the refused SYN with the ruleset's prefix, and it comes back through Kafka as a stored record;
/// prod → db keeps working. The decisions on the map follow each step (potentially blocked, blocked, allowed by the
/// rule). While enforced, a scan from dev (ten more ports refused: eleven attempts) is a blocked_attempts finding.
/// Last, drift: the final drop deleted by hand in the gateway lets dev → db through again, and that connection is a
/// policy_violation finding.
/// </summary>
public sealed class PolicyLoopKernelTests(ITestOutputHelper log)
{
    private const string Ruleset = "prod";
    private const string ProdToDb = "app=api,env=prod -> app=db,env=prod";
    private static readonly TimeSpan Allowed = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Refused = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task DraftSaveProvisionRenderEnforce_TheKernelRefusesDevToProd_AndTheRefusalComesBackNamingTheRuleset()
    {
        await using var gateway = await KernelGatewayRig.StartAsync("visibility-policy-loop", "loop", partitions: 1, reply: 100, shipPackets: true);
        var (lab, ulogd, rig, service, packetsTopic) = (gateway.Lab, gateway.Ulogd, gateway.Ingest, gateway.Service, gateway.PacketsTopic!);

        // Observed: prod's api talks to the database.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("prod", lab.Address("db"), 5432, Allowed, send: 500));
        }

        await EndConnectionsAsync(gateway, 3);
        await gateway.ShipAsync();

        // Drafted for env=prod, saved, provisioned in visibility mode.
        var beforeDraft = DateTimeOffset.UtcNow;
        var draft = await GetJsonAsync(service, $"/api/v1/policy/draft?last=1h&name={Ruleset}&filter={Uri.EscapeDataString("dst.env = prod")}");
        var ruleset = draft.GetProperty("ruleset");
        Assert.Equal([ProdToDb], ruleset.GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("name").GetString()));
        Assert.InRange(ruleset.GetProperty("source").GetProperty("to").GetDateTimeOffset(), beforeDraft.AddSeconds(-5), DateTimeOffset.UtcNow);
        var saved = await SendAsync(service, HttpMethod.Post, "/api/v1/policy/rulesets", new JsonObject
        {
            ["name"] = Ruleset,
            ["scope"] = "env=prod",
            ["ruleset"] = JsonNode.Parse(ruleset.GetRawText()),
        }, HttpStatusCode.Created);
        var version = saved.GetProperty("version").GetInt32();
        await ProvisionAsync(service, version, "visibility");

        // Still only observed: dev → db connects, and the decisions call it potentially blocked; prod → db is allowed by its rule.
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("dev", lab.Address("db"), 5432, Allowed, send: 10));
        await EndConnectionsAsync(gateway, 4);
        await gateway.ShipAsync();
        var observed = await DecisionsAsync(service);
        Assert.Equal("allowed=0 potentiallyBlocked=1 blocked=0 violation=0 unmanaged=0 []", observed[("app=api,env=dev", "app=db,env=prod")]);
        Assert.Equal($"allowed=3 potentiallyBlocked=0 blocked=0 violation=0 unmanaged=0 [{Ruleset}/{ProdToDb}]", observed[("app=api,env=prod", "app=db,env=prod")]);

        // The provisioned set rendered for the gateway: it routes between the hosts, so all hosts (input and forward).
        var script = await GetTextAsync(service, "/api/v1/policy/provisioned?format=nftables");
        log.WriteLine(script);
        Assert.Contains($"ip daddr @env_prod_v4 log group {Ulogd2Gateway.LogGroup} prefix \"vis-drop {Ruleset}\" drop", script, StringComparison.Ordinal);
        lab.AddGatewayRules(script);
        await ProvisionAsync(service, version, "enforced");

        // Enforced by the kernel: dev → db is dropped (its SYNs time out), prod → db still connects.
        var refusedAt = DateTimeOffset.UtcNow;
        Assert.Equal(ConnectOutcome.TimedOut, await lab.ConnectAsync("dev", lab.Address("db"), 5432, Refused));
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("prod", lab.Address("db"), 5432, Allowed, send: 500));

        // ulogd2 wrote the refused SYN(s) with the ruleset's prefix.
        await Eventually.TrueAsync(() => Refusals(ulogd, lab).Count > 0, TimeSpan.FromSeconds(15), "an NFLOG record of dev → db",
            () => string.Join('\n', Ulogd2Gateway.Lines(ulogd.PacketsFile)), TimeSpan.FromMilliseconds(100));
        var refusals = Refusals(ulogd, lab);
        Assert.All(refusals, r => Assert.Equal($"vis-drop {Ruleset}", r.GetProperty("oob.prefix").GetString()));
        Assert.Single(refusals.Select(r => r.GetProperty("src_port").GetInt32()).Distinct());   // one attempt, its SYN retransmitted
        log.WriteLine($"{refusals.Count} NFLOG packets of the refused attempt");

        // Shipped through Kafka (the NFLOG topic, format ulogd2-nflog) and stored: the attempt is in the flows.
        await EndConnectionsAsync(gateway, 5);
        await gateway.ShipAsync();
        var filter = Uri.EscapeDataString("src.env = dev and dst.app = db");
        var flows = await service.WaitAsync(
            () => GetJsonAsync(service, $"/api/v1/flows?last=1h&limit=100&filter={filter}"),
            f => f.GetProperty("flows").EnumerateArray().Any(r => r.GetProperty("source").GetString()!.StartsWith(packetsTopic + "/", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), "the refused attempt stored from the NFLOG topic");
        var attempt = flows.GetProperty("flows").EnumerateArray().First(r => r.GetProperty("source").GetString()!.StartsWith(packetsTopic + "/", StringComparison.Ordinal));
        Assert.Equal(lab.Address("dev"), attempt.GetProperty("srcIp").GetString());
        Assert.Equal(lab.Address("db"), attempt.GetProperty("dstIp").GetString());
        Assert.Equal(5432, attempt.GetProperty("dstPort").GetInt32());
        Assert.InRange(attempt.GetProperty("time").GetDateTimeOffset(), refusedAt.AddSeconds(-2), DateTimeOffset.UtcNow);

        // Stored as what it was: a refused attempt, blocked by the ruleset the prefix names, with why.
        Assert.Equal("blocked", attempt.GetProperty("verdict").GetString());
        Assert.True(attempt.GetProperty("attempt").GetBoolean());
        Assert.Equal([Ruleset], attempt.GetProperty("policies").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal($"no rule of ruleset {Ruleset} allows it", attempt.GetProperty("reason").GetString());
        var byVerdict = await GetJsonAsync(service, $"/api/v1/flows?last=1h&limit=100&filter={Uri.EscapeDataString($"verdict = blocked and policy = {Ruleset}")}");
        Assert.All(byVerdict.GetProperty("flows").EnumerateArray(), r => Assert.Equal(lab.Address("dev"), r.GetProperty("srcIp").GetString()));
        Assert.NotEmpty(byVerdict.GetProperty("flows").EnumerateArray());

        // On the map: the refused attempt is the dev → db edge's one blocked attempt, never a connection; dev → db's
        // one connection is the one made while the ruleset was only observed, prod → db's the four allowed ones.
        var edges = await EdgesAsync(service, "");
        Assert.Equal((1L, 1L), edges[("app=api,env=dev", "app=db,env=prod")]);
        Assert.Equal((4L, 0L), edges[("app=api,env=prod", "app=db,env=prod")]);

        // Decided by the set provisioned now (enforced): the refused attempt is blocked, the connection made while the
        // ruleset was only observed a violation of what is now declared. prod → db stays allowed by its rule.
        var enforced = await DecisionsAsync(service);
        Assert.Equal("allowed=0 potentiallyBlocked=0 blocked=1 violation=1 unmanaged=0 []", enforced[("app=api,env=dev", "app=db,env=prod")]);
        Assert.Equal($"allowed=4 potentiallyBlocked=0 blocked=0 violation=0 unmanaged=0 [{Ruleset}/{ProdToDb}]", enforced[("app=api,env=prod", "app=db,env=prod")]);

        // A scan from dev: ten more ports of the database host, each attempt refused and logged by the kernel. With the
        // attempt refused before, eleven from api-dev within the default 5-minute window: a blocked_attempts finding.
        for (var port = KernelGatewayRig.DbPort + 1; port <= KernelGatewayRig.DbPort + 10; port++)
        {
            Assert.Equal(ConnectOutcome.TimedOut, await lab.ConnectAsync("dev", lab.Address("db"), port, Refused));
        }

        await Eventually.TrueAsync(() => Refusals(ulogd, lab).Select(r => r.GetProperty("src_port").GetInt32()).Distinct().Count() >= 11,
            TimeSpan.FromSeconds(15), "NFLOG records of eleven refused attempts", () => string.Join('\n', Ulogd2Gateway.Lines(ulogd.PacketsFile)), TimeSpan.FromMilliseconds(100));
        await gateway.ShipAsync();
        var scans = await service.WaitAsync(
            async () => (await GetJsonAsync(service, "/api/v1/findings?last=1h")).GetProperty("findings").EnumerateArray()
                .Where(f => f.GetProperty("kind").GetString() == "blocked_attempts")
                .Select(f => f.Clone())
                .ToList(),
            v => v.Count > 0, TimeSpan.FromSeconds(60), "a blocked_attempts finding", TimeSpan.FromMilliseconds(500));
        var scan = Assert.Single(scans);
        var detail = scan.GetProperty("blockedAttempts");
        Assert.Equal(("api-dev", "high", 0L), (scan.GetProperty("source").GetProperty("workload").GetString(), scan.GetProperty("severity").GetString(), scan.GetProperty("flows").GetInt64()));
        Assert.Equal((11L, 1L, 11L), (detail.GetProperty("attempts").GetInt64(), detail.GetProperty("destinations").GetInt64(), detail.GetProperty("ports").GetInt64()));
        Assert.Equal([Ruleset], detail.GetProperty("policies").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal((1L, 11L), (await EdgesAsync(service, ""))[("app=api,env=dev", "app=db,env=prod")]);

        // Drift: someone deletes the ruleset's final drop in the gateway by hand. dev → db connects again, though the
        // ruleset is declared enforced: the kernel no longer does what was declared.
        var governed = NetworkLab.RunIn(lab.Gateway, NetworkLab.NftPath, "-a", "list", "chain", "inet", "visibility", "governed");
        var drop = governed.Split('\n').Single(l => l.Contains($"\"vis-drop {Ruleset}\"", StringComparison.Ordinal) && l.Contains(" drop # handle ", StringComparison.Ordinal));
        NetworkLab.RunIn(lab.Gateway, NetworkLab.NftPath, "delete", "rule", "inet", "visibility", "governed", "handle", drop.Split("# handle ")[1].Trim());
        Assert.Equal(ConnectOutcome.Connected, await lab.ConnectAsync("dev", lab.Address("db"), 5432, Allowed, send: 10));
        await EndConnectionsAsync(gateway, 6);
        await gateway.ShipAsync();
        Assert.Equal((2L, 11L), (await EdgesAsync(service, ""))[("app=api,env=dev", "app=db,env=prod")]);

        // The drifted connection, judged at its time (enforced), is a policy_violation finding within 60 s.
        var violations = await service.WaitAsync(
            async () => (await GetJsonAsync(service, "/api/v1/findings?last=1h")).GetProperty("findings").EnumerateArray()
                .Where(f => f.GetProperty("kind").GetString() == "policy_violation")
                .Select(f => $"{f.GetProperty("source").GetProperty("workload").GetString()} -> {f.GetProperty("destination").GetProperty("workload").GetString()} {f.GetProperty("service").GetString()} {f.GetProperty("flows").GetInt64()}")
                .ToList(),
            v => v.Count > 0, TimeSpan.FromSeconds(60), "a policy_violation finding", TimeSpan.FromMilliseconds(500));
        Assert.Equal(["api-dev -> db tcp/5432 1"], violations);

        // Nothing was dead-lettered: every NFCT and NFLOG line decoded.
        Assert.Equal(0, DeadLettered(rig));
    }

    /// <summary>Each edge's decisions and the rules that allowed it, by (source, target), judged by the set provisioned now.</summary>
    private static async Task<Dictionary<(string Source, string Target), string>> DecisionsAsync(VisibilityProcess service)
    {
        var graph = await GetJsonAsync(service, "/api/v1/graph?last=1h&groupBy=app,env&decisionsAt=now");
        return graph.GetProperty("edges").EnumerateArray().ToDictionary(
            e => (e.GetProperty("source").GetString()!, e.GetProperty("target").GetString()!),
            e =>
            {
                var d = e.GetProperty("decisions");
                return $"allowed={d.GetProperty("allowed").GetInt64()} potentiallyBlocked={d.GetProperty("potentiallyBlocked").GetInt64()} blocked={d.GetProperty("blocked").GetInt64()} "
                    + $"violation={d.GetProperty("violation").GetInt64()} unmanaged={d.GetProperty("unmanaged").GetInt64()} "
                    + $"[{string.Join(", ", e.GetProperty("allowedBy").EnumerateArray().Select(r => r.GetString()))}]";
            });
    }

    /// <summary>The 1 h app × env graph's edges (with <paramref name="query"/> appended): (flows, blocked) by (source, target).</summary>
    private static async Task<Dictionary<(string Source, string Target), (long Flows, long Blocked)>> EdgesAsync(VisibilityProcess service, string query)
    {
        var graph = await GetJsonAsync(service, "/api/v1/graph?last=1h&groupBy=app,env" + query);
        return graph.GetProperty("edges").EnumerateArray().ToDictionary(
            e => (e.GetProperty("source").GetString()!, e.GetProperty("target").GetString()!),
            e => (e.GetProperty("flows").GetInt64(), e.GetProperty("blocked").GetInt64()));
    }

    /// <summary>The NFLOG records of packets from dev to the database.</summary>
    private static List<JsonElement> Refusals(Ulogd2Gateway ulogd, NetworkLab lab) =>
        [.. Ulogd2Gateway.Lines(ulogd.PacketsFile)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.GetProperty("src_ip").GetString() == lab.Address("dev") && r.GetProperty("dest_ip").GetString() == lab.Address("db"))];

    /// <summary>Ends the gateway's connections and waits until ulogd2 wrote <paramref name="destroyed"/> DESTROY records in all.</summary>
    private static Task EndConnectionsAsync(KernelGatewayRig gateway, int destroyed) =>
        gateway.EndConnectionsAsync(TimeSpan.FromMilliseconds(500), () => gateway.Destroyed().Count() >= destroyed, $"{destroyed} DESTROY records from ulogd2");

    private static long DeadLettered(IngestRig rig)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = rig.Bootstrap }).Build();
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = rig.Bootstrap, GroupId = "dlq-count" }).Build();
        var metadata = admin.GetMetadata(rig.DeadLetterTopic, TimeSpan.FromSeconds(10));
        return metadata.Topics[0].Partitions.Sum(p =>
            consumer.QueryWatermarkOffsets(new TopicPartition(rig.DeadLetterTopic, p.PartitionId), TimeSpan.FromSeconds(10)).High.Value);
    }

    private static async Task ProvisionAsync(VisibilityProcess service, int version, string mode)
    {
        var provisioned = await SendAsync(service, HttpMethod.Post, $"/api/v1/policy/rulesets/{Ruleset}/provision",
            new JsonObject { ["version"] = version, ["mode"] = mode }, HttpStatusCode.OK);
        Assert.Equal(mode, provisioned.GetProperty("mode").GetString());
    }

    private static async Task<JsonElement> GetJsonAsync(VisibilityProcess service, string path)
    {
        using var response = await service.Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    private static async Task<string> GetTextAsync(VisibilityProcess service, string path)
    {
        using var response = await service.Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return body;
    }

    private static async Task<JsonElement> SendAsync(VisibilityProcess service, HttpMethod method, string path, JsonNode body, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(method, path) { Content = JsonContent.Create(body) };
        using var response = await service.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{method} {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement;
    }
}
