using Visibility.Query.Security;

namespace Visibility.Web.Auth;

/// <summary>
/// The first key: a store without keys gets an admin key at start, printed once to standard output (never to the
/// log). The demo makes a fresh admin key named "demo" at every start (revoking the previous one) and prints it with
/// the map's address.
/// </summary>
public static class AuthBootstrap
{
    public const string DemoKeyName = "demo";
    public const string InitialKeyName = "initial-admin";

    public static async Task RunAsync(IServiceProvider services, AuthOptions options, bool demo, string url, TextWriter output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        if (options.Disabled)
        {
            await output.WriteLineAsync($"visibility: authentication is disabled (loopback only); open {url}/");
            return;
        }

        var keys = services.GetRequiredService<ApiKeyStore>();
        var existing = await keys.ListAsync(cancellationToken);
        string? name = null;
        if (demo)
        {
            foreach (var old in existing.Where(k => k.Name == DemoKeyName && !k.Revoked))
            {
                await keys.RevokeAsync(old.Id, cancellationToken);
            }

            name = DemoKeyName;
        }
        else if (existing.Count == 0)
        {
            name = InitialKeyName;
        }

        if (name is null)
        {
            return;
        }

        var created = await keys.CreateAsync(name, Roles.Admin, AccessScope.Unrestricted, "bootstrap", cancellationToken);
        await services.GetRequiredService<AuditLog>().RecordAsync("bootstrap", Roles.Admin, "keys.create", "key:" + created.Info.Id + " role=admin", "201", name, "", cancellationToken);
        await output.WriteLineAsync(
            $"""
            visibility: {(demo ? "demo" : "no API keys yet:")} admin key '{name}' (shown once; keep it secret):
              {created.Key}
            Open the map with it: {url}/#key={created.Key}
            Use it with the API: curl -H 'Authorization: Bearer {created.Key}' {url}/api/v1/graph
            More keys: visibility keys create --role viewer|policy-author|exporter|admin [--scope app=payments] --name NAME
            """);
    }
}
