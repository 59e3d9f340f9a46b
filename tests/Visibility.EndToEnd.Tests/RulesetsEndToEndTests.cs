using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Stored, versioned rulesets through the real program, against <c>serve --demo</c> with authentication on (the
/// shared <see cref="AuthServer"/>): a policy author drafts, saves and edits with the `visibility` CLI, is refused
/// provisioning; an admin provisions and rolls back; the audit log holds each step; scoped keys reach only the
/// rulesets inside their scope.
/// </summary>
[Collection(AuthServer.Collection)]
public sealed class RulesetsEndToEndTests(AuthServer server) : IDisposable
{
    private const string ApiToDb = "app=api,env=prod -> app=db,env=prod";
    private readonly TempDirectory files = new("visibility-rulesets-e2e", create: true);

    public void Dispose() => files.Dispose();

    [Fact]
    public async Task SaveEditDiffProvisionRollback_FromTheCommandLine_EachAudited_AuthorRefusedProvisioning()
    {
        var author = await server.CreateKeyAsync("rulesets-author", "policy-author");
        var authorName = "key:" + author.Split('_')[1];
        var adminName = "key:" + server.AdminKey.Split('_')[1];
        var url = server.Serve.BaseUrl;
        const string name = "prod-e2e";

        // Drafted from the demo's prod traffic, saved: version 1, its scope taken from the draft's filter.
        var draft = Path.Combine(files.Path, "draft.json");
        var (exit, stdout, stderr) = await Cli(author, "policy", "draft", "--url", url, "--last", "1h", "--filter", "dst.env = prod", "--name", name, "--out", draft);
        Assert.True(exit == 0, stderr);
        Assert.Contains(ApiToDb, JsonNode.Parse(File.ReadAllText(draft))!["rules"]!.AsArray().Select(r => r!["name"]!.GetValue<string>()));
        (exit, stdout, stderr) = await Cli(author, "policy", "save", "--url", url, "--ruleset", draft);
        Assert.True(exit == 0, stdout + stderr);
        Assert.Equal($"saved {name} version 1 (scope env=prod)", stdout.Trim());

        // Edited (api -> db removed) and saved again: version 2; the diff names the removed rule and exits 3.
        var edited = JsonNode.Parse(File.ReadAllText(draft))!;
        var rules = edited["rules"]!.AsArray();
        rules.Remove(rules.Single(r => r!["name"]!.GetValue<string>() == ApiToDb));
        var editedFile = Path.Combine(files.Path, "edited.json");
        File.WriteAllText(editedFile, edited.ToJsonString());
        (exit, stdout, stderr) = await Cli(author, "policy", "save", "--url", url, "--ruleset", editedFile, "--name", name);
        Assert.True(exit == 0, stdout + stderr);
        Assert.Equal($"saved {name} version 2 (scope env=prod)", stdout.Trim());
        (exit, stdout, stderr) = await Cli(author, "policy", "versions", name, "--url", url, "--diff");
        Assert.True(exit == 3, stdout + stderr);
        Assert.Contains($"{name}: version 1 -> 2", stdout, StringComparison.Ordinal);
        Assert.Contains($"- {ApiToDb}  tcp/5432", stdout, StringComparison.Ordinal);
        Assert.Contains("0 added, 1 removed, 0 changed", stdout, StringComparison.Ordinal);

        // The author may not provision: 403 naming the role, exit 1, nothing provisioned.
        (exit, stdout, stderr) = await Cli(author, "policy", "provision", name, "--url", url, "--version", "2", "--mode", "enforced");
        Assert.True(exit == 1, stdout + stderr);
        Assert.Contains("403 role 'policy-author' may not provision rulesets; it needs one of the roles admin", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Json((await server.SendAsync(HttpMethod.Get, "/api/v1/policy/provisioned", server.AdminKey)).Body).GetProperty("rulesets").EnumerateArray(),
            r => r.GetProperty("name").GetString() == name);

        // The admin provisions version 2, enforced; the list marks it; the provisioned set renders.
        (exit, stdout, stderr) = await Cli(server.AdminKey, "policy", "provision", name, "--url", url, "--version", "2", "--mode", "enforced");
        Assert.True(exit == 0, stdout + stderr);
        Assert.Equal($"provisioned {name} version 2 (enforced)", stdout.Trim());
        var whileTwo = DateTimeOffset.UtcNow;
        (exit, stdout, stderr) = await Cli(author, "policy", "versions", name, "--url", url);
        Assert.True(exit == 0, stderr);
        Assert.Matches(@"(?m)^2 +env=prod .*enforced$", stdout);
        Assert.Matches($@"(?m)^1 +env=prod +\d+  {authorName} ", stdout);
        var (status, nft) = await server.SendAsync(HttpMethod.Get, "/api/v1/policy/provisioned?format=nftables", author);
        Assert.True(status == HttpStatusCode.OK, nft);
        Assert.Contains("table inet visibility", nft, StringComparison.Ordinal);
        Assert.Contains($"{name}/", nft, StringComparison.Ordinal);
        var check = await ProcessRunner.RunAsync("/usr/sbin/nft", ["-c", "-f", "-"], stdin: nft);
        Assert.True(check.ExitCode == 0, check.Stderr);

        // Rolled back to version 1: saved again as version 3 and provisioned in the same mode.
        (exit, stdout, stderr) = await Cli(server.AdminKey, "policy", "rollback", name, "--url", url, "--to", "1");
        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains($"saved {name} version 3 (a copy of version 1)", stdout, StringComparison.Ordinal);
        Assert.Contains($"provisioned {name} version 3 (enforced), replacing version 2", stdout, StringComparison.Ordinal);
        (exit, stdout, _) = await Cli(author, "policy", "versions", name, "--url", url, "--diff", "--from", "1", "--to", "3");
        Assert.True(exit == 0, stdout);
        var now = Provisioned(await server.SendAsync(HttpMethod.Get, "/api/v1/policy/provisioned", author));
        Assert.Equal((3, "enforced", adminName), now[name]);
        var then = Provisioned(await server.SendAsync(HttpMethod.Get, $"/api/v1/policy/provisioned?at={Uri.EscapeDataString(whileTwo.ToString("O"))}", author));
        Assert.Equal((2, "enforced", adminName), then[name]);

        // Each step is in the audit log: who, what, the outcome.
        var (auditStatus, auditBody) = await server.SendAsync(HttpMethod.Get, "/api/v1/audit?last=1h&limit=10000", server.AdminKey);
        Assert.Equal(HttpStatusCode.OK, auditStatus);
        var entries = Json(auditBody).EnumerateArray()
            .Where(e => e.GetProperty("action").GetString()!.StartsWith("policy.ruleset.", StringComparison.Ordinal)
                && e.GetProperty("target").GetString()!.StartsWith($"ruleset={name}", StringComparison.Ordinal))
            .Select(e => $"{e.GetProperty("action").GetString()} {e.GetProperty("principal").GetString()} {e.GetProperty("outcome").GetString()} {e.GetProperty("target").GetString()}")
            .ToList();
        Assert.Contains($"policy.ruleset.save {authorName} 201 ruleset={name} version=1 scope=env=prod", entries);
        Assert.Contains($"policy.ruleset.save {authorName} 201 ruleset={name} version=2 scope=env=prod", entries);
        Assert.Contains($"policy.ruleset.provision {authorName} 403 ruleset={name}", entries);
        Assert.Contains($"policy.ruleset.provision {adminName} 200 ruleset={name} version=2 mode=enforced", entries);
        Assert.Contains($"policy.ruleset.restore {adminName} 201 ruleset={name} version=3 restoredFrom=1", entries);
        Assert.Contains($"policy.ruleset.provision {adminName} 200 ruleset={name} version=3 mode=enforced", entries);
        var history = Json((await server.SendAsync(HttpMethod.Get, $"/api/v1/policy/provisioned/history?name={name}", author)).Body);
        Assert.Equal(["3 enforced", "2 enforced"], history.EnumerateArray().Select(c => $"{c.GetProperty("version").GetInt32()} {c.GetProperty("mode").GetString()}"));
    }

    [Fact]
    public async Task Api_SaveWithRules_ShapesBadInputRolesAndKeyScopes()
    {
        var author = await server.CreateKeyAsync("rulesets-api-author", "policy-author");
        var devAuthor = await server.CreateKeyAsync("rulesets-dev-author", "policy-author", "env=dev");
        var viewer = await server.CreateKeyAsync("rulesets-viewer", "viewer");
        var rule = new
        {
            name = "web to api",
            source = new { kind = "workload", labels = new Dictionary<string, string> { ["app"] = "web", ["env"] = "dev" } },
            destination = new { kind = "workload", labels = new Dictionary<string, string> { ["app"] = "api", ["env"] = "dev" } },
            ports = new[] { new { protocol = "tcp", from = 8080, to = 8080 } },
        };

        // The stable shape: {"name", "scope", "rules"} -> 201 {"name", "version"}.
        var (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets", author, new { name = "api-prod", scope = "app=payments,env=prod", rules = new[] { rule } });
        Assert.True(status == HttpStatusCode.Created, body);
        Assert.Equal(("api-prod", 1), (Json(body).GetProperty("name").GetString(), Json(body).GetProperty("version").GetInt32()));
        (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets", author, new { name = "api-prod", rules = new[] { rule, rule } });
        Assert.True(status == HttpStatusCode.Created, body);
        Assert.Equal((2, "app=payments,env=prod"), (Json(body).GetProperty("version").GetInt32(), Json(body).GetProperty("scope").GetString()));
        (status, body) = await server.SendAsync(HttpMethod.Get, "/api/v1/policy/rulesets/api-prod/versions/1", viewer);
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Equal("web to api", Json(body).GetProperty("ruleset").GetProperty("rules")[0].GetProperty("name").GetString());

        // Bad input: a 400 naming the problem.
        foreach (var (bad, problem) in new (object Body, string Problem)[]
        {
            (new { name = "x", scope = "env", rules = new[] { rule } }, "'env' is not key=value"),
            (new { name = "x", scope = "env=prod;env=dev", rules = new[] { rule } }, "several selectors"),
            (new { name = "x", rules = new[] { rule } }, "scope is required"),
            (new { name = "../x", scope = "env=prod", rules = new[] { rule } }, "is not a ruleset name"),
            (new { name = "x", scope = "env=prod" }, "give either \"rules\""),
            (new { name = "x", scope = "env=prod", rules = new[] { new { name = "r", source = new { kind = "host" }, destination = new { kind = "internet" }, ports = Array.Empty<object>() } } }, "rules[0].source.kind 'host'"),
        })
        {
            (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets", author, bad);
            Assert.True(status == HttpStatusCode.BadRequest, $"{JsonSerializer.Serialize(bad)}: {(int)status} {body}");
            Assert.Contains(problem, Json(body).GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets/api-prod/provision", server.AdminKey, new { version = 9, mode = "enforced" });
        Assert.True(status == HttpStatusCode.NotFound, body);
        (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets/api-prod/provision", server.AdminKey, new { version = 1, mode = "audit" });
        Assert.True(status == HttpStatusCode.BadRequest && body.Contains("mode 'audit' is not one of visibility, enforced", StringComparison.Ordinal), body);
        (status, body) = await server.SendAsync(HttpMethod.Get, "/api/v1/policy/provisioned?format=yaml", viewer);
        Assert.True(status == HttpStatusCode.BadRequest, body);

        // Roles: a viewer reads but may not save nor provision.
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/api/v1/policy/rulesets", viewer)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets", viewer, new { name = "v", scope = "env=dev", rules = new[] { rule } })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets/api-prod/provision", viewer, new { version = 1, mode = "visibility" })).Status);

        // Key scopes: an env=dev author sees, saves and changes only rulesets governing env=dev destinations.
        (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets", devAuthor, new { name = "web-dev", scope = "app=api,env=dev", rules = new[] { rule } });
        Assert.True(status == HttpStatusCode.Created, body);
        (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets", devAuthor, new { name = "sneaky", scope = "env=prod", rules = new[] { rule } });
        Assert.True(status == HttpStatusCode.Forbidden, body);
        Assert.Contains("its scope env=prod is not inside your scope env=dev", body, StringComparison.Ordinal);
        (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets", devAuthor, new { name = "api-prod", scope = "env=dev", rules = new[] { rule } });
        Assert.True(status == HttpStatusCode.Forbidden, body);
        var listed = Json((await server.SendAsync(HttpMethod.Get, "/api/v1/policy/rulesets", devAuthor)).Body).EnumerateArray().Select(r => r.GetProperty("name").GetString()).ToList();
        Assert.Contains("web-dev", listed);
        Assert.DoesNotContain("api-prod", listed);
        Assert.Equal(HttpStatusCode.NotFound, (await server.SendAsync(HttpMethod.Get, "/api/v1/policy/rulesets/api-prod/versions", devAuthor)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await server.SendAsync(HttpMethod.Get, "/api/v1/policy/rulesets/api-prod/diff", devAuthor)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await server.SendAsync(HttpMethod.Post, "/api/v1/policy/rulesets/api-prod/restore", devAuthor, new { version = 1 })).Status);
        Assert.Contains("web-dev", Json((await server.SendAsync(HttpMethod.Get, "/api/v1/policy/rulesets", author)).Body).EnumerateArray().Select(r => r.GetProperty("name").GetString()));
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> Cli(string key, params string[] args) =>
        VisibilityProcess.RunCommandAsync(args, new Dictionary<string, string> { ["VISIBILITY_API_KEY"] = key });

    private static Dictionary<string, (int Version, string Mode, string By)> Provisioned((HttpStatusCode Status, string Body) answer)
    {
        Assert.True(answer.Status == HttpStatusCode.OK, answer.Body);
        return Json(answer.Body).GetProperty("rulesets").EnumerateArray().ToDictionary(
            r => r.GetProperty("name").GetString()!,
            r => (r.GetProperty("version").GetInt32(), r.GetProperty("mode").GetString()!, r.GetProperty("provisionedBy").GetString()!));
    }

    private static JsonElement Json(string body) => JsonDocument.Parse(body).RootElement;
}
