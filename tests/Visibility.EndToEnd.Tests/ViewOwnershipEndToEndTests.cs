using System.Net;
using System.Text.Json;
using Microsoft.Playwright;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Saved views against the real <c>serve --demo</c> with authentication on (the shared <see cref="AuthServer"/>):
/// the security test's requests — an <c>env=dev</c> viewer renaming, re-pointing and deleting an admin's view,
/// filling the view cap, naming a view with markup — and the audit trail they leave.
/// </summary>
[Collection(AuthServer.Collection)]
public sealed class ViewOwnershipEndToEndTests(AuthServer server)
{
    private const string Markup = "<img src=x onerror=alert(1)>";

    [Fact]
    public async Task ScopedViewer_PutAndDeleteOnAnAdminsView_Get403_ViewUnchanged_OwnViewTheirsToChange_AllAudited()
    {
        var admin = server.AdminKey;
        var adminName = "key:" + admin.Split('_')[1];
        var viewer = await server.CreateKeyAsync("views-dev-viewer", "viewer", "env=dev");
        var viewerName = "key:" + viewer.Split('_')[1];

        var adminsView = await CreateAsync(admin, "admin: dev to prod", "last=24h&groupBy=app,env&filter=src.env = dev");
        var id = adminsView.GetProperty("id").GetString()!;

        // The security test's requests: rename and re-point, then delete. Both refused, naming the owner.
        var (put, putBody) = await server.SendAsync(HttpMethod.Put, $"/api/v1/views/{id}", viewer, new { name = "pwned", query = "last=5m&filter=env = dev" });
        Assert.True(put == HttpStatusCode.Forbidden, $"PUT by a dev viewer: {(int)put} {putBody}");
        Assert.Equal($"saved view '{id}' belongs to {adminName}: only its owner or an unscoped admin may change it", Detail(putBody));
        var (delete, deleteBody) = await server.SendAsync(HttpMethod.Delete, $"/api/v1/views/{id}", viewer);
        Assert.True(delete == HttpStatusCode.Forbidden, $"DELETE by a dev viewer: {(int)delete} {deleteBody}");
        Assert.Contains("only its owner or an unscoped admin may delete it", Detail(deleteBody), StringComparison.Ordinal);
        Assert.Equal(adminName, adminsView.GetProperty("owner").GetString());

        // Reading stays shared, and the view is as the admin saved it.
        var (got, gotBody) = await server.SendAsync(HttpMethod.Get, $"/api/v1/views/{id}", viewer);
        Assert.Equal(HttpStatusCode.OK, got);
        Assert.Equal(adminsView.ToString(), JsonDocument.Parse(gotBody).RootElement.ToString());
        var (listed, listBody) = await server.SendAsync(HttpMethod.Get, "/api/v1/views", viewer);
        Assert.Equal(HttpStatusCode.OK, listed);
        Assert.Contains(JsonDocument.Parse(listBody).RootElement.EnumerateArray(), v => v.GetProperty("id").GetString() == id && v.GetProperty("owner").GetString() == adminName);

        // The viewer's own view is theirs to change and delete; an admin may change anyone's.
        var own = (await CreateAsync(viewer, "mine", "last=1h")).GetProperty("id").GetString()!;
        var (ownPut, ownPutBody) = await server.SendAsync(HttpMethod.Put, $"/api/v1/views/{own}", viewer, new { name = "mine, renamed", query = "last=7d" });
        Assert.True(ownPut == HttpStatusCode.OK, ownPutBody);
        Assert.Equal(("mine, renamed", viewerName), (Json(ownPutBody).GetProperty("name").GetString(), Json(ownPutBody).GetProperty("owner").GetString()));
        var (adminPut, adminPutBody) = await server.SendAsync(HttpMethod.Put, $"/api/v1/views/{own}", admin, new { name = "mine, tidied by admin", query = "last=7d" });
        Assert.True(adminPut == HttpStatusCode.OK, adminPutBody);
        Assert.Equal(viewerName, Json(adminPutBody).GetProperty("owner").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await server.SendAsync(HttpMethod.Delete, $"/api/v1/views/{own}", viewer)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await server.SendAsync(HttpMethod.Get, $"/api/v1/views/{own}", viewer)).Status);

