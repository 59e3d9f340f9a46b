using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Visibility.Query.Policy;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>visibility policy save | versions | provision | rollback</c>: stored, versioned rulesets through a running
/// <c>serve</c> (<c>/api/v1/policy/rulesets</c>). Each prints one line per result (or the API's JSON with
/// <c>--json</c>) and exits 1 with the API's problem when the server refuses.
/// </summary>
public static class RulesetCommands
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Adds the verbs to <c>visibility policy</c>.</summary>
    public static void AddTo(Command policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        policy.Subcommands.Add(Save());
        policy.Subcommands.Add(Versions());
        policy.Subcommands.Add(Provision());
        policy.Subcommands.Add(Rollback());
    }

    private static Argument<string> NameArgument() => new("NAME") { Description = "the ruleset's name" };

    private static Option<int> Version(string name, string description) => CliOptions.Number(name, description, 1, int.MaxValue, 0);

    private static Command Save()
    {
        var url = CliOptions.Url();
        var ruleset = new Option<string>("--ruleset") { Description = "a JSON ruleset file (visibility.policy/v1, e.g. from policy draft)", HelpName = "FILE", Required = true };
        var name = CliOptions.Text("--name", "the stored ruleset's name (default: the file's \"name\")", "NAME");
        var scope = CliOptions.Text("--scope", "the destinations it governs, a label selector such as env=prod (default: the previous version's, or the draft's dst filter)", "SELECTOR");
        var json = CliOptions.Flag("--json", "the API's JSON instead of a line");
        var command = new Command("save", "store a ruleset file as the next version of a named ruleset, through a running `serve`")
            .With(ruleset, name, scope, json, url);
        command.SetAction((parse, _) => SaveAsync(
            parse.GetValue(url) ?? ApiCall.DefaultUrl, parse.GetValue(ruleset)!, parse.GetValue(name), parse.GetValue(scope), parse.GetValue(json)));
        return command;
    }

    private static Command Versions()
    {
        var url = CliOptions.Url();
        var name = NameArgument();
        var show = Version("--show", "write this version's ruleset (JSON) instead of the list");
        var diff = CliOptions.Flag("--diff", $"compare two versions (--from, --to; default the newest and the one before; exit {ExitCodes.Differs} when they differ)");
        var from = Version("--from", "with --diff: the earlier version");
        var to = Version("--to", "with --diff: the later version");
        var json = CliOptions.Flag("--json", "the API's JSON instead of a table");
        var command = new Command("versions", "a stored ruleset's versions (which one is provisioned, in which mode), one version, or a diff of two")
            .With(show, diff, from, to, json, url);
        command.Arguments.Add(name);
        command.SetAction((parse, _) =>
        {
            var target = parse.GetValue(url) ?? ApiCall.DefaultUrl;
            var n = parse.GetValue(name)!;
            return parse.GetValue(diff) ? DiffAsync(target, n, parse.GetValue(from), parse.GetValue(to), parse.GetValue(json))
                : parse.GetValue(show) is > 0 and var v ? ShowAsync(target, n, v)
                : ListAsync(target, n, parse.GetValue(json));
        });
        return command;
    }

    private static Command Provision()
    {
        var url = CliOptions.Url();
        var name = NameArgument();
        var version = Version("--version", "the version to make active (default: the newest)");
        var mode = CliOptions.Text("--mode", "visibility (observe only) or enforced (declared applied to the network)", "MODE", "visibility", "enforced");
        mode.Required = true;
        var json = CliOptions.Flag("--json", "the API's JSON instead of a line");
        var command = new Command("provision", "make one version of a stored ruleset the active policy, in a mode (admins), through a running `serve`")
            .With(version, mode, json, url);
        command.Arguments.Add(name);
        command.SetAction((parse, _) => ProvisionAsync(
            parse.GetValue(url) ?? ApiCall.DefaultUrl, parse.GetValue(name)!, parse.GetValue(version), parse.GetValue(mode)!, parse.GetValue(json)));
        return command;
    }

    private static Command Rollback()
    {
        var url = CliOptions.Url();
        var name = NameArgument();
        var to = Version("--to", "the version to go back to (default: the one before the newest)");
        var keep = CliOptions.Flag("--no-provision", "only save the old version again; leave what is provisioned as it is");
        var json = CliOptions.Flag("--json", "the API's JSON instead of lines");
        var command = new Command("rollback",
                "save an old version again as the newest; when the ruleset is provisioned, provision that new version in the same mode (admins)")
            .With(to, keep, json, url);
        command.Arguments.Add(name);
        command.SetAction((parse, _) => RollbackAsync(
            parse.GetValue(url) ?? ApiCall.DefaultUrl, parse.GetValue(name)!, parse.GetValue(to), parse.GetValue(keep), parse.GetValue(json)));
        return command;
    }

    private static async Task<int> SaveAsync(string url, string file, string? name, string? scope, bool json)
    {
        var ruleset = ReadRuleset(file);
        name ??= ruleset.Name;
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(1));
        var body = await ApiCall.SendAsync(http, "policy save",
            () => http.PostAsJsonAsync("/api/v1/policy/rulesets", new { name, scope, ruleset }), expected: HttpStatusCode.Created);
        if (body is null)
        {
            return ExitCodes.Error;
        }

        var root = JsonDocument.Parse(body).RootElement;
        await Console.Out.WriteLineAsync(json ? Pretty(root)
            : $"saved {root.GetProperty("name").GetString()} version {root.GetProperty("version").GetInt32()} (scope {root.GetProperty("scope").GetString()})");
        return ExitCodes.Ok;
    }

    private static async Task<int> ListAsync(string url, string name, bool json)
    {
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(1));
        if (await ApiCall.SendAsync(http, "policy versions", () => http.GetAsync($"/api/v1/policy/rulesets/{Uri.EscapeDataString(name)}/versions")) is not { } body)
        {
            return ExitCodes.Error;
        }

        var versions = JsonDocument.Parse(body).RootElement;
        if (json)
        {
            await Console.Out.WriteLineAsync(Pretty(versions));
            return ExitCodes.Ok;
        }

        var active = await ActiveAsync(http, name);
        var text = new StringBuilder("VERSION  SCOPE                 RULES  SAVED BY              SAVED AT              PROVISIONED\n");
        foreach (var v in versions.EnumerateArray())
        {
            var number = v.GetProperty("version").GetInt32();
            var restored = v.TryGetProperty("restoredFrom", out var r) ? $" (restores {r.GetInt32()})" : "";
            var provisioned = active is { } a && a.Version == number ? a.Mode : "";
            text.Append(CultureInfo.InvariantCulture,
                $"{number,-8} {v.GetProperty("scope").GetString(),-21} {v.GetProperty("rules").GetInt32(),5}  {v.GetProperty("savedBy").GetString(),-21} {v.GetProperty("savedAt").GetDateTimeOffset():yyyy-MM-dd HH:mm:ss}Z  {provisioned}{restored}\n");
        }

        Console.Out.Write(text.ToString());
        return ExitCodes.Ok;
    }

    private static async Task<int> ShowAsync(string url, string name, int version)
    {
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(1));
        if (await ApiCall.SendAsync(http, "policy versions", () => http.GetAsync($"/api/v1/policy/rulesets/{Uri.EscapeDataString(name)}/versions/{version}")) is not { } body)
        {
            return ExitCodes.Error;
        }

        await Console.Out.WriteLineAsync(Pretty(JsonDocument.Parse(body).RootElement.GetProperty("ruleset")));
        return ExitCodes.Ok;
    }

    private static async Task<int> DiffAsync(string url, string name, int from, int to, bool json)
    {
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(1));
        var query = string.Join('&', new[] { from > 0 ? $"from={from}" : null, to > 0 ? $"to={to}" : null }.Where(p => p is not null));
        if (await ApiCall.SendAsync(http, "policy versions --diff", () => http.GetAsync($"/api/v1/policy/rulesets/{Uri.EscapeDataString(name)}/diff?{query}")) is not { } body)
        {
            return ExitCodes.Error;
        }

        var root = JsonDocument.Parse(body).RootElement;
        var diff = root.GetProperty("difference").Deserialize<PolicyDifference>()!;
        if (json)
        {
            await Console.Out.WriteLineAsync(Pretty(root));
        }
        else
        {
            await Console.Out.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"{name}: version {root.GetProperty("from").GetInt32()} -> {root.GetProperty("to").GetInt32()}\n")
                + PolicyCommand.DiffText(diff));
        }

        return diff.Same ? ExitCodes.Ok : ExitCodes.Differs;
    }

    private static async Task<int> ProvisionAsync(string url, string name, int version, string mode, bool json)
    {
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(1));
        if (version == 0)
        {
            if (await LatestVersionAsync(http, name) is not { } latest)
            {
                return ExitCodes.Error;
            }

            version = latest;
        }

        if (await ProvisionVersionAsync(http, name, version, mode) is not { } body)
        {
            return ExitCodes.Error;
        }

        await Console.Out.WriteLineAsync(json ? Pretty(JsonDocument.Parse(body).RootElement) : $"provisioned {name} version {version} ({mode})");
        return ExitCodes.Ok;
    }

    private static async Task<int> RollbackAsync(string url, string name, int to, bool keepProvisioned, bool json)
    {
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(1));
        if (to == 0)
        {
            if (await LatestVersionAsync(http, name) is not { } latest)
            {
                return ExitCodes.Error;
            }

            if (latest < 2)
            {
                await Console.Error.WriteLineAsync($"visibility: policy rollback: ruleset '{name}' has only version 1; there is nothing to go back to");
                return ExitCodes.Error;
            }

            to = latest - 1;
        }

        var active = await ActiveAsync(http, name);
        if (await ApiCall.SendAsync(http, "policy rollback",
                () => http.PostAsJsonAsync($"/api/v1/policy/rulesets/{Uri.EscapeDataString(name)}/restore", new { version = to }), expected: HttpStatusCode.Created) is not { } restoredBody)
        {
            return ExitCodes.Error;
        }

        var restored = JsonDocument.Parse(restoredBody).RootElement;
        var version = restored.GetProperty("version").GetInt32();
        await Console.Out.WriteLineAsync(json ? Pretty(restored) : $"saved {name} version {version} (a copy of version {to})");
        if (keepProvisioned || active is not { } current)
        {
            return ExitCodes.Ok;
        }

        if (await ProvisionVersionAsync(http, name, version, current.Mode, $"policy rollback: version {version} is saved but still not provisioned") is not { } provisioned)
        {
            return ExitCodes.Error;
        }

        await Console.Out.WriteLineAsync(json ? Pretty(JsonDocument.Parse(provisioned).RootElement)
            : $"provisioned {name} version {version} ({current.Mode}), replacing version {current.Version}");
        return ExitCodes.Ok;
    }

    private static Task<string?> ProvisionVersionAsync(HttpClient http, string name, int version, string mode, string what = "policy provision") =>
        ApiCall.SendAsync(http, what, () => http.PostAsJsonAsync($"/api/v1/policy/rulesets/{Uri.EscapeDataString(name)}/provision", new { version, mode }));

    private static async Task<int?> LatestVersionAsync(HttpClient http, string name)
    {
        if (await ApiCall.SendAsync(http, "policy versions", () => http.GetAsync($"/api/v1/policy/rulesets/{Uri.EscapeDataString(name)}/versions")) is not { } body)
        {
            return null;
        }

        return JsonDocument.Parse(body).RootElement.EnumerateArray().Max(v => v.GetProperty("version").GetInt32());
    }

    /// <summary>The version of <paramref name="name"/> provisioned now and its mode; null when none is (or the list cannot be read).</summary>
    private static async Task<(int Version, string Mode)?> ActiveAsync(HttpClient http, string name)
    {
        using var response = await http.GetAsync("/api/v1/policy/rulesets");
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        var list = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return list.EnumerateArray().FirstOrDefault(r => r.GetProperty("name").GetString() == name) is { ValueKind: JsonValueKind.Object } ruleset
               && ruleset.GetProperty("provisioned") is { ValueKind: JsonValueKind.Object } p
            ? (p.GetProperty("version").GetInt32(), p.GetProperty("mode").GetString()!)
            : null;
    }

    private static string Pretty(JsonElement element) => JsonSerializer.Serialize(element, Indented);

    private static PolicyRuleset ReadRuleset(string file)
    {
        try
        {
            return JsonSerializer.Deserialize<PolicyRuleset>(File.ReadAllText(file)) ?? throw new UsageException($"{file} is empty");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read {file}: {ex.Message}");
        }
        catch (JsonException ex)
        {
            throw new UsageException($"{file} is not a ruleset: {Visibility.Flows.Json.JsonProblem.Describe(ex, typeof(PolicyRuleset))}");
        }
    }
}
