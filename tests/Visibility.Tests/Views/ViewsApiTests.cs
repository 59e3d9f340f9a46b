using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Ingest.Enrichment;
using Visibility.Query.Flows;
using Visibility.Query.Security;
using Visibility.Query.Views;
using Visibility.Tests.Support;
using Visibility.Web.Api;
using Visibility.Web.Auth;
using Visibility.Web.Http;

namespace Visibility.Tests.Views;

/// <summary>
/// The views API as <c>serve</c> maps it (routes, audit filters, the store and the audit log on chDB) on a real
/// Kestrel listener, with a stand-in for authentication: headers name the principal, its role and its scope, and
/// become the claims the real authentication gives. The whole program is tested in ViewOwnershipEndToEndTests.
/// </summary>
public sealed class ViewsApiTests
{
    private static readonly Caller Alice = new("key:a11ce0000001", "viewer", "env=dev");
    private static readonly Caller Bob = new("oidc:bob", "viewer", "");
    private static readonly Caller Admin = new("key:ad0000000001", "admin", "");
    private static readonly Caller ScopedAdmin = new("oidc:scoped-admin", "admin", "env=dev");

    [Fact]
    public async Task ReplaceOrDelete_ByAnotherViewer_403NamingTheOwner_ViewUnchanged_RefusalsAudited()
    {
        await using var server = await TestServer.StartAsync();
        var view = await server.CreateAsync(Admin, "admin's view", "last=24h&groupBy=app,env");
        Assert.Equal(Admin.Name, view.GetProperty("owner").GetString());
        var id = view.GetProperty("id").GetString()!;

        foreach (var caller in new[] { Alice, Bob, ScopedAdmin })
        {
            var (putStatus, putProblem) = await server.SendAsync(HttpMethod.Put, $"/api/v1/views/{id}", caller, new { name = "hijacked", query = "last=1h" });
            Assert.Equal(HttpStatusCode.Forbidden, putStatus);
            Assert.Equal($"saved view '{id}' belongs to {Admin.Name}: only its owner or an unscoped admin may change it", putProblem.GetProperty("detail").GetString());
            var (deleteStatus, deleteProblem) = await server.SendAsync(HttpMethod.Delete, $"/api/v1/views/{id}", caller);
            Assert.Equal(HttpStatusCode.Forbidden, deleteStatus);
            Assert.Contains("may delete it", deleteProblem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        var (status, unchanged) = await server.SendAsync(HttpMethod.Get, $"/api/v1/views/{id}", Alice);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(view.ToString(), unchanged.ToString());

        var audit = await server.AuditAsync();
        Assert.Contains(audit, e => e.Is("views.create", Admin.Name, "201") && e.Target == $"id={id}");
        foreach (var caller in new[] { Alice, Bob, ScopedAdmin })
        {
            Assert.Contains(audit, e => e.Is("views.replace", caller.Name, "403") && e.Target == $"id={id}" && e.Detail == $"PUT /api/v1/views/{id}");
            Assert.Contains(audit, e => e.Is("views.delete", caller.Name, "403") && e.Target == $"id={id}");
        }
    }

    [Fact]
    public async Task Owner_ReplacesAndDeletesOwnView_AdminAnyView_OwnerStaysTheCreator()
    {
        await using var server = await TestServer.StartAsync();
        var mine = (await server.CreateAsync(Alice, "alice's", "last=1h")).GetProperty("id").GetString()!;
        var bobs = (await server.CreateAsync(Bob, "bob's", "last=1h")).GetProperty("id").GetString()!;

        var (status, replaced) = await server.SendAsync(HttpMethod.Put, $"/api/v1/views/{mine}", Alice, new { name = "alice's, renamed", query = "last=7d" });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(("alice's, renamed", "last=7d", Alice.Name), (replaced.GetProperty("name").GetString(), replaced.GetProperty("query").GetString(), replaced.GetProperty("owner").GetString()));

        (status, replaced) = await server.SendAsync(HttpMethod.Put, $"/api/v1/views/{bobs}", Admin, new { name = "fixed by admin", query = "last=1h" });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(Bob.Name, replaced.GetProperty("owner").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await server.SendAsync(HttpMethod.Delete, $"/api/v1/views/{mine}", Alice)).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await server.SendAsync(HttpMethod.Delete, $"/api/v1/views/{bobs}", Admin)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await server.SendAsync(HttpMethod.Delete, $"/api/v1/views/{bobs}", Admin)).Status);

        var audit = await server.AuditAsync();
        Assert.Contains(audit, e => e.Is("views.replace", Alice.Name, "200") && e.Target == $"id={mine}");
        Assert.Contains(audit, e => e.Is("views.replace", Admin.Name, "200") && e.Target == $"id={bobs}");
        Assert.Contains(audit, e => e.Is("views.delete", Alice.Name, "204") && e.Target == $"id={mine}");
        Assert.Contains(audit, e => e.Is("views.delete", Admin.Name, "204") && e.Target == $"id={bobs}");
        Assert.Contains(audit, e => e.Is("views.delete", Admin.Name, "404") && e.Target == $"id={bobs}");
    }