        // Every change and every refused attempt is in the audit log, with its principal and outcome.
        var (auditStatus, auditBody) = await server.SendAsync(HttpMethod.Get, "/api/v1/audit?last=1h&limit=10000", admin);
        Assert.Equal(HttpStatusCode.OK, auditStatus);
        var entries = JsonDocument.Parse(auditBody).RootElement.EnumerateArray().Where(e => e.GetProperty("action").GetString()!.StartsWith("views.", StringComparison.Ordinal)).ToList();
        Assert.Contains(entries, e => Is(e, "views.create", adminName, "201", $"id={id}"));
        Assert.Contains(entries, e => Is(e, "views.replace", viewerName, "403", $"id={id}"));
        Assert.Contains(entries, e => Is(e, "views.delete", viewerName, "403", $"id={id}"));
        Assert.Contains(entries, e => Is(e, "views.create", viewerName, "201", $"id={own}"));
        Assert.Contains(entries, e => Is(e, "views.replace", viewerName, "200", $"id={own}"));
        Assert.Contains(entries, e => Is(e, "views.replace", adminName, "200", $"id={own}"));
        Assert.Contains(entries, e => Is(e, "views.delete", viewerName, "204", $"id={own}"));
        Assert.Contains($"audit: {viewerName} (viewer) views.replace id={id}: 403", server.Serve.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PerPrincipalCap_The101stViewOfOneViewer_Refused400NamingTheLimit_AnotherViewerStillSaves()
    {
        var filler = await server.CreateKeyAsync("views-filler", "viewer", "env=dev");
        const int cap = 100;
        for (var i = 0; i < cap; i++)
        {
            await CreateAsync(filler, $"filler {i:D3}", "last=1h");
        }

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/views", filler, new { name = "one too many", query = "last=1h" });
        Assert.True(status == HttpStatusCode.BadRequest, $"view {cap + 1} of one principal: {(int)status} {body}");
        Assert.Contains($"already has {cap} saved views", Detail(body), StringComparison.Ordinal);
        Assert.Equal("Visibility:Limits:MaxViewsPerPrincipal", Json(body).GetProperty("limit").GetString());

        var other = await server.CreateKeyAsync("views-other", "viewer");
        await CreateAsync(other, "someone else's", "last=1h");
        var audit = Json((await server.SendAsync(HttpMethod.Get, $"/api/v1/audit?last=1h&action=views.create&principal=key:{filler.Split('_')[1]}", server.AdminKey)).Body);
        Assert.Equal(cap, audit.EnumerateArray().Count(e => e.GetProperty("outcome").GetString() == "201"));
        Assert.Contains(audit.EnumerateArray(), e => e.GetProperty("outcome").GetString() == "400");
    }

    [Fact]
    public async Task ViewNamedWithMarkup_RoundTripsAsLiteralText_AndTheMapShowsItAsText()
    {
        var viewer = await server.CreateKeyAsync("views-markup", "viewer", "env=dev");
        var id = (await CreateAsync(viewer, Markup, "last=15m&groupBy=app,env")).GetProperty("id").GetString()!;
        var (_, got) = await server.SendAsync(HttpMethod.Get, $"/api/v1/views/{id}", server.AdminKey);
        Assert.Equal(Markup, Json(got).GetProperty("name").GetString());

        // Opened by another principal on the map: the name is text in the menu and the title, never an element.
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Browser.LaunchAsync(playwright);
        var page = await browser.NewPageAsync();
        var dialogs = new List<string>();
        page.Dialog += (_, dialog) =>
        {
            dialogs.Add(dialog.Message);
            _ = dialog.DismissAsync();
        };
        await page.GotoAsync($"{server.Serve.BaseUrl}/?view={id}#key={server.AdminKey}");
        await page.WaitForFunctionAsync(
            "id => [...document.querySelectorAll('#views option')].some(o => o.value === id)", id, new PageWaitForFunctionOptions { Timeout = 60_000 });
        await Assertions.Expect(page).ToHaveTitleAsync($"{Markup} — Visibility", new PageAssertionsToHaveTitleOptions { Timeout = 60_000 });
        Assert.Equal(Markup, await page.Locator($"#views option[value='{id}']").TextContentAsync());
        Assert.Equal(0, await page.Locator("img").CountAsync());
        Assert.Empty(dialogs);
    }

    private async Task<JsonElement> CreateAsync(string key, string name, string query)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Post, "/api/v1/views", key, new { name, query });
        Assert.True(status == HttpStatusCode.Created, $"creating '{name}': {(int)status} {body}");
        return Json(body);
    }

    private static JsonElement Json(string body) => JsonDocument.Parse(body).RootElement;

    private static string Detail(string problem) => Json(problem).GetProperty("detail").GetString()!;

    private static bool Is(JsonElement entry, string action, string principal, string outcome, string target) =>
        entry.GetProperty("action").GetString() == action && entry.GetProperty("principal").GetString() == principal
        && entry.GetProperty("outcome").GetString() == outcome && entry.GetProperty("target").GetString() == target;
}
