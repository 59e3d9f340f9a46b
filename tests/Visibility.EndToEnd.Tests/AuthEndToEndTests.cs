using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// One <c>serve --demo</c> with authentication on (as <c>make demo</c> runs it) and OIDC bearer tokens from a
/// loopback issuer; the demo's traffic comes through the broker. The admin key is the one serve printed. Shared by
/// the test classes of <see cref="Collection"/>, since each serve is expensive to start.
/// </summary>
public sealed class AuthServer : IAsyncLifetime, IDisposable
{
    public const string Collection = "serve --demo with authentication on";

    private readonly TempDirectory data = new("visibility-auth");

    public TestOidcIssuer Issuer { get; } = new();

    public VisibilityProcess Serve { get; private set; } = null!;

    public string AdminKey { get; private set; } = "";

    /// <summary>Where file sinks write: the default export directory, inside the store's data directory.</summary>
    public string ExportDirectory => Path.Combine(data.Path, "export");

    public async Task InitializeAsync()
    {
        Serve = VisibilityProcess.Start(data.Path, ["--demo"], new Dictionary<string, string>
        {
            ["Visibility__Auth__Disabled"] = "false",
            ["Visibility__Auth__Oidc__Authority"] = Issuer.Authority,
            ["Visibility__Auth__Oidc__RequireHttpsMetadata"] = "false",
        });
        AdminKey = await Serve.WaitForPrintedKeyAsync(TimeSpan.FromSeconds(90));
        await Serve.WaitReadyAsync(TimeSpan.FromSeconds(60));

        // Until the demo's findings include both an in-scope (dev → prod) and an out-of-scope (unknown → prod) one.
        await Serve.WaitAsync(
            async () =>
            {
                using var findings = JsonDocument.Parse(await Serve.Http.GetStringAsync("/api/v1/findings?last=1h"));
                return findings.RootElement.GetProperty("findings").EnumerateArray().Select(f => f.GetProperty("kind").GetString()).ToHashSet();
            },
            kinds => kinds.Contains("cross_env") && kinds.Contains("unknown_source"),
            TimeSpan.FromSeconds(90), "the demo's findings (cross_env and unknown_source)", TimeSpan.FromMilliseconds(500));
    }

    /// <summary>Creates a key through the API with the admin key; returns the key text.</summary>
    public async Task<string> CreateKeyAsync(string name, string role, string scope = "")
    {
        using var response = await Serve.Http.PostAsJsonAsync("/api/v1/keys", new { name, role, scope });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("key").GetString()!;
    }

