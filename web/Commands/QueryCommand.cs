using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>visibility graph | findings | flows</c>: the read API from the command line, against a running
/// <c>visibility serve</c> (it holds the store). Same time range and filter language as the API; a table by
/// default, the API's JSON with <c>--json</c> (flows also <c>--csv</c>). A bad request prints the API's message.
/// </summary>
public static class QueryCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create(string verb)
    {
        var url = CliOptions.Url();
        var (last, from, to) = CliOptions.Range();
        var parameters = new List<(Option<string> Option, string Name)>
        {
            (last, "last"), (from, "from"), (to, "to"), (CliOptions.Filter(), "filter"),
            (CliOptions.Text("--limit", verb == "flows" ? "flows per page" : $"the most {(verb == "graph" ? "edges" : "findings")} shown", "N"), "limit"),
        };
        if (verb == "graph")
        {
            parameters.Add((CliOptions.GroupBy(), "groupBy"));
        }
        else if (verb == "findings")
        {
            parameters.Add((CliOptions.MinSeverity(), "minSeverity"));
        }

        var json = CliOptions.Flag("--json", "the API's JSON instead of a table");
        var all = verb == "flows" ? CliOptions.Flag("--all", "every page, not just the first") : null;
        var csv = verb == "flows" ? CliOptions.Flag("--csv", "CSV instead of a table") : null;
        var command = new Command(verb, verb switch
        {
            "graph" => "the dependency graph, from a running `serve`",
            "findings" => "cross-environment flows, unknown and internet sources reaching protected environments, new edges",
            _ => "raw flows, newest first",
        });
        command.With([.. parameters.Select(p => p.Option), json, url]);
        if (all is not null && csv is not null)
        {
            command.With(all, csv);
        }

        command.SetAction((parse, _) =>
        {
            var query = CliOptions.Query(parse, parameters);
            var output = csv is not null && parse.GetValue(csv) ? "csv" : parse.GetValue(json) ? "json" : "table";
            if (output == "csv")
            {
                query.Add(("format", "csv"));
            }

            return RunAsync(verb, parse.GetValue(url) ?? ApiCall.DefaultUrl, query, output, all is not null && parse.GetValue(all));
        });
        return command;
    }

    private static async Task<int> RunAsync(string verb, string url, List<(string, string)> query, string output, bool all)
    {
        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(5));
        string? cursor = null;
        var first = true;
        do
        {
            var page = query.ToList();
            if (cursor is not null)
            {
                page.Add(("cursor", cursor));
            }

            var path = $"/api/v1/{verb}?" + string.Join('&', page.Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2)}"));
            HttpResponseMessage response;
            try
            {
                response = await http.GetAsync(path);
            }
            catch (HttpRequestException ex)
            {
                await Console.Error.WriteLineAsync($"visibility: cannot reach {http.BaseAddress} ({ex.Message}); is `visibility serve` running there? (--url or VISIBILITY_URL)");
                return ExitCodes.Error;
            }

            using (response)
            {
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    await Console.Error.WriteLineAsync($"visibility: {verb}: {(int)response.StatusCode} {ProblemText(body)}{ApiCall.Hint(response.StatusCode)}");
                    return ExitCodes.Error;
                }

                cursor = output == "csv"
                    ? response.Headers.TryGetValues("X-Next-Cursor", out var next) ? next.First() : null
                    : verb == "flows" ? JsonDocument.Parse(body).RootElement.GetProperty("next").GetString() : null;
                Console.Out.Write(output switch
                {
                    "json" => JsonSerializer.Serialize(JsonDocument.Parse(body).RootElement, Indented) + "\n",
                    "csv" => first ? body : body[(body.IndexOf('\n', StringComparison.Ordinal) + 1)..],
                    _ => Table(verb, JsonDocument.Parse(body).RootElement, first),
                });
            }

            first = false;
        }
        while (all && cursor is not null);

        if (!all && cursor is not null && output != "json")
        {
            await Console.Error.WriteLineAsync("visibility: more flows: --all reads every page");
        }

        return ExitCodes.Ok;
    }

    internal static string ProblemText(string body)
    {
        try
        {
            var problem = JsonDocument.Parse(body).RootElement;
            return problem.TryGetProperty("detail", out var detail) ? detail.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }

    private static string Table(string verb, JsonElement root, bool header) => verb switch
    {
        "graph" => Render(
            ["SOURCE", "TARGET", "FLOWS", "BYTES", "PORTS", "FINDINGS"],
            root.GetProperty("edges").EnumerateArray().Select(e => new[]
            {
                e.GetProperty("source").GetString()!, e.GetProperty("target").GetString()!,
                Number(e, "flows"), Number(e, "bytes"),
                string.Join(' ', e.GetProperty("ports").EnumerateArray().Take(5).Select(p => p.GetString())) + (e.GetProperty("portCount").GetInt64() > 5 ? " …" : ""),
                string.Join(',', e.GetProperty("findings").EnumerateArray().Select(f => f.GetString())),
            }),
            header,
            root.GetProperty("truncated").GetBoolean() ? $"(the {root.GetProperty("edges").GetArrayLength()} largest of {Number(root, "totalEdges")} edges; --limit shows more)" : null),
        "findings" => Render(
            ["SEVERITY", "KIND", "SOURCE", "DESTINATION", "SERVICE", "FLOWS", "LAST SEEN"],
            root.GetProperty("findings").EnumerateArray().Select(f => new[]
            {
                f.GetProperty("severity").GetString()!, f.GetProperty("kind").GetString()!,
                End(f.GetProperty("source")), End(f.GetProperty("destination")),
                f.GetProperty("service").GetString()!, Number(f, "flows"), f.GetProperty("lastSeen").GetString()!,
            }),
            header,
            root.GetProperty("truncated").GetBoolean() ? $"(the newest {root.GetProperty("findings").GetArrayLength()} of {Number(root, "total")}; --limit shows more)" : null),
        _ => Render(
            ["TIME", "PROTO", "SOURCE", "DESTINATION", "BYTES", "SRC WORKLOAD", "DST WORKLOAD", "FINDINGS"],
            root.GetProperty("flows").EnumerateArray().Select(f => new[]
            {
                f.GetProperty("time").GetString()!, f.GetProperty("proto").GetString()!,
                $"{f.GetProperty("srcIp").GetString()}:{f.GetProperty("srcPort").GetInt32()}",
                $"{f.GetProperty("dstIp").GetString()}:{f.GetProperty("dstPort").GetInt32()}",
                (f.GetProperty("bytesOut").GetInt64() + f.GetProperty("bytesIn").GetInt64()).ToString(CultureInfo.InvariantCulture),
                End(f.GetProperty("src")), End(f.GetProperty("dst")),
                string.Join(',', f.GetProperty("findings").EnumerateArray().Select(x => x.GetString())),
            }),
            header,
            null),
    };

    private static string End(JsonElement end)
    {
        var workload = end.GetProperty("workload").GetString();
        return string.IsNullOrEmpty(workload) ? end.GetProperty("kind").GetString()! : workload;
    }

    private static string Number(JsonElement e, string name) => e.GetProperty(name).GetInt64().ToString(CultureInfo.InvariantCulture);

    private static string Render(string[] columns, IEnumerable<string[]> rows, bool header, string? note)
    {
        var list = rows.ToList();
        var widths = columns.Select((c, i) => Math.Min(60, list.Select(r => r[i].Length).Append(c.Length).Max())).ToArray();
        var text = new StringBuilder();
        void Line(IReadOnlyList<string> cells)
        {
            for (var i = 0; i < cells.Count; i++)
            {
                var cell = cells[i].Length > widths[i] ? cells[i][..(widths[i] - 1)] + "…" : cells[i];
                text.Append(i == cells.Count - 1 ? cell : cell.PadRight(widths[i] + 2));
            }

            text.Append('\n');
        }

        if (header)
        {
            Line(columns);
        }

        foreach (var row in list)
        {
            Line(row);
        }

        if (note is not null)
        {
            text.Append(note).Append('\n');
        }

        return text.ToString();
    }
}
