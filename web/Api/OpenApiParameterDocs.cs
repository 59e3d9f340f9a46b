using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Visibility.Web.Api;

/// <summary>
/// Describes the query parameters the read routes share, with an example each, in the OpenAPI document: one
/// place for the time range, grouping, filter and paging parameters instead of repeating them on every route.
/// </summary>
public static class OpenApiParameterDocs
{
    private static readonly Dictionary<string, (string Description, string Example)> Docs = new(StringComparer.Ordinal)
    {
        ["last"] = ("A duration ending at the end of the current minute: 30s, 15m, 1h, 7d, 2w. Default 1h. Not with from/to.", "24h"),
        ["from"] = ("Range start: RFC 3339 or Unix seconds.", "2026-11-26T00:00:00Z"),
        ["to"] = ("Range end (exclusive): RFC 3339 or Unix seconds; default now.", "2026-11-27T00:00:00Z"),
        ["groupBy"] = ("Comma-separated grouping keys: label keys (role, app, env, loc or any other), workload, kind, address.", "app,env"),
        ["filter"] = ("The filter language: src./dst. fields, port, proto, ip, finding, decision (the graph only); =, !=, in, not in, <, >; and, or, not, parentheses.", "src.env = dev and dst.env = prod and port in (5432, 6432)"),
        ["limit"] = ("At most this many results; the response says when more exist.", "1000"),
        ["decisions"] = ("Add policy decisions to the graph's edges (decisions, allowedBy, observedPolicies): implied by decisionsAt, whatIf or a decision filter term.", "true"),
        ["decisionsAt"] = ("Which provisioned set judges the traffic: now (default: the set provisioned now) or traffic (each connection by the set active at its time).", "now"),
        ["whatIf"] = ("<ruleset>:<version>: judge by that stored version instead of the ruleset's provisioned one (added in mode visibility when it is not provisioned).", "prod:3"),
        ["raw"] = ("Read raw flows only, whatever the planner would choose (to compare or debug).", "false"),
        ["start"] = ("The group to start from: key=value pairs that must all match a node (also kind=unknown|internet|workload, id=<node id>).", "env=dev"),
        ["source"] = ("The group paths start from (a node selector).", "env=dev"),
        ["target"] = ("The group paths end in (a node selector).", "env=prod,role=database"),
        ["hops"] = ("The most edges a result may cross, 1 to 10.", "3"),
        ["reverse"] = ("Follow edges backwards: who can reach the group.", "false"),
        ["all"] = ("Every simple path up to the caps instead of the shortest per pair.", "false"),
        ["maxPaths"] = ("The most paths returned.", "100"),
        ["minSeverity"] = ("The lowest severity listed: low, medium, high or critical.", "high"),
        ["cursor"] = ("The next page: the cursor the previous page returned.", ""),
        ["format"] = ("json or csv.", "csv"),
        ["maxRows"] = ("With all=true: the most rows the CSV download writes, 1 to 1,000,000 (the default); X-Visibility-Truncated says whether flows were left out.", "100000"),
    };

    public static OpenApiOptions AddParameterDocs(this OpenApiOptions options)
    {
        options.AddOperationTransformer((operation, _, _) =>
        {
            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
            {
                if (parameter.Name is { } name && Docs.TryGetValue(name, out var doc))
                {
                    parameter.Description = doc.Description;
                    if (doc.Example.Length > 0)
                    {
                        parameter.Example = JsonValue.Create(doc.Example);
                    }
                }
            }

            return Task.CompletedTask;
        });
        return options;
    }
}
