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

    public static async Task<int> RunAsync(string verb, string[] args)
    {
        var url = Environment.GetEnvironmentVariable("VISIBILITY_URL") ?? "http://127.0.0.1:5080";
        var query = new List<(string, string)>();
        var output = "table";
        var all = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--url":
                    url = Cli.StringArgument(args, ref i);
                    break;
                case "--last" or "--from" or "--to" or "--filter" or "--limit":
                    query.Add((args[i][2..], Cli.StringArgument(args, ref i)));
                    break;
                case "--group-by" when verb == "graph":
                    query.Add(("groupBy", Cli.StringArgument(args, ref i)));
                    break;
                case "--min-severity" when verb == "findings":
                    query.Add(("minSeverity", Cli.StringArgument(args, ref i)));
                    break;
                case "--all" when verb == "flows":
                    all = true;
                    break;
                case "--json":
                    output = "json";
                    break;
                case "--csv" when verb == "flows":
                    output = "csv";
                    query.Add(("format", "csv"));
                    break;
                default:
                    throw new UsageException($"{verb} does not know '{args[i]}'");
            }
        }

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
                return 1;
            }

            using (response)
            {
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    await Console.Error.WriteLineAsync($"visibility: {verb}: {(int)response.StatusCode} {ProblemText(body)}{ApiCall.Hint(response.StatusCode)}");
                    return 1;
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

        return 0;
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