    /// <summary>A request with this credential (null: none) and its answer.</summary>
    public async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, string? credential, object? json = null)
    {
        using var http = new HttpClient { BaseAddress = new Uri(Serve.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(method, path);
        if (credential is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        }

        if (json is not null)
        {
            request.Content = JsonContent.Create(json);
        }

        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task DisposeAsync() => await Serve.DisposeAsync();

    public void Dispose()
    {
        Issuer.Dispose();
        data.Dispose();
    }
}

/// <summary>The test classes that share one <see cref="AuthServer"/>.</summary>
[CollectionDefinition(AuthServer.Collection)]
public sealed class AuthServerTests : ICollectionFixture<AuthServer>;

[Collection(AuthServer.Collection)]
public sealed class AuthEndToEndTests(AuthServer server)
{
    private static readonly string[] Scoped = ["env=dev"];

    [Fact]
    public async Task Roles_EachRoleReachesItsRoutes_OthersGet403NamingTheRole_AndUnauthenticatedGet401()
    {
        var keys = new Dictionary<string, string>
        {
            ["viewer"] = await server.CreateKeyAsync("t-viewer", "viewer"),
            ["policy-author"] = await server.CreateKeyAsync("t-policy", "policy-author"),
            ["exporter"] = await server.CreateKeyAsync("t-exporter", "exporter"),
            ["admin"] = server.AdminKey,
        };
        var workload = new[] { new { name = "auth-test-1", addresses = new[] { "10.77.0.1" }, labels = new Dictionary<string, string> { ["app"] = "authtest", ["env"] = "test" } } };

        // route → the roles that may use it (every other role gets 403)
        var routes = new (HttpMethod Method, string Path, object? Body, string[] Allowed)[]
        {
            (HttpMethod.Get, "/api/v1/graph?last=1h", null, ["viewer", "policy-author", "exporter", "admin"]),
            (HttpMethod.Get, "/api/v1/flows?last=1h&limit=5", null, ["viewer", "policy-author", "exporter", "admin"]),
            (HttpMethod.Get, "/api/v1/findings?last=1h", null, ["viewer", "policy-author", "exporter", "admin"]),
            (HttpMethod.Get, "/api/v1/workloads", null, ["viewer", "policy-author", "exporter", "admin"]),
            (HttpMethod.Get, "/readyz", null, ["viewer", "policy-author", "exporter", "admin"]),
            (HttpMethod.Get, "/metrics", null, ["admin"]),
            (HttpMethod.Get, "/api/v1/policy/draft?last=1h", null, ["policy-author", "admin"]),
            (HttpMethod.Post, "/api/v1/policy/diff", new { before = new { name = "a", groupBy = new[] { "app" }, rules = Array.Empty<object>() }, after = new { name = "b", groupBy = new[] { "app" }, rules = Array.Empty<object>() } }, ["policy-author", "admin"]),
            (HttpMethod.Get, "/api/v1/export/sinks", null, ["exporter", "admin"]),
            (HttpMethod.Get, "/api/v1/export/records?last=5m&format=json", null, ["exporter", "admin"]),
            (HttpMethod.Put, "/api/v1/workloads", workload, ["admin"]),
            (HttpMethod.Get, "/api/v1/keys", null, ["admin"]),
            (HttpMethod.Get, "/api/v1/audit", null, ["admin"]),
        };
        foreach (var (method, path, body, allowed) in routes)
        {
            foreach (var (role, key) in keys)
            {
                var (status, text) = await server.SendAsync(method, path, key, body);
                if (allowed.Contains(role))
                {
                    Assert.True(status == HttpStatusCode.OK, $"{role} {method} {path}: {(int)status} {text}");
                }
                else
                {
                    Assert.True(status == HttpStatusCode.Forbidden, $"{role} {method} {path}: {(int)status} {text}");
                    Assert.Contains($"role '{role}' may not do this", text, StringComparison.Ordinal);
                }
            }

            var (anonymous, problem) = await server.SendAsync(method, path, null, body);
            Assert.True(anonymous == HttpStatusCode.Unauthorized, $"anonymous {method} {path}: {(int)anonymous}");
            Assert.Contains("authentication required", problem, StringComparison.Ordinal);
        }

        // Only /healthz (and the page's static code) answer without a key.
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/healthz", null)).Status);
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/", null)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.SendAsync(HttpMethod.Get, "/openapi/v1.json", null)).Status);

        // Wrong, malformed and revoked keys are refused with the reason; X-Api-Key works like the bearer header.
        var forged = keys["viewer"][..^4] + "0000";
        var (forgedStatus, forgedBody) = await server.SendAsync(HttpMethod.Get, "/api/v1/graph", forged);
        Assert.Equal(HttpStatusCode.Unauthorized, forgedStatus);
        Assert.Contains("not valid", forgedBody, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.SendAsync(HttpMethod.Get, "/api/v1/graph", "vis_nonsense")).Status);
        using (var http = new HttpClient { BaseAddress = new Uri(server.Serve.BaseUrl) })
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", keys["viewer"]);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/graph?last=1h")).StatusCode);
        }

        var id = keys["viewer"].Split('_')[1];
        Assert.Equal(HttpStatusCode.NoContent, (await server.SendAsync(HttpMethod.Delete, $"/api/v1/keys/{id}", server.AdminKey)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.SendAsync(HttpMethod.Get, "/api/v1/graph", keys["viewer"])).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await server.SendAsync(HttpMethod.Delete, "/api/v1/keys/ffffffffffff", server.AdminKey)).Status);

        // Bad key requests name the problem; an admin key cannot be scoped.
        var (badRole, badRoleBody) = await server.SendAsync(HttpMethod.Post, "/api/v1/keys", server.AdminKey, new { name = "x", role = "root" });
        Assert.Equal(HttpStatusCode.BadRequest, badRole);
        Assert.Contains("role 'root' is not one of viewer, policy-author, exporter, admin", badRoleBody, StringComparison.Ordinal);
        var (badScope, badScopeBody) = await server.SendAsync(HttpMethod.Post, "/api/v1/keys", server.AdminKey, new { name = "x", role = "admin", scope = "env=dev" });
        Assert.Equal(HttpStatusCode.BadRequest, badScope);
        Assert.Contains("admin key cannot be scoped", badScopeBody, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await server.SendAsync(HttpMethod.Post, "/api/v1/keys", server.AdminKey, new { name = "x", role = "viewer", scope = "env" })).Status);

        // The CLI creates keys through the API with an admin key from VISIBILITY_API_KEY; the key it prints works.
        var cli = await VisibilityProcess.RunCommandAsync(
            ["keys", "create", "--role", "viewer", "--name", "cli-made", "--scope", "app=db", "--url", server.Serve.BaseUrl],
            new Dictionary<string, string> { ["VISIBILITY_API_KEY"] = server.AdminKey });
        Assert.True(cli.ExitCode == 0, cli.Stderr);
        var cliKey = cli.Stdout.Trim();
        Assert.Matches("^vis_[0-9a-f]{12}_[0-9a-f]{64}$", cliKey);
        Assert.Contains("scope app=db", cli.Stderr, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/api/v1/graph?last=1h", cliKey)).Status);
        var refused = await VisibilityProcess.RunCommandAsync(["graph", "--url", server.Serve.BaseUrl]);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("401", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("set VISIBILITY_API_KEY", refused.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScopedKeys_NeverReceiveAnOutOfScopeNodeEdgeFlowFindingExportRecordOrDraftRule()
    {
        var viewer = await server.CreateKeyAsync("dev-viewer", "viewer", "env=dev");
        var exporter = await server.CreateKeyAsync("dev-exporter", "exporter", "env=dev");
        var prodExporter = await server.CreateKeyAsync("prod-exporter", "exporter", "env=prod");
        var author = await server.CreateKeyAsync("dev-author", "policy-author", "env=dev");
        var admin = server.AdminKey;

        // Graph at two groupings: every edge has an end in env=dev, every node is an end of such an edge.
        foreach (var groupBy in new[] { "app,env", "env,workload" })
        {
            var scoped = await GetJsonAsync($"/api/v1/graph?last=1h&groupBy={groupBy}", viewer);
            var all = await GetJsonAsync($"/api/v1/graph?last=1h&groupBy={groupBy}", admin);
            var edges = scoped.GetProperty("edges").EnumerateArray().Select(e => (S: e.GetProperty("source").GetString()!, T: e.GetProperty("target").GetString()!)).ToList();
            Assert.NotEmpty(edges);
            Assert.All(edges, e => Assert.True(e.S.Contains("env=dev", StringComparison.Ordinal) || e.T.Contains("env=dev", StringComparison.Ordinal), $"{e.S} -> {e.T}"));
            var ends = edges.SelectMany(e => new[] { e.S, e.T }).ToHashSet();
            Assert.All(scoped.GetProperty("nodes").EnumerateArray(), n => Assert.Contains(n.GetProperty("id").GetString()!, ends));
            Assert.Contains(all.GetProperty("edges").EnumerateArray(), e => !e.GetProperty("source").GetString()!.Contains("env=dev", StringComparison.Ordinal) && !e.GetProperty("target").GetString()!.Contains("env=dev", StringComparison.Ordinal));
        }

        // A user filter narrows inside the scope and never widens it.
        var widened = await GetJsonAsync("/api/v1/graph?last=1h&groupBy=app,env&filter=" + Uri.EscapeDataString("env = prod or env = dev"), viewer);
        Assert.All(widened.GetProperty("edges").EnumerateArray(), e => Assert.True(
            e.GetProperty("source").GetString()!.Contains("env=dev", StringComparison.Ordinal) || e.GetProperty("target").GetString()!.Contains("env=dev", StringComparison.Ordinal)));

        // Analytics run on the scoped graph: prod's web tier is not reachable from what the scope shows.
        var reach = await GetTextAsync("/api/v1/graph/reach?last=1h&groupBy=app,env&start=env=dev&hops=4", viewer);
        Assert.DoesNotContain("app=web,env=prod", reach, StringComparison.Ordinal);
        Assert.Contains("app=web,env=prod", await GetTextAsync("/api/v1/graph?last=1h&groupBy=app,env", admin), StringComparison.Ordinal);

        // Flows: every row has an end in env=dev; the admin sees rows with neither.
        var flows = (await GetJsonAsync("/api/v1/flows?last=1h&limit=2000", viewer)).GetProperty("flows").EnumerateArray().ToList();
        Assert.NotEmpty(flows);
        Assert.All(flows, f => Assert.True(EndIn(f.GetProperty("src")) || EndIn(f.GetProperty("dst")), f.ToString()));
        Assert.Contains((await GetJsonAsync("/api/v1/flows?last=1h&limit=2000", admin)).GetProperty("flows").EnumerateArray(), f => !EndIn(f.GetProperty("src")) && !EndIn(f.GetProperty("dst")));
        var csv = await GetTextAsync("/api/v1/flows?last=1h&format=csv&all=true", viewer);
        Assert.DoesNotContain("10.99.0.5", csv, StringComparison.Ordinal);

        // Findings: the dev → prod ones only; the unknown source into prod is not the scope's.
        var findings = (await GetJsonAsync("/api/v1/findings?last=1h", viewer)).GetProperty("findings").EnumerateArray().ToList();
        Assert.Contains(findings, f => f.GetProperty("kind").GetString() == "cross_env");
        Assert.All(findings, f => Assert.True(EndIn(f.GetProperty("source")) || EndIn(f.GetProperty("destination")), f.ToString()));
        Assert.DoesNotContain(findings, f => f.GetProperty("kind").GetString() == "unknown_source");

        // Workloads: the scope's three of the demo's seven.
        var workloads = (await GetJsonAsync("/api/v1/workloads", viewer)).EnumerateArray().Select(w => w.GetProperty("name").GetString()).ToList();
        Assert.Equal(["dev-api-1", "dev-db-1", "dev-web-1"], workloads.Order().ToList());
        var vocabulary = await GetJsonAsync("/api/v1/labels", viewer);
        Assert.Equal(["dev-api-1", "dev-db-1", "dev-web-1"], vocabulary.GetProperty("workloads").EnumerateArray().Select(w => w.GetString()).ToList());
        Assert.Equal(["dev"], vocabulary.GetProperty("labels").GetProperty("env").EnumerateArray().Select(w => w.GetString()).ToList());

        // One-off exports, findings and summaries.
        var exported = await GetTextAsync("/api/v1/export/records?last=1h&content=findings&format=json", exporter);
        var records = Lines(exported);
        Assert.NotEmpty(records);
        Assert.All(records, r => Assert.True(EndIn(r.GetProperty("source")) || EndIn(r.GetProperty("destination")), r.ToString()));
        Assert.Contains(Lines(await GetTextAsync("/api/v1/export/records?last=1h&content=findings&format=json", admin)), r => !EndIn(r.GetProperty("source")) && !EndIn(r.GetProperty("destination")));
        var summaries = Lines(await GetTextAsync("/api/v1/export/records?last=1h&content=summaries&format=json&groupBy=app,env", exporter));
        Assert.NotEmpty(summaries);
        Assert.All(summaries, r => Assert.True(
            r.GetProperty("source").GetProperty("id").GetString()!.Contains("env=dev", StringComparison.Ordinal)
            || r.GetProperty("target").GetProperty("id").GetString()!.Contains("env=dev", StringComparison.Ordinal), r.ToString()));

        // A sink made by a scoped exporter carries the scope (whatever the body said), streams only its records, and
        // is invisible to an exporter of another scope.
        var file = Path.Combine(server.ExportDirectory, "dev-file.jsonl");
        try
        {
            var (created, createdBody) = await server.SendAsync(HttpMethod.Post, "/api/v1/export/sinks", exporter, new
            {
                name = "dev-file", type = "file", path = "dev-file.jsonl", format = "json", content = "findings", scope = "",
                interval = "2s", delay = "1s", repeatAfter = "0s", startAt = DateTimeOffset.UtcNow.AddMinutes(-5),
            });
            Assert.True(created == HttpStatusCode.Created, createdBody);
            Assert.Contains("\"scope\":\"env=dev\"", createdBody, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.NotFound, (await server.SendAsync(HttpMethod.Get, "/api/v1/export/sinks/dev-file", prodExporter)).Status);
            Assert.DoesNotContain("dev-file", (await server.SendAsync(HttpMethod.Get, "/api/v1/export/sinks", prodExporter)).Body, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.NotFound, (await server.SendAsync(HttpMethod.Delete, "/api/v1/export/sinks/dev-file", prodExporter)).Status);
            Assert.Contains("dev-file", (await server.SendAsync(HttpMethod.Get, "/api/v1/export/sinks", admin)).Body, StringComparison.Ordinal);

            var streamed = await Eventually.WaitAsync(
                async () => File.Exists(file) ? Lines(await File.ReadAllTextAsync(file)) : [], lines => lines.Count >= 3,
                TimeSpan.FromSeconds(60), "the scoped sink writing three records", interval: TimeSpan.FromMilliseconds(500));

            Assert.All(streamed, r => Assert.True(EndIn(r.GetProperty("source")) || EndIn(r.GetProperty("destination")), r.ToString()));
            Assert.Equal(HttpStatusCode.NoContent, (await server.SendAsync(HttpMethod.Delete, "/api/v1/export/sinks/dev-file", exporter)).Status);
        }
        finally
        {
            File.Delete(file);
        }

        // Policy drafts: every rule has an end in env=dev, even with the flagged flows included.
        var draft = await GetJsonAsync("/api/v1/policy/draft?last=1h&groupBy=app,env&includeFlagged=true", author);
        var rules = draft.GetProperty("ruleset").GetProperty("rules").EnumerateArray().ToList();
        Assert.NotEmpty(rules);
        Assert.All(rules, r => Assert.True(EndIn(r.GetProperty("source")) || EndIn(r.GetProperty("destination")), r.ToString()));
        var adminDraft = await GetJsonAsync("/api/v1/policy/draft?last=1h&groupBy=app,env&includeFlagged=true", admin);
        Assert.Contains(adminDraft.GetProperty("ruleset").GetProperty("rules").EnumerateArray(), r => !EndIn(r.GetProperty("source")) && !EndIn(r.GetProperty("destination")));

        // A scoped principal is not an admin of anything: keys and inventory stay out of reach.
        Assert.Equal(HttpStatusCode.Forbidden, (await server.SendAsync(HttpMethod.Get, "/api/v1/keys", viewer)).Status);
    }

    [Fact]
    public async Task OidcTokens_RoleAndScopeFromTheirClaims_ForgedExpiredOrRoleLessTokensRefused()
    {
        var issuer = server.Issuer;
        var viewer = issuer.Token("alice", new Dictionary<string, object> { ["roles"] = new[] { "viewer" } });
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/api/v1/graph?last=1h", viewer)).Status);
        var (forbidden, forbiddenBody) = await server.SendAsync(HttpMethod.Get, "/api/v1/policy/draft?last=1h", viewer);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        Assert.Contains("role 'viewer' may not do this", forbiddenBody, StringComparison.Ordinal);

        var author = issuer.Token("bob", new Dictionary<string, object> { ["roles"] = new[] { "policy-author", "unrelated" } });
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/api/v1/policy/draft?last=1h", author)).Status);

        // Scope from the token's claim: the same isolation as a scoped key.
        var scoped = issuer.Token("carol", new Dictionary<string, object> { ["roles"] = "viewer", ["visibility_scope"] = Scoped });
        var (status, body) = await server.SendAsync(HttpMethod.Get, "/api/v1/graph?last=1h&groupBy=app,env", scoped);
        Assert.Equal(HttpStatusCode.OK, status);
        using (var graph = JsonDocument.Parse(body))
        {
            Assert.NotEmpty(graph.RootElement.GetProperty("edges").EnumerateArray());
            Assert.All(graph.RootElement.GetProperty("edges").EnumerateArray(), e => Assert.True(
                e.GetProperty("source").GetString()!.Contains("env=dev", StringComparison.Ordinal) || e.GetProperty("target").GetString()!.Contains("env=dev", StringComparison.Ordinal)));
        }

        foreach (var (what, token) in new[]
        {
            ("wrong audience", issuer.Token("dave", new Dictionary<string, object> { ["roles"] = "admin" }, audience: "another-app")),
            ("expired", issuer.Token("dave", new Dictionary<string, object> { ["roles"] = "admin" }, lifetime: TimeSpan.FromMinutes(-10))),
            ("signed by an unknown key", issuer.Token("dave", new Dictionary<string, object> { ["roles"] = "admin" }, signedByStranger: true)),
            ("no Visibility role", issuer.Token("dave", new Dictionary<string, object> { ["roles"] = "root" })),
            ("a bad scope", issuer.Token("dave", new Dictionary<string, object> { ["roles"] = "viewer", ["visibility_scope"] = "env" })),
            ("not a token", "eyJhbGciOiJub25lIn0.e30."),
        })
        {
            var (refused, text) = await server.SendAsync(HttpMethod.Get, "/api/v1/graph?last=1h", token);
            Assert.True(refused == HttpStatusCode.Unauthorized, $"{what}: {(int)refused} {text}");
        }

        Assert.True(issuer.Requests > 0, "serve never fetched the issuer's keys");
    }

    [Fact]
    public async Task AuditLog_RecordsKeysInventorySinksAndPolicyActions_WithTheirPrincipal_AndNoSecret()
    {
        var admin = server.AdminKey;
        var author = await server.CreateKeyAsync("audit-author", "policy-author");
        var authorId = author.Split('_')[1];
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/api/v1/policy/draft?last=1h", author)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await server.SendAsync(HttpMethod.Put, "/api/v1/workloads", author, Array.Empty<object>())).Status);
        var workload = new[] { new { name = "audited-1", addresses = new[] { "10.78.0.1" }, labels = new Dictionary<string, string> { ["app"] = "audited" } } };
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Put, "/api/v1/workloads", admin, workload)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await server.SendAsync(HttpMethod.Post, "/api/v1/export/sinks", admin, new { name = "bad sink!" })).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await server.SendAsync(HttpMethod.Delete, $"/api/v1/keys/{authorId}", admin)).Status);

        var (status, text) = await server.SendAsync(HttpMethod.Get, "/api/v1/audit?last=1h&limit=1000", admin);
        Assert.Equal(HttpStatusCode.OK, status);
        var entries = JsonDocument.Parse(text).RootElement.EnumerateArray().ToList();
        var adminId = "key:" + admin.Split('_')[1];
        Assert.Contains(entries, e => Is(e, "keys.create", adminId, "201") && e.GetProperty("target").GetString()!.StartsWith($"key:{authorId} role=policy-author", StringComparison.Ordinal));
        Assert.Contains(entries, e => Is(e, "policy.draft", $"key:{authorId}", "200"));
        Assert.Contains(entries, e => Is(e, "workloads.upsert", adminId, "200"));
        Assert.Contains(entries, e => Is(e, "export.sinks.create", adminId, "400"));
        Assert.Contains(entries, e => Is(e, "keys.revoke", adminId, "204") && e.GetProperty("target").GetString() == $"id={authorId}");
        Assert.Contains(entries, e => Is(e, "keys.create", "bootstrap", "201"));
        Assert.All(entries.Where(e => e.GetProperty("principal").GetString() != "bootstrap"), e => Assert.Equal("127.0.0.1", e.GetProperty("remote").GetString()));

        // Secrets never reach the audit log or the process log.
        Assert.DoesNotContain(author.Split('_')[2], text, StringComparison.Ordinal);
        Assert.DoesNotContain(author.Split('_')[2], server.Serve.Output, StringComparison.Ordinal);
        Assert.Contains("audit: " + adminId, server.Serve.Output, StringComparison.Ordinal);

        // The filter by action works, and a bad range is a 400.
        var drafts = JsonDocument.Parse((await server.SendAsync(HttpMethod.Get, "/api/v1/audit?last=1h&action=policy.draft", admin)).Body).RootElement.EnumerateArray().ToList();
        Assert.NotEmpty(drafts);
        Assert.All(drafts, e => Assert.Equal("policy.draft", e.GetProperty("action").GetString()));
        Assert.Equal(HttpStatusCode.BadRequest, (await server.SendAsync(HttpMethod.Get, "/api/v1/audit?last=forever", admin)).Status);
    }

    [Fact]
    public async Task Map_AsksForAKey_SignsInByDialogOrLink_AScopedKeyDrawsOnlyItsScope_DownloadsCarryTheKey()
    {
        var scoped = await server.CreateKeyAsync("map-dev", "viewer", "env=dev");
        using var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        await using var browser = await Browser.LaunchAsync(playwright);

        // Without a key the page asks for one; a wrong key is refused with the reason.
        var page = await browser.NewPageAsync();
        await page.GotoAsync(server.Serve.BaseUrl + "/");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#sign-in")).ToBeVisibleAsync();
        await page.FillAsync("#api-key", "vis_not_a_key");
        await page.ClickAsync("#sign-in button[type=submit]");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#sign-in-reason")).ToContainTextAsync("The key was refused");

        // The scoped key draws the scope's edges only.
        await page.FillAsync("#api-key", scoped);
        await page.ClickAsync("#sign-in button[type=submit]");
        var drawn = await DrawnEdgesAsync(page);
        Assert.NotEmpty(drawn);
        Assert.All(drawn, e => Assert.True(e.S.Contains("env=dev", StringComparison.Ordinal) || e.T.Contains("env=dev", StringComparison.Ordinal), $"{e.S} -> {e.T}"));
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#sign-in")).Not.ToBeVisibleAsync();

        // The CSV export is fetched with the key, and holds the scope's flows only.
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#export-csv"));
        var csv = await File.ReadAllTextAsync((await download.PathAsync())!);
        Assert.StartsWith("time,", csv, StringComparison.Ordinal);
        Assert.Contains("10.20.", csv, StringComparison.Ordinal);
        Assert.DoesNotContain("10.99.0.5", csv, StringComparison.Ordinal);

        // The link serve prints (#key=…) signs a fresh tab in, and the key leaves the address bar.
        var context = await browser.NewContextAsync();
        var linked = await context.NewPageAsync();
        await linked.GotoAsync($"{server.Serve.BaseUrl}/#key={server.AdminKey}");
        var all = await DrawnEdgesAsync(linked);
        Assert.Contains(all, e => !e.S.Contains("env=dev", StringComparison.Ordinal) && !e.T.Contains("env=dev", StringComparison.Ordinal));
        Assert.DoesNotContain("key=", linked.Url, StringComparison.Ordinal);
        await context.CloseAsync();
    }

    private static async Task<List<(string S, string T)>> DrawnEdgesAsync(Microsoft.Playwright.IPage page)
    {
        await page.WaitForFunctionAsync("() => window.visibilityMap && window.visibilityMap.ready && window.visibilityMap.edgeList().length > 0", null, new Microsoft.Playwright.PageWaitForFunctionOptions { Timeout = 60_000 });
        var json = await page.EvaluateAsync<JsonElement>("() => window.visibilityMap.edgeList()");
        return [.. json.EnumerateArray().Select(e => (e.GetProperty("source").GetString()!, e.GetProperty("target").GetString()!))];
    }

    private static bool Is(JsonElement entry, string action, string principal, string outcome) =>
        entry.GetProperty("action").GetString() == action && entry.GetProperty("principal").GetString() == principal && entry.GetProperty("outcome").GetString() == outcome;

    private static bool EndIn(JsonElement end) =>
        end.TryGetProperty("labels", out var labels) && labels.ValueKind == JsonValueKind.Object
        && labels.TryGetProperty("env", out var env) && env.GetString() == "dev";

    private static List<JsonElement> Lines(string text) =>
        [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')).Select(l => JsonDocument.Parse(l).RootElement)];

    private async Task<JsonElement> GetJsonAsync(string path, string key) => JsonDocument.Parse(await GetTextAsync(path, key)).RootElement;

    private async Task<string> GetTextAsync(string path, string key)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, key);
        Assert.True(status == HttpStatusCode.OK, $"{path}: {(int)status} {body}");
        return body;
    }
}
