using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Visibility.Query.Policy;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>visibility policy draft | simulate | diff</c>: drafts and simulations through a running <c>serve</c> (it holds
/// the store); diff compares two ruleset files locally.
/// </summary>
public static class PolicyCommand
{
    private static readonly JsonSerializerOptions Indented = PolicyJson.Files;

    public static Command Create()
    {
        var policy = new Command("policy", "allow rules: drafted from traffic, rendered, simulated against history, compared");
        policy.Subcommands.Add(Draft());
        policy.Subcommands.Add(Render());
        policy.Subcommands.Add(Simulate());
        policy.Subcommands.Add(Diff());
        RulesetCommands.AddTo(policy);
        return policy;
    }

    private static Option<string> RulesetOption() => new("--ruleset") { Description = "a JSON ruleset file (from policy draft)", HelpName = "FILE", Required = true };

    private static Command Draft()
    {
        var url = CliOptions.Url();
        var (last, from, to) = CliOptions.Range();
        var filter = CliOptions.Filter();
        var groupBy = CliOptions.GroupBy();
        var name = CliOptions.Text("--name", "the ruleset's name", "NAME");
        var includeFlagged = CliOptions.Flag("--include-flagged", "also allow flows with findings (left out by default)");
        var format = CliOptions.Text("--format", "json (a ruleset, the default), networkpolicy (Kubernetes YAML) or nftables", "FORMAT", "json", "networkpolicy", "nftables");
        var output = CliOptions.Text("--out", "write to this file instead of standard output", "FILE");
        var command = new Command("draft", "allow rules drafted from the range's traffic, from a running `serve`")
            .With(last, from, to, filter, groupBy, includeFlagged, name, format, output, url);
        var parameters = new List<(Option<string>, string)> { (last, "last"), (from, "from"), (to, "to"), (filter, "filter"), (name, "name"), (groupBy, "groupBy"), (format, "format") };
        command.SetAction((parse, _) =>
        {
            var query = CliOptions.Query(parse, parameters);
            if (parse.GetValue(includeFlagged))
            {
                query.Add(("includeFlagged", "true"));
            }

            return DraftAsync(parse.GetValue(url) ?? ApiCall.DefaultUrl, query, parse.GetValue(format) ?? "json", parse.GetValue(output));
        });
        return command;
    }

    private static Command Simulate()
    {
        var url = CliOptions.Url();
        var ruleset = RulesetOption();
        var (last, from, to) = CliOptions.Range();
        var filter = CliOptions.Filter();
        var json = CliOptions.Flag("--json", "the API's JSON instead of a summary");
        var failOnBlocked = CliOptions.Flag("--fail-on-blocked", $"exit {ExitCodes.Blocked} when the ruleset would block some flow");
        var allTraffic = CliOptions.Flag("--all-traffic", "judge all traffic, not only the ruleset's scope (the destinations its draft covered)");
        var command = new Command("simulate", "what the ruleset would allow and block in the range (by default the draft's range) and its scope, from a running `serve`")
            .With(ruleset, last, from, to, filter, allTraffic, json, failOnBlocked, url);
        command.SetAction((parse, _) => SimulateAsync(
            parse.GetValue(url) ?? ApiCall.DefaultUrl, parse.GetValue(ruleset)!, parse.GetValue(from), parse.GetValue(to), parse.GetValue(last),
            parse.GetValue(filter), parse.GetValue(allTraffic), parse.GetValue(json), parse.GetValue(failOnBlocked)));
        return command;
    }

    private static Command Render()
    {
        var url = CliOptions.Url();
        var ruleset = RulesetOption();
        var format = CliOptions.Text("--format", "networkpolicy (Kubernetes YAML) or nftables", "FORMAT", "networkpolicy", "nftables");
        var output = CliOptions.Text("--out", "write to this file instead of standard output", "FILE");
        var host = CliOptions.Text("--host", "nftables: render for this host only (a workload name in the inventory): the rules that reach its addresses", "NAME");
        var management = CliOptions.Text("--management-allow", "nftables: sources always accepted on the host's input, e.g. SSH from a bastion", "CIDR,...");
        var command = new Command("render", "a ruleset as Kubernetes NetworkPolicy YAML or an nftables ruleset, through a running `serve`")
            .With(ruleset, format, host, management, output, url);
        command.SetAction((parse, _) =>
        {
            var query = CliOptions.Query(parse, [(format, "format"), (host, "host"), (management, "managementAllow")]);
            return RenderAsync(parse.GetValue(url) ?? ApiCall.DefaultUrl, parse.GetValue(ruleset)!, query, parse.GetValue(output));
        });
        return command;
    }

    private static Command Diff()
    {
        var before = new Argument<string>("BEFORE") { Description = "the earlier ruleset file" };
        var after = new Argument<string>("AFTER") { Description = "the later ruleset file" };
        var json = CliOptions.Flag("--json", "the difference as JSON");
        var command = new Command("diff", $"rules added, removed and changed between two ruleset files, locally (exit {ExitCodes.Differs} when they differ)").With(json);
        command.Arguments.Add(before);
        command.Arguments.Add(after);
        command.SetAction((parse, _) => DiffAsync(parse.GetValue(before)!, parse.GetValue(after)!, parse.GetValue(json)));
        return command;
    }

    private static async Task<int> DraftAsync(string url, List<(string, string)> query, string format, string? output)
    {
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(10));
        var path = "/api/v1/policy/draft?" + string.Join('&', query.Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2)}"));
        if (await ApiCall.SendAsync(http, "policy draft", () => http.GetAsync(path)) is not { } body)
        {
            return ExitCodes.Error;
        }

        if (format != "json")
        {
            return await WriteAsync(body, output);
        }

        var root = JsonDocument.Parse(body).RootElement;
        var ruleset = JsonSerializer.Serialize(root.GetProperty("ruleset").Deserialize<PolicyRuleset>(), Indented) + "\n";
        if (output is null)
        {
            Console.Out.Write(ruleset);
        }
        else
        {
            await WriteFileAsync(output, ruleset);
        }

        await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"visibility: {root.GetProperty("ruleset").GetProperty("rules").GetArrayLength()} rules from {root.GetProperty("flowsCovered").GetInt64():N0} flows; " +
            $"{root.GetProperty("flaggedFlowsExcluded").GetInt64():N0} flagged flows left out{(root.GetProperty("truncated").GetBoolean() ? "; the traffic was truncated (narrow the range or scope)" : "")}{(output is null ? "" : $"; written to {output}")}"));
        return ExitCodes.Ok;
    }

    private static async Task<int> SimulateAsync(string url, string rulesetFile, string? from, string? to, string? last, string? filter, bool allTraffic, bool json, bool failOnBlocked)
    {
        var ruleset = ReadValidRuleset(rulesetFile);
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(10));
        if (await ApiCall.SendAsync(http, "policy simulate", () => http.PostAsJsonAsync("/api/v1/policy/simulate", new { ruleset, from, to, last, filter, allTraffic })) is not { } body)
        {
            return ExitCodes.Error;
        }

        var root = JsonDocument.Parse(body).RootElement;
        if (json)
        {
            Console.Out.Write(JsonSerializer.Serialize(root, Indented) + "\n");
        }
        else
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture,
                $"{root.GetProperty("coverage").GetDouble() * 100:0.0}% of {root.GetProperty("flows").GetInt64():N0} flows allowed; {root.GetProperty("blockedFlows").GetInt64():N0} would be blocked; " +
                $"{(root.TryGetProperty("scope", out var applied) && applied.GetString() is { Length: > 0 } scope ? $"the ruleset's scope: {scope}" : "all traffic")}\n");
            foreach (var blocked in root.GetProperty("blocked").EnumerateArray().Take(50))
            {
                text.Append(CultureInfo.InvariantCulture,
                    $"BLOCKED  {blocked.GetProperty("source").GetString()} -> {blocked.GetProperty("destination").GetString()}  {blocked.GetProperty("service").GetString()}  {blocked.GetProperty("flows").GetInt64():N0} flows  {string.Join(',', blocked.GetProperty("findings").EnumerateArray().Select(f => f.GetString()))}\n");
            }

            foreach (var unused in root.GetProperty("rules").EnumerateArray().Where(r => r.GetProperty("flows").GetInt64() == 0))
            {
                text.Append(CultureInfo.InvariantCulture, $"UNUSED   {unused.GetProperty("rule").GetString()}\n");
            }

            Console.Out.Write(text.ToString());
        }

        return failOnBlocked && root.GetProperty("blockedFlows").GetInt64() > 0 ? ExitCodes.Blocked : ExitCodes.Ok;
    }

    private static async Task<int> RenderAsync(string url, string rulesetFile, List<(string, string)> query, string? output)
    {
        var ruleset = ReadValidRuleset(rulesetFile);
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(10));
        var path = "/api/v1/policy/render?" + string.Join('&', query.Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2)}"));
        var body = await ApiCall.SendAsync(http, "policy render", () => http.PostAsJsonAsync(path, ruleset));
        return body is null ? ExitCodes.Error : await WriteAsync(body, output);
    }

    private static async Task<int> WriteAsync(string text, string? output)
    {
        if (output is null)
        {
            Console.Out.Write(text);
        }
        else
        {
            await WriteFileAsync(output, text);
            await Console.Error.WriteLineAsync($"visibility: written to {output}");
        }

        return ExitCodes.Ok;
    }

    /// <summary>Writes <c>--out</c>; a path that cannot be written (no such folder, no permission) is the user's to fix, not a crash.</summary>
    private static async Task WriteFileAsync(string output, string text)
    {
        try
        {
            await File.WriteAllTextAsync(output, text);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--out {output}: cannot write it ({ex.Message})");
        }
    }

    private static async Task<int> DiffAsync(string beforeFile, string afterFile, bool asJson)
    {
        string[] files = [beforeFile, afterFile];
        var (before, after) = (ReadRuleset(files[0]), ReadRuleset(files[1]));
        var problems = PolicyValidation.Problems(before).Select(p => $"{files[0]}: {p}").Concat(PolicyValidation.Problems(after).Select(p => $"{files[1]}: {p}")).ToList();
        if (problems.Count > 0)
        {
            await Console.Error.WriteLineAsync("visibility: " + string.Join("; ", problems));
            return ExitCodes.Error;
        }

        var diff = PolicyDiff.Compare(before, after);
        if (asJson)
        {
            Console.Out.Write(JsonSerializer.Serialize(diff, Indented) + "\n");
        }
        else
        {
            Console.Out.Write(DiffText(diff));
        }

        return diff.Same ? ExitCodes.Ok : ExitCodes.Differs;
    }

    /// <summary>A ruleset difference as the CLI prints it: <c>+</c> added, <c>-</c> removed, <c>~</c> changed rules, then the counts.</summary>
    internal static string DiffText(PolicyDifference diff)
    {
        var text = new StringBuilder();
        foreach (var rule in diff.Added)
        {
            text.Append(CultureInfo.InvariantCulture, $"+ {rule.Name}  {string.Join(' ', rule.Ports)}\n");
        }

        foreach (var rule in diff.Removed)
        {
            text.Append(CultureInfo.InvariantCulture, $"- {rule.Name}  {string.Join(' ', rule.Ports)}\n");
        }

        foreach (var change in diff.Changed)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"~ {change.Rule}  {string.Join(' ', change.AddedPorts.Select(p => "+" + p))} {string.Join(' ', change.RemovedPorts.Select(p => "-" + p))}\n");
        }

        return text.Append(CultureInfo.InvariantCulture, $"{diff.Added.Count} added, {diff.Removed.Count} removed, {diff.Changed.Count} changed, {diff.Unchanged} unchanged\n").ToString();
    }

    /// <summary>A ruleset file checked here: once sent, a workload peer written without labels would read as <c>{}</c>.</summary>
    private static PolicyRuleset ReadValidRuleset(string file)
    {
        var ruleset = ReadRuleset(file);
        return PolicyValidation.Problems(ruleset) is { Count: > 0 } problems
            ? throw new UsageException($"{file}: " + string.Join("; ", problems))
            : ruleset;
    }

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
