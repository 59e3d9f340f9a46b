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
    public const string Usage =
        "policy draft [range] [--filter F] [--group-by app,env] [--include-flagged] [--name N] [--format json|networkpolicy|nftables] [--out FILE]\n" +
        "                                allow rules drafted from the range's traffic (a JSON ruleset, or rendered)\n" +
        "          policy render --ruleset FILE --format networkpolicy|nftables [--out FILE]\n" +
        "                                a ruleset as Kubernetes NetworkPolicy YAML or an nftables ruleset\n" +
        "          policy simulate --ruleset FILE [range] [--filter F] [--json] [--fail-on-blocked]\n" +
        "                                what the ruleset would allow and block in the range (exit 4 with --fail-on-blocked)\n" +
        "          policy diff BEFORE.json AFTER.json [--json]\n" +
        "                                rules added, removed and changed (exit 3 when they differ)";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0)
        {
            throw new UsageException("policy needs draft, simulate, render or diff");
        }

        return args[0] switch
        {
            "draft" => await DraftAsync(args[1..]),
            "simulate" => await SimulateAsync(args[1..]),
            "render" => await RenderAsync(args[1..]),
            "diff" => await DiffAsync(args[1..]),
            _ => throw new UsageException($"policy does not know '{args[0]}' (draft, simulate, render or diff)"),
        };
    }

    private static async Task<int> DraftAsync(string[] args)
    {
        var url = ApiCall.DefaultUrl;
        string? output = null;
        var format = "json";
        var query = new List<(string, string)>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--url":
                    url = Cli.StringArgument(args, ref i);
                    break;
                case "--out":
                    output = Cli.StringArgument(args, ref i);
                    break;
                case "--last" or "--from" or "--to" or "--filter" or "--name":
                    query.Add((args[i][2..], Cli.StringArgument(args, ref i)));
                    break;
                case "--group-by":
                    query.Add(("groupBy", Cli.StringArgument(args, ref i)));
                    break;
                case "--include-flagged":
                    query.Add(("includeFlagged", "true"));
                    break;
                case "--format":
                    format = Cli.StringArgument(args, ref i);
                    query.Add(("format", format));
                    break;
                default:
                    throw new UsageException($"policy draft does not know '{args[i]}'");
            }
        }

        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(10));
        var path = "/api/v1/policy/draft?" + string.Join('&', query.Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2)}"));
        if (await ApiCall.SendAsync(http, "policy draft", () => http.GetAsync(path)) is not { } body)
        {
            return 1;
        }

        if (format != "json")
        {
            return await WriteAsync(body, output);
        }

        var root = JsonDocument.Parse(body).RootElement;
        var ruleset = JsonSerializer.Serialize(root.GetProperty("ruleset"), Indented) + "\n";
        if (output is null)
        {
            Console.Out.Write(ruleset);
        }
        else
        {
            await File.WriteAllTextAsync(output, ruleset);
        }

        await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"visibility: {root.GetProperty("ruleset").GetProperty("rules").GetArrayLength()} rules from {root.GetProperty("flowsCovered").GetInt64():N0} flows; " +
            $"{root.GetProperty("flaggedFlowsExcluded").GetInt64():N0} flagged flows left out{(root.GetProperty("truncated").GetBoolean() ? "; the traffic was truncated (narrow the range or scope)" : "")}{(output is null ? "" : $"; written to {output}")}"));
        return 0;
    }

    private static async Task<int> SimulateAsync(string[] args)
    {
        var url = ApiCall.DefaultUrl;
        string? rulesetFile = null, from = null, to = null, last = null, filter = null;
        var json = false;
        var failOnBlocked = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--url":
                    url = Cli.StringArgument(args, ref i);
                    break;
                case "--ruleset":
                    rulesetFile = Cli.StringArgument(args, ref i);
                    break;
                case "--from":
                    from = Cli.StringArgument(args, ref i);
                    break;
                case "--to":
                    to = Cli.StringArgument(args, ref i);
                    break;
                case "--last":
                    last = Cli.StringArgument(args, ref i);
                    break;
                case "--filter":
                    filter = Cli.StringArgument(args, ref i);
                    break;
                case "--json":
                    json = true;
                    break;
                case "--fail-on-blocked":
                    failOnBlocked = true;
                    break;
                default:
                    throw new UsageException($"policy simulate does not know '{args[i]}'");
            }
        }

        var ruleset = ReadRuleset(rulesetFile ?? throw new UsageException("policy simulate needs --ruleset FILE"));
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(10));
        if (await ApiCall.SendAsync(http, "policy simulate", () => http.PostAsJsonAsync("/api/v1/policy/simulate", new { ruleset, from, to, last, filter })) is not { } body)
        {
            return 1;
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
                $"{root.GetProperty("coverage").GetDouble() * 100:0.0}% of {root.GetProperty("flows").GetInt64():N0} flows allowed; {root.GetProperty("blockedFlows").GetInt64():N0} would be blocked\n");
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

        return failOnBlocked && root.GetProperty("blockedFlows").GetInt64() > 0 ? 4 : 0;
    }

    private static async Task<int> RenderAsync(string[] args)
    {
        var url = ApiCall.DefaultUrl;
        string? rulesetFile = null, format = null, output = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--url":
                    url = Cli.StringArgument(args, ref i);
                    break;
                case "--ruleset":
                    rulesetFile = Cli.StringArgument(args, ref i);
                    break;
                case "--format":
                    format = Cli.StringArgument(args, ref i);
                    break;
                case "--out":
                    output = Cli.StringArgument(args, ref i);
                    break;
                default:
                    throw new UsageException($"policy render does not know '{args[i]}'");
            }
        }

        var ruleset = ReadRuleset(rulesetFile ?? throw new UsageException("policy render needs --ruleset FILE"));
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(10));
        var body = await ApiCall.SendAsync(http, "policy render", () => http.PostAsJsonAsync($"/api/v1/policy/render?format={Uri.EscapeDataString(format ?? "")}", ruleset));
        return body is null ? 1 : await WriteAsync(body, output);
    }

    private static async Task<int> WriteAsync(string text, string? output)
    {
        if (output is null)
        {
            Console.Out.Write(text);
        }
        else
        {
            await File.WriteAllTextAsync(output, text);
            await Console.Error.WriteLineAsync($"visibility: written to {output}");
        }

        return 0;
    }

    private static async Task<int> DiffAsync(string[] args)
    {
        var files = args.Where(a => a != "--json").ToList();
        if (files.Count != 2 || files.Any(f => f.StartsWith("--", StringComparison.Ordinal)))
        {
            throw new UsageException("policy diff needs two ruleset files: policy diff BEFORE.json AFTER.json [--json]");
        }

        var (before, after) = (ReadRuleset(files[0]), ReadRuleset(files[1]));
        var problems = PolicyValidation.Problems(before).Select(p => $"{files[0]}: {p}").Concat(PolicyValidation.Problems(after).Select(p => $"{files[1]}: {p}")).ToList();
        if (problems.Count > 0)
        {
            await Console.Error.WriteLineAsync("visibility: " + string.Join("; ", problems));
            return 1;
        }

        var diff = PolicyDiff.Compare(before, after);
        if (args.Contains("--json"))
        {
            Console.Out.Write(JsonSerializer.Serialize(diff, Indented) + "\n");
        }
        else
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

            text.Append(CultureInfo.InvariantCulture, $"{diff.Added.Count} added, {diff.Removed.Count} removed, {diff.Changed.Count} changed, {diff.Unchanged} unchanged\n");
            Console.Out.Write(text.ToString());
        }

        return diff.Same ? 0 : 3;
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
