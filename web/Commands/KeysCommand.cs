using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using Visibility.Flows.Store;
using Visibility.Web.Api;
using Visibility.Web.Auth;
using Visibility.Web.Hosting;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>visibility keys create|list|revoke</c>: API keys, written to the configured store directly (the embedded store
/// only while no other process has it open), or through a running <c>serve</c> with <c>--url</c> and an admin key in
/// <c>VISIBILITY_API_KEY</c>. <c>create</c> prints the key alone on standard output, once.
/// </summary>
public static class KeysCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var keys = new Command("keys",
            "API keys, in the configured store directly (stop an embedded `serve` first), or with --url through a running " +
            $"`serve`'s API with an admin key in {ApiCall.KeyVariable}");
        keys.Subcommands.Add(CreateKey());
        keys.Subcommands.Add(List());
        keys.Subcommands.Add(Revoke());
        return keys;
    }

    private static Option<string> Url() => new("--url")
    {
        Description = $"a running `visibility serve` to ask (with an admin key in {ApiCall.KeyVariable}); without it, the configured store",
        HelpName = "URL",
    };

    private static Command CreateKey()
    {
        var role = CliOptions.Text("--role", "what the key may do: viewer, policy-author, exporter or admin", "ROLE", "viewer", "policy-author", "exporter", "admin");
        var name = CliOptions.Text("--name", "who or what the key is for", "NAME");
        var scope = new Option<string[]>("--scope")
        {
            Description = "limit the key to flows touching these selectors, e.g. app=payments,env=prod (repeatable)",
            HelpName = "SELECTORS",
        };
        var url = Url();
        var command = new Command("create", "an API key, printed once on standard output (stored hashed)").With(role, name, scope, url);
        command.SetAction((parse, _) => RunAsync("create", parse.GetValue(url), parse.GetValue(role), parse.GetValue(name), parse.GetValue(scope) ?? [], null));
        return command;
    }

    private static Command List()
    {
        var url = Url();
        var command = new Command("list", "the API keys (never the keys themselves)").With(url);
        command.SetAction((parse, _) => RunAsync("list", parse.GetValue(url), null, null, [], null));
        return command;
    }

    private static Command Revoke()
    {
        var id = new Argument<string>("ID") { Description = "the key's id (keys list shows them)" };
        var url = Url();
        var command = new Command("revoke", "revokes an API key at once").With(url);
        command.Arguments.Add(id);
        command.SetAction((parse, _) => RunAsync("revoke", parse.GetValue(url), null, null, [], parse.GetValue(id)));
        return command;
    }

    private static async Task<int> RunAsync(string verb, string? url, string? role, string? name, string[] scopes, string? id)
    {
        var scopeText = string.Join(";", scopes);
        if (verb == "create" && SecurityApi.CheckKeyRequest(name, role, scopeText, out _) is { } problem)
        {
            throw new UsageException(problem);
        }

        return url is null ? await OnStoreAsync(verb, role, name, scopeText, id) : await OnApiAsync(url, verb, role, name, scopeText, id);
    }

    private static async Task<int> OnStoreAsync(string verb, string? role, string? name, string scopeText, string? id)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        ConfigurationCheck.ThrowOnUnknownKeys(builder.Configuration);
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).AddUtcConsoleTimestamps();
        builder.Logging.AddFilter((_, level) => level >= LogLevel.Warning);
        builder.Services.AddFlowStore(builder.Configuration);
        builder.Services.AddSingleton<ApiKeyStore>();
        builder.Services.AddSingleton<AuditLog>();
        using var host = builder.Build();
        try
        {
            await host.Services.OpenStoreAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is StoreException or Flows.Store.Chdb.ChdbException or IOException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync(
                $"visibility: cannot open the store ({ex.Message}). An embedded store is open in one process at a time: " +
                "with `serve` running, use its API: VISIBILITY_API_KEY=<admin key> visibility keys ... --url http://127.0.0.1:5080");
            return ExitCodes.Error;
        }

        var keys = host.Services.GetRequiredService<ApiKeyStore>();
        var audit = host.Services.GetRequiredService<AuditLog>();
        var who = "cli:" + Environment.UserName;
        switch (verb)
        {
            case "create":
                SecurityApi.CheckKeyRequest(name, role, scopeText, out var scope);
                var created = await keys.CreateAsync(name!, role!, scope!, who, CancellationToken.None);
                await audit.RecordAsync(who, "", "keys.create", $"key:{created.Info.Id} role={created.Info.Role} scope={created.Info.Scope}", "201", "visibility keys create", "", CancellationToken.None);
                Print(created);
                return ExitCodes.Ok;
            case "list":
                Console.WriteLine(JsonSerializer.Serialize(await keys.ListAsync(CancellationToken.None), Json));
                return ExitCodes.Ok;
            default:
                var revoked = await keys.RevokeAsync(id!, CancellationToken.None);
                await audit.RecordAsync(who, "", "keys.revoke", "id=" + id, revoked ? "204" : "404", "visibility keys revoke", "", CancellationToken.None);
                if (!revoked)
                {
                    await Console.Error.WriteLineAsync($"visibility: no API key '{id}'");
                    return ExitCodes.Error;
                }

                await Console.Error.WriteLineAsync($"revoked {id}");
                return ExitCodes.Ok;
        }
    }

    private static async Task<int> OnApiAsync(string url, string verb, string? role, string? name, string scopeText, string? id)
    {
        using var http = ApiCall.Client(url, TimeSpan.FromSeconds(30));
        switch (verb)
        {
            case "create":
                var body = await ApiCall.SendAsync(http, "keys create", () => http.PostAsJsonAsync("/api/v1/keys", new { name, role, scope = scopeText }), expected: System.Net.HttpStatusCode.Created);
                if (body is null)
                {
                    return ExitCodes.Error;
                }

                Print(JsonSerializer.Deserialize<CreatedApiKey>(body)!);
                return ExitCodes.Ok;
            case "list":
                var list = await ApiCall.SendAsync(http, "keys list", () => http.GetAsync("/api/v1/keys"));
                if (list is null)
                {
                    return ExitCodes.Error;
                }

                Console.WriteLine(JsonSerializer.Serialize(JsonSerializer.Deserialize<JsonElement>(list), Json));
                return ExitCodes.Ok;
            default:
                var done = await ApiCall.SendAsync(http, "keys revoke", () => http.DeleteAsync($"/api/v1/keys/{Uri.EscapeDataString(id!)}"), expected: System.Net.HttpStatusCode.NoContent);
                if (done is null)
                {
                    return ExitCodes.Error;
                }

                await Console.Error.WriteLineAsync($"revoked {id}");
                return ExitCodes.Ok;
        }
    }

    private static void Print(CreatedApiKey created)
    {
        Console.WriteLine(created.Key);
        Console.Error.WriteLine(
            $"created key {created.Info.Id} '{created.Info.Name}', role {created.Info.Role}" +
            (created.Info.Scope.Length > 0 ? $", scope {created.Info.Scope}" : ", unscoped") +
            ". It is shown only now; send it as 'Authorization: Bearer <key>' or set VISIBILITY_API_KEY for the CLI.");
    }
}
