using System.Net;
using System.Text.Json;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Policy rendering for a scoped caller, through the real <c>serve --demo</c> with authentication on: an
/// <c>env=dev</c> policy author who names <c>env=prod</c> groups gets none of their addresses, and cannot tell a
/// prod group from one that does not exist (<c>env=staging</c>). The admin's render still resolves them.
/// </summary>
[Collection(AuthServer.Collection)]
public sealed class PolicyRenderScopeEndToEndTests(AuthServer server) : IDisposable
{
    private const string Render = "/api/v1/policy/render?format=nftables";
    private readonly TempDirectory files = new("visibility-render-scope");

    public void Dispose() => files.Dispose();

    [Fact]
    public async Task Render_DevAuthorNamingProdGroups_GetsNoProdAddress_AndTheSameNoteAsForAGroupThatDoesNotExist()
    {
        var author = await server.CreateKeyAsync("dev-render-author", "policy-author", "env=dev");
        var prod = await AddressesAsync("prod");
        var devApiAndWeb = await AddressesAsync("dev", "api", "web");
        Assert.NotEmpty(prod);
        Assert.NotEmpty(devApiAndWeb);
        var ruleset = new
        {
            schema = "visibility.policy/v1",
            name = "dev author",
            groupBy = new[] { "app", "env" },
            rules = new[]
            {
                Rule(["app=api", "env=dev"], ["app=db", "env=prod"], 5432),
                Rule(["app=api", "env=dev"], ["env=prod"], 443),
                Rule(["app=api", "env=dev"], ["env=staging"], 443),
                Rule(["app=web", "env=prod"], ["app=api", "env=dev"], 8443),
                Rule(["app=web", "env=dev"], ["app=api"], 8443),
                Rule(["app=web", "env=dev"], ["app=api", "env=dev"], 8443),
            },
        };

        var (status, scoped) = await server.SendAsync(HttpMethod.Post, Render, author, ruleset);
        Assert.True(status == HttpStatusCode.OK, scoped);
        AssertNoneOf(prod, scoped);

        // A prod group and a group that exists nowhere read the same; in-scope groups are resolved (app=api only to its dev workload).
        var prodNote = NotRendered(scoped, "app=api,env=dev -> env=prod");
        var stagingNote = NotRendered(scoped, "app=api,env=dev -> env=staging");
        Assert.Equal("# not rendered: app=api,env=dev -> env=prod: no addresses inside the caller's scope for env=prod", prodNote);
        Assert.Equal(prodNote.Replace("env=prod", "env=staging", StringComparison.Ordinal), stagingNote);
        Assert.Equal("# not rendered: app=web,env=prod -> app=api,env=dev: no addresses inside the caller's scope for app=web,env=prod", NotRendered(scoped, "app=web,env=prod -> app=api,env=dev"));
        Assert.Contains("ip saddr @app_web_env_dev_v4 ip daddr @app_api_v4 tcp dport 8443 accept", scoped, StringComparison.Ordinal);
        Assert.Contains("# Addresses come only from workloads inside the caller's scope (env=dev);", scoped, StringComparison.Ordinal);
        Assert.All(devApiAndWeb, a => Assert.Contains(a, scoped, StringComparison.Ordinal));
        await NftCheckAsync(scoped);

        // The admin (unscoped) renders the prod groups' addresses, and says plainly that staging has none.
        var (adminStatus, full) = await server.SendAsync(HttpMethod.Post, Render, server.AdminKey, ruleset);
        Assert.True(adminStatus == HttpStatusCode.OK, full);
        Assert.Contains("elements = { 10.10.1.10/31, 10.10.2.10, 10.10.3.10 }", full, StringComparison.Ordinal);
        Assert.Contains("ip saddr @app_api_env_dev_v4 ip daddr @env_prod_v4 tcp dport 443 accept", full, StringComparison.Ordinal);
        Assert.Equal("# not rendered: app=api,env=dev -> env=staging: no addresses for env=staging", NotRendered(full, "app=api,env=dev -> env=staging"));
        Assert.DoesNotContain("caller's scope", full, StringComparison.Ordinal);

        // The command line renders through the API with the key's scope.
        var file = Path.Combine(Directory.CreateDirectory(files.Path).FullName, "dev.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(ruleset));
        var (exit, stdout, stderr) = await VisibilityProcess.RunCommandAsync(
            ["policy", "render", "--url", server.Serve.BaseUrl, "--ruleset", file, "--format", "nftables"],
            new Dictionary<string, string> { ["VISIBILITY_API_KEY"] = author });
        Assert.True(exit == 0, stderr);
        Assert.Equal(scoped, stdout);

        // NetworkPolicy selects by labels and resolves no address, for anyone. What it reads from the inventory (whether
        // a group is pods: the demo's workloads are VMs) comes from the caller's scope only: to the dev author a prod
        // group reads as a group with no workloads (env=staging), to the admin as the VMs it is.
        var (yamlStatus, yaml) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/render?format=networkpolicy", author, ruleset);
        Assert.True(yamlStatus == HttpStatusCode.OK, yaml);
        AssertNoneOf(prod, yaml);
        Assert.Contains("name: visibility-allow-env-prod\n", yaml, StringComparison.Ordinal);
        Assert.Contains("name: visibility-allow-env-staging\n", yaml, StringComparison.Ordinal);
        Assert.Contains("# not rendered: app=web,env=dev -> app=api,env=dev: destination app=api,env=dev is vm workloads; NetworkPolicy selects pods only", yaml, StringComparison.Ordinal);
        var (_, adminYaml) = await server.SendAsync(HttpMethod.Post, "/api/v1/policy/render?format=networkpolicy", server.AdminKey, ruleset);
        Assert.Contains("# not rendered: app=api,env=dev -> env=prod: destination env=prod is vm workloads; NetworkPolicy selects pods only", adminYaml, StringComparison.Ordinal);
        Assert.DoesNotContain("name: visibility-allow-env-prod\n", adminYaml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DraftAsNftables_DevAuthor_TheProdEndOfADevToProdCallIsNotResolved()
    {
        var author = await server.CreateKeyAsync("dev-draft-author", "policy-author", "env=dev");
        var prod = await AddressesAsync("prod");
        const string Draft = "/api/v1/policy/draft?last=1h&includeFlagged=true&format=nftables";

        // The demo's dev api calls prod's database (the cross_env finding): in the author's scope by its dev end.
        var (status, scoped) = await server.SendAsync(HttpMethod.Get, Draft, author);
        Assert.True(status == HttpStatusCode.OK, scoped);
        AssertNoneOf(prod, scoped);
        Assert.Equal("# not rendered: app=api,env=dev -> app=db,env=prod: no addresses inside the caller's scope for app=db,env=prod", NotRendered(scoped, "app=api,env=dev -> app=db,env=prod"));
        await NftCheckAsync(scoped);

        var (adminStatus, full) = await server.SendAsync(HttpMethod.Get, Draft, server.AdminKey);
        Assert.True(adminStatus == HttpStatusCode.OK, full);
        Assert.Contains("10.10.3.10", full, StringComparison.Ordinal);
    }

    /// <summary>The addresses of the workloads in one env (and of some apps), as the admin lists them.</summary>
    private async Task<List<string>> AddressesAsync(string env, params string[] apps)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Get, "/api/v1/workloads", server.AdminKey);
        Assert.Equal(HttpStatusCode.OK, status);
        using var workloads = JsonDocument.Parse(body);
        return [.. workloads.RootElement.EnumerateArray()
            .Where(w => Label(w, "env") == env && (apps.Length == 0 || apps.Contains(Label(w, "app"))))
            .SelectMany(w => w.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()!))];
    }

