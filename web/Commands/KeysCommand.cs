using System.Net.Http.Json;
using System.Text.Json;
using Visibility.Flows.Store;
using Visibility.Web.Api;
using Visibility.Web.Auth;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>visibility keys create|list|revoke</c>: API keys, written to the configured store directly (the embedded store
/// only while no other process has it open), or through a running <c>serve</c> with <c>--url</c> and an admin key in
/// <c>VISIBILITY_API_KEY</c>. <c>create</c> prints the key alone on standard output, once.
/// </summary>
public static class KeysCommand
{
    public const string Usage =
        "keys create --role viewer|policy-author|exporter|admin --name N [--scope app=payments[,env=prod]]... [--url U]\n" +
        "                                an API key, printed once (stored hashed); --scope limits it to flows touching the selectors\n" +
        "          keys list [--url U] | keys revoke ID [--url U]\n" +
        "                                without --url the configured store is used directly (stop an embedded `serve` first);\n" +
        "                                with --url the running serve's API, with an admin key in VISIBILITY_API_KEY";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("create" or "list" or "revoke"))
        {
            throw new UsageException("keys needs create, list or revoke");
        }

        string? role = null, name = null, url = null, id = null;
        var scopes = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--role":
                    role = Cli.StringArgument(args, ref i);
                    break;
                case "--name":
                    name = Cli.StringArgument(args, ref i);
                    break;
                case "--scope":
                    scopes.Add(Cli.StringArgument(args, ref i));
                    break;
                case "--url":
                    url = Cli.StringArgument(args, ref i);
                    break;
                default:
                    id = args[0] == "revoke" && id is null && !args[i].StartsWith('-') ? args[i] : throw new UsageException($"keys {args[0]} does not know '{args[i]}'");
                    break;
            }
        }

        if (args[0] == "revoke" && id is null)
        {
            throw new UsageException("keys revoke needs the key's id (keys list shows them)");
        }

        var scopeText = string.Join(";", scopes);
        if (args[0] == "create" && SecurityApi.CheckKeyRequest(name, role, scopeText, out _) is { } problem)
        {
            throw new UsageException($"keys create: {problem}");
        }

        return url is null ? await OnStoreAsync(args[0], role, name, scopeText, id) : await OnApiAsync(url, args[0], role, name, scopeText, id);
    }

    private static async Task<int> OnStoreAsync(string verb, string? role, string? name, string scopeText, string? id)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
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
            return 1;
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
                return 0;
            case "list":
                Console.WriteLine(JsonSerializer.Serialize(await keys.ListAsync(CancellationToken.None), Json));
                return 0;
            default:
                var revoked = await keys.RevokeAsync(id!, CancellationToken.None);
                await audit.RecordAsync(who, "", "keys.revoke", "id=" + id, revoked ? "204" : "404", "visibility keys revoke", "", CancellationToken.None);
                if (!revoked)
                {
                    await Console.Error.WriteLineAsync($"visibility: no API key '{id}'");
                    return 1;
                }

                await Console.Error.WriteLineAsync($"revoked {id}");
                return 0;
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
                    return 1;
                }

                Print(JsonSerializer.Deserialize<CreatedApiKey>(body)!);
                return 0;
            case "list":
                var list = await ApiCall.SendAsync(http, "keys list", () => http.GetAsync("/api/v1/keys"));
                if (list is null)
                {
                    return 1;
                }

                Console.WriteLine(JsonSerializer.Serialize(JsonSerializer.Deserialize<JsonElement>(list), Json));
                return 0;
            default:
                var done = await ApiCall.SendAsync(http, "keys revoke", () => http.DeleteAsync($"/api/v1/keys/{Uri.EscapeDataString(id!)}"), expected: System.Net.HttpStatusCode.NoContent);
                if (done is null)
                {
                    return 1;
                }

                await Console.Error.WriteLineAsync($"revoked {id}");
                return 0;
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