    [Theory]
    [InlineData("last=1h&colour=policy&decisionsAt=traffic", null)]
    [InlineData("last=1h&colour=findings&decisionsAt=now", null)]
    [InlineData("last=1h&colour=red", "query: colour must be findings or policy")]
    [InlineData("last=1h&colour=policy&decisionsAt=yesterday", "query: decisionsAt must be now or traffic")]
    public void Validate_TheMapsColouringAndDecisionTime_KnownValuesOnly(string query, string? problem) =>
        Assert.Equal(problem, ViewsApi.Validate(new ViewsApi.ViewBody("policy view", query)));

    [Fact]
    public async Task List_SharedWithEveryReader_EachViewNamesItsOwner()
    {
        await using var server = await TestServer.StartAsync();
        await server.CreateAsync(Alice, "a", "last=1h");
        await server.CreateAsync(Admin, "b", "last=1h");

        foreach (var reader in new[] { Alice, Bob, ScopedAdmin })
        {
            var (status, listed) = await server.SendAsync(HttpMethod.Get, "/api/v1/views", reader);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal([("a", Alice.Name), ("b", Admin.Name)], listed.EnumerateArray().Select(v => (v.GetProperty("name").GetString(), v.GetProperty("owner").GetString())));
        }
    }

    [Fact]
    public async Task Create_OverThePerPrincipalLimit_400NamingTheSetting_OthersUnaffected_RefusalAudited()
    {
        await using var server = await TestServer.StartAsync(maxViewsPerPrincipal: 3);
        for (var i = 0; i < 3; i++)
        {
            await server.CreateAsync(Alice, $"v{i}", "last=1h");
        }

        var (status, problem) = await server.SendAsync(HttpMethod.Post, "/api/v1/views", Alice, new { name = "v3", query = "last=1h" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(
            $"{Alice.Name} already has 3 saved views, the most one principal may have (Visibility:Limits:MaxViewsPerPrincipal); delete some first",
            problem.GetProperty("detail").GetString());
        Assert.Equal("Visibility:Limits:MaxViewsPerPrincipal", problem.GetProperty("limit").GetString());
        Assert.Equal(3, problem.GetProperty("maxViews").GetInt32());

        await server.CreateAsync(Bob, "bob's", "last=1h");
        Assert.Contains(await server.AuditAsync(), e => e.Is("views.create", Alice.Name, "400") && e.Target == "/api/v1/views");
    }

    [Fact]
    public async Task Name_WithMarkup_StoredAndReturnedAsLiteralText_ControlCharactersRefused()
    {
        await using var server = await TestServer.StartAsync();
        const string markup = "<img src=x onerror=alert(1)>";
        var id = (await server.CreateAsync(Bob, markup, "last=1h")).GetProperty("id").GetString()!;
        var (_, got) = await server.SendAsync(HttpMethod.Get, $"/api/v1/views/{id}", Alice);
        Assert.Equal(markup, got.GetProperty("name").GetString());

        var (status, problem) = await server.SendAsync(HttpMethod.Post, "/api/v1/views", Bob, new { name = "forged\naudit: line", query = "last=1h" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("name must not contain control characters", problem.GetProperty("detail").GetString());
    }

    private sealed record Caller(string Name, string Role, string Scope);

    private sealed record Audited(string Action, string Principal, string Outcome, string Target, string Detail)
    {
        public bool Is(string action, string principal, string outcome) => Action == action && Principal == principal && Outcome == outcome;
    }

    /// <summary>The views routes with their audit filters, the store and the audit log in a database of their own.</summary>
    private sealed class TestServer : IAsyncDisposable
    {
        private readonly WebApplication app;
        private readonly HttpClient http;

        private TestServer(WebApplication app)
        {
            this.app = app;
            http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()), Timeout = TimeSpan.FromSeconds(60) };
        }

        public static async Task<TestServer> StartAsync(int? maxViewsPerPrincipal = null)
        {
            var store = await TestStore.CreateAsync();
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
            if (maxViewsPerPrincipal is { } max)
            {
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    [$"{LimitsOptions.Section}:MaxViewsPerPrincipal"] = max.ToString(System.Globalization.CultureInfo.InvariantCulture),
                });
            }

            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            builder.Services.AddProblemDetails();
            builder.Services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
            builder.Services.AddSingleton<IFlowReader>(store);
            builder.Services.AddSingleton<IFlowCatalog>(store);
            builder.Services.AddSingleton<SavedViewStore>();
            builder.Services.AddSingleton(new AuditLog(store, store, NullLogger<AuditLog>.Instance));
            builder.Services.AddSingleton(new WorkloadInventory(Options.Create(new InventoryOptions())));
            builder.Services.AddSingleton(new ObservedPolicies(store, new StoreOptions().Retentions));
            var app = builder.Build();
            app.UseExceptionHandler();
            app.UseStatusCodePages();
            app.Use((context, next) =>
            {
                var headers = context.Request.Headers;
                context.User = VisibilityClaims.Create(
                    headers["X-Test-Principal"].ToString(), headers["X-Test-Role"].ToString(), AccessScope.Parse(headers["X-Test-Scope"].ToString()), "test");
                return next(context);
            });
            app.MapGroup("/api/v1").MapViewsApi();
            await app.StartAsync();
            return new TestServer(app);
        }

        public async Task<JsonElement> CreateAsync(Caller caller, string name, string query)
        {
            var (status, view) = await SendAsync(HttpMethod.Post, "/api/v1/views", caller, new { name, query });
            Assert.True(status == HttpStatusCode.Created, $"{caller.Name} could not create '{name}': {(int)status} {view}");
            return view;
        }

        public async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, Caller caller, object? body = null)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            request.Headers.Add("X-Test-Principal", caller.Name);
            request.Headers.Add("X-Test-Role", caller.Role);
            request.Headers.Add("X-Test-Scope", caller.Scope);
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.Forbidden || (response.StatusCode == HttpStatusCode.BadRequest && text.Length > 0))
            {
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            }

            return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
        }

        /// <summary>The audit log's entries; the filter writes each before the response goes out.</summary>
        public async Task<List<Audited>> AuditAsync()
        {
            var entries = await app.Services.GetRequiredService<AuditLog>().ListAsync(
                DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(1), null, null, AuditLog.MaxLimit, CancellationToken.None);
            return [.. entries.Select(e => new Audited(e.Action, e.Principal, e.Outcome, e.Target, e.Detail))];
        }

        public async ValueTask DisposeAsync()
        {
            http.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