    private static string? Label(JsonElement workload, string key) =>
        workload.GetProperty("labels").TryGetProperty(key, out var value) ? value.GetString() : null;

    private static object Rule(string[] source, string[] destination, int port)
    {
        static Dictionary<string, string> Labels(string[] pairs) => pairs.Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        return new
        {
            name = $"{string.Join(',', source)} -> {string.Join(',', destination)}",
            source = new { kind = "workload", labels = Labels(source) },
            destination = new { kind = "workload", labels = Labels(destination) },
            ports = new[] { new { protocol = "tcp", from = port, to = port } },
        };
    }

    private static void AssertNoneOf(List<string> addresses, string text)
    {
        var leaks = text.Split('\n').Where(l => addresses.Any(a => l.Contains(a, StringComparison.Ordinal))).ToList();
        Assert.True(leaks.Count == 0, $"addresses outside the scope in the answer:\n{string.Join('\n', leaks)}");
    }

    /// <summary>The one "not rendered" comment of a rule.</summary>
    private static string NotRendered(string script, string rule)
    {
        var lines = script.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith($"# not rendered: {rule}:", StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count == 1, $"expected one 'not rendered' note for {rule}, got {lines.Count}:\n{script}");
        return lines[0];
    }

    private async Task NftCheckAsync(string script)
    {
        var file = Path.Combine(Directory.CreateDirectory(files.Path).FullName, $"{Guid.NewGuid():N}.nft");
        await File.WriteAllTextAsync(file, script);
        var (exitCode, _, errors) = await ProcessRunner.RunAsync("/usr/sbin/nft", ["-c", "-f", file]);
        Assert.True(exitCode == 0, $"nft -c rejected the script: {errors}\n{script}");
    }
}
