using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Visibility.Flows.Findings;
using Visibility.Query.Analytics;
using Visibility.Query.Findings;
using Visibility.Query.Flows;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Policy.Decisions;
using Visibility.Web.Auth;

namespace Visibility.Web.Api;

/// <summary>
/// The read API: the graph, findings, raw flows and graph analytics. Every route takes the same time range
/// (<c>from</c>/<c>to</c> or <c>last</c>) and filter language; a bad parameter is a 400 naming it.
/// </summary>
public static class QueryApi
{
    public static RouteGroupBuilder MapQueryApi(this RouteGroupBuilder api)
    {
        api.MapGet("/graph", GetGraphAsync)
            .WithSummary("The application dependency graph")
            .WithDescription("Nodes are groups of endpoints (groupBy: label keys, workload, kind or address); edges carry flows, bytes, packets, ports, first/last seen and findings. Example: /api/v1/graph?last=24h&groupBy=app,env&filter=src.env%20%3D%20dev%20and%20dst.env%20%3D%20prod. "
                + "With decisions=true (or decisionsAt=now|traffic, whatIf=<ruleset>:<version>, or a filter term decision = …) edges also carry decisions {allowed, potentiallyBlocked, blocked, violation, unmanaged}, allowedBy and observedPolicies, and the response the policy it was judged by.");
        api.MapGet("/graph/reach", GetReachAsync)
            .WithSummary("Reachability and blast radius of a group within k hops")
            .WithDescription("Example: /api/v1/graph/reach?last=7d&groupBy=app,env&start=env=dev&hops=3 (reverse=true: who can reach the group)");
        api.MapGet("/graph/paths", GetPathsAsync)
            .WithSummary("Paths between two groups")
            .WithDescription("Example: /api/v1/graph/paths?last=7d&groupBy=app,env,role&source=env=dev&target=env=prod,role=db&hops=4 (all=true: every simple path up to the caps)");
        api.MapGet("/graph/cycles", GetCyclesAsync)
            .WithSummary("Strongly connected components (cycles) of the graph")
            .WithDescription("Example: /api/v1/graph/cycles?last=24h&groupBy=app");
        api.MapGet("/findings", GetFindingsAsync)
            .WithSummary("Findings: cross-environment flows, unknown and internet sources reaching protected environments, new edges")
            .WithDescription("Example: /api/v1/findings?last=24h&minSeverity=high&filter=finding%20%3D%20cross_env");
        api.MapGet("/flows", GetFlowsAsync)
            .WithSummary("Raw flows matching a filter, newest first, paged by cursor (JSON or CSV)")
            .WithDescription("Example: /api/v1/flows?last=1h&filter=dst.port%20%3D%205432&limit=100&format=csv; pass the response's next cursor as cursor= for the next page (CSV: the X-Next-Cursor header); "
                + "format=csv&all=true downloads every matching flow, newest first, up to maxRows (default and at most 1,000,000), read limit rows at a time; "
                + "X-Visibility-Truncated says whether flows were left out, X-Visibility-Row-Limit the bound, and X-Next-Cursor (when truncated) resumes after the last row. "
                + "CSV text cells that would start a spreadsheet formula (=, +, -, @, tab, CR) or start with ' carry a leading '.");
        return api;
    }

    internal static async Task<Results<Ok<GraphResponse>, ProblemHttpResult>> GetGraphAsync(
        ClaimsPrincipal user, GraphQuery query, [FromServices] GraphDecisions? policy, string? from, string? to, string? last, string? groupBy, string? filter, int? limit, bool? raw,
        bool? decisions, string? decisionsAt, string? whatIf, CancellationToken cancellationToken)
    {
        if (Problem(ParseGraph(user, from, to, last, groupBy, filter, limit, 10_000, out var request, allowDecisions: true)) is { } problem)
        {
            return problem;
        }

        request = request! with { RawOnly = raw ?? false };

        // Decisions cost a second read: only when asked for, by decisions=true or by any decision parameter or filter term.
        var at = decisionsAt switch
        {
            null or "now" => DecisionsAt.Now,
            "traffic" => DecisionsAt.Traffic,
            _ => (DecisionsAt?)null,
        };
        if (at is null)
        {
            return Bad($"decisionsAt must be now or traffic, not '{decisionsAt}'");
        }

        WhatIf? substitute = null;
        if (whatIf is not null && !WhatIf.TryParse(whatIf, out substitute, out var whatIfError))
        {
            return Bad(whatIfError!);
        }

        if (decisions == false && (decisionsAt is not null || whatIf is not null || request.Filter.Decisions is not null))
        {
            return Bad("decisions=false contradicts decisionsAt, whatIf or a decision filter term");
        }

        if (decisions != true && decisionsAt is null && whatIf is null && request.Filter.Decisions is null)
        {
            return TypedResults.Ok(await query.RunAsync(request, cancellationToken));
        }

        // A host without the policy services (rulesets) serves the plain graph only.
        if (policy is null)
        {
            return TypedResults.Problem("Policy decisions are not available in this process (no rulesets are served here)", statusCode: StatusCodes.Status501NotImplemented);
        }

        var (graph, error) = await policy.RunAsync(request, new DecisionRequest(at.Value, substitute, request.Filter.Decisions), user.AccessScope(), cancellationToken);
        return graph is null ? Bad(error!) : TypedResults.Ok(graph);
    }

    internal static async Task<Results<Ok<ReachResponse>, ProblemHttpResult>> GetReachAsync(
        ClaimsPrincipal user, GraphQuery query, string? from, string? to, string? last, string? groupBy, string? filter, string? start, int? hops, bool? reverse, CancellationToken cancellationToken)
    {
        if (Problem(ParseGraph(user, from, to, last, groupBy, filter, null, GraphQuery.MaxLimit, out var request)) is { } problem)
        {
            return problem;
        }

        var selector = NodeSelector.Parse(start ?? "");
        if (!selector.IsValid)
        {
            return Bad($"start: {selector.Error}");
        }

        var options = new ReachOptions { Hops = hops ?? 3, Reverse = reverse ?? false };
        if (options.Validate() is { } optionError)
        {
            return Bad(optionError);
        }

        var graph = await query.RunAsync(request!, cancellationToken);
        var result = GraphAnalytics.Build(graph).Reach(selector.Value!, options);
        return result.IsValid ? TypedResults.Ok(new ReachResponse(graph.Truncated, graph.Edges.Count, result.Value!)) : Bad(result.Error!);
    }

    internal static async Task<Results<Ok<PathsResponse>, ProblemHttpResult>> GetPathsAsync(
        ClaimsPrincipal user, GraphQuery query, string? from, string? to, string? last, string? groupBy, string? filter, string? source, string? target,
        int? hops, bool? all, int? maxPaths, CancellationToken cancellationToken)
    {
        if (Problem(ParseGraph(user, from, to, last, groupBy, filter, null, GraphQuery.MaxLimit, out var request)) is { } problem)
        {
            return problem;
        }

        var sources = NodeSelector.Parse(source ?? "");
        if (!sources.IsValid)
        {
            return Bad($"source: {sources.Error}");
        }

        var targets = NodeSelector.Parse(target ?? "");
        if (!targets.IsValid)
        {
            return Bad($"target: {targets.Error}");
        }

        var options = new PathOptions { Hops = hops ?? 4, AllSimplePaths = all ?? false, MaxPaths = maxPaths ?? 100 };
        if (options.Validate() is { } optionError)
        {
            return Bad(optionError);
        }

        var graph = await query.RunAsync(request!, cancellationToken);
        var result = GraphAnalytics.Build(graph).Paths(sources.Value!, targets.Value!, options, cancellationToken);
        return result.IsValid ? TypedResults.Ok(new PathsResponse(graph.Truncated, graph.Edges.Count, result.Value!)) : Bad(result.Error!);
    }

    internal static async Task<Results<Ok<CyclesResponse>, ProblemHttpResult>> GetCyclesAsync(
        ClaimsPrincipal user, GraphQuery query, string? from, string? to, string? last, string? groupBy, string? filter, CancellationToken cancellationToken)
    {
        if (Problem(ParseGraph(user, from, to, last, groupBy, filter, null, GraphQuery.MaxLimit, out var request)) is { } problem)
        {
            return problem;
        }

        var graph = await query.RunAsync(request!, cancellationToken);
        var result = GraphAnalytics.Build(graph).Cycles(new CycleOptions());
        return result.IsValid ? TypedResults.Ok(new CyclesResponse(graph.Truncated, graph.Edges.Count, result.Value!)) : Bad(result.Error!);
    }

    internal static async Task<Results<Ok<FindingsResponse>, ProblemHttpResult>> GetFindingsAsync(
        ClaimsPrincipal user, FindingsQuery query, string? from, string? to, string? last, string? filter, string? minSeverity, int? limit, CancellationToken cancellationToken)
    {
        if (!TimeRange.TryParse(from, to, last, DateTimeOffset.UtcNow, out var start, out var end, out var timeError))
        {
            return Bad(timeError!);
        }

        if (!ScopedFilter.TryCreate(user, filter, out var clause, out var filterError))
        {
            return Bad(filterError);
        }

        var severity = minSeverity ?? "low";
        if (!FindingRules.Levels.Contains(severity))
        {
            return Bad($"minSeverity must be one of {string.Join(", ", FindingRules.Levels)}");
        }

        var max = limit ?? 1_000;
        if (max < 1 || max > FindingsQuery.MaxLimit)
        {
            return Bad($"limit must be from 1 to {FindingsQuery.MaxLimit}");
        }

        return TypedResults.Ok(await query.RunAsync(new FindingsRequest(start, end, clause, severity, max), cancellationToken));
    }

    internal static async Task<IResult> GetFlowsAsync(
        HttpContext context, ClaimsPrincipal user, FlowSearch search, string? from, string? to, string? last, string? filter, int? limit, string? cursor, string? format,
        bool? all, int? maxRows, CancellationToken cancellationToken)
    {
        if (!TimeRange.TryParse(from, to, last, DateTimeOffset.UtcNow, out var start, out var end, out var timeError))
        {
            return Bad(timeError!);
        }

        if (!ScopedFilter.TryCreate(user, filter, out var clause, out var filterError))
        {
            return Bad(filterError);
        }

        var max = limit ?? 1_000;
        if (max < 1 || max > FlowSearch.MaxLimit)
        {
            return Bad($"limit must be from 1 to {FlowSearch.MaxLimit}");
        }

        FlowCursor? after = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            if (!FlowCursor.TryDecode(cursor, out var decoded))
            {
                return Bad("cursor is not a cursor this API returned");
            }

            after = decoded;
        }

        var csv = (format ?? "json") switch
        {
            "json" => false,
            "csv" => true,
            _ => (bool?)null,
        };
        if (csv is null)
        {
            return Bad("format must be json or csv");
        }

        if (all == true)
        {
            var rows = maxRows ?? MaxExportRows;
            if (rows < 1 || rows > MaxExportRows)
            {
                return Bad($"maxRows must be from 1 to {MaxExportRows}");
            }

            // The whole range as one CSV download (the map's "export flows"), read page by page as it is written.
            return csv.Value
                ? new CsvExport(search, new FlowSearchRequest(start, end, clause, limit ?? FlowSearch.MaxLimit, after), rows)
                : Bad("all=true exports CSV only: add format=csv");
        }

        if (maxRows is not null)
        {
            return Bad("maxRows bounds an all=true download: add all=true&format=csv");
        }

        var page = await search.RunAsync(new FlowSearchRequest(start, end, clause, max, after), cancellationToken);
        return csv.Value ? new CsvFlows(page) : new JsonFlows(page);
    }

    private static string? ParseGraph(
        ClaimsPrincipal user, string? from, string? to, string? last, string? groupBy, string? filter, int? limit, int defaultLimit, out GraphRequest? request, bool allowDecisions = false)
    {
        request = null;
        if (!TimeRange.TryParse(from, to, last, DateTimeOffset.UtcNow, out var start, out var end, out var timeError))
        {
            return timeError;
        }

        if (!GroupKey.TryParseList(groupBy, out var keys, out var keyError))
        {
            return keyError;
        }

        if (!ScopedFilter.TryCreate(user, filter, allowDecisions, out var clause, out var filterError))
        {
            return filterError;
        }

        var max = limit ?? defaultLimit;
        if (max < 1 || max > GraphQuery.MaxLimit)
        {
            return $"limit must be from 1 to {GraphQuery.MaxLimit}";
        }

        request = new GraphRequest(start, end, keys, clause, max);
        return null;
    }

    private static ProblemHttpResult? Problem(string? error) => error is null ? null : Bad(error);

    private static ProblemHttpResult Bad(string error) => TypedResults.Problem(error, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>A page of flows as JSON, written row by row: <c>{"flows": [...], "next": cursor|null}</c>.</summary>
    private sealed class JsonFlows(FlowPage page) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            await using var writer = new Utf8JsonWriter(httpContext.Response.BodyWriter);
            writer.WriteStartObject();
            writer.WriteStartArray("flows");
            var n = 0;
            foreach (var row in page.Flows)
            {
                JsonSerializer.Serialize(writer, row, FlowJson.Default.FlowRow);
                if (++n % 500 == 0)
                {
                    await writer.FlushAsync(httpContext.RequestAborted);
                }
            }

            writer.WriteEndArray();
            writer.WriteString("next", page.Next?.Encode());
            writer.WriteEndObject();
            await writer.FlushAsync(httpContext.RequestAborted);
        }
    }

    /// <summary>A page of flows as CSV (<see cref="FlowCsv"/>); the next page's cursor in <c>X-Next-Cursor</c>.</summary>
    private sealed class CsvFlows(FlowPage page) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.ContentType = "text/csv; charset=utf-8";
            if (page.Next is { } next)
            {
                httpContext.Response.Headers[NextCursorHeader] = next.Encode();
            }

            await httpContext.Response.WriteAsync(FlowCsv.Header, httpContext.RequestAborted);
            await WriteCsvRowsAsync(httpContext, page.Flows);
        }
    }

    /// <summary>
    /// Every flow of a range and filter as one CSV download, newest first, read a page at a time with the keyset
    /// cursor while it is written, at most <paramref name="maxRows"/> rows. Where it stops is found before the first
    /// byte (the cursor of the last row it may write), so the headers can say whether flows were left out and the
    /// file holds data rows only; rows that arrive meanwhile are written when they sort before that stop.
    /// </summary>
    private sealed class CsvExport(FlowSearch search, FlowSearchRequest first, int maxRows) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var stop = await search.CursorAfterAsync(first, maxRows, httpContext.RequestAborted);
            var headers = httpContext.Response.Headers;
            httpContext.Response.ContentType = "text/csv; charset=utf-8";
            headers.ContentDisposition = "attachment; filename=\"flows.csv\"";
            headers[TruncatedHeader] = stop is null ? "false" : "true";
            headers[RowLimitHeader] = maxRows.ToString(CultureInfo.InvariantCulture);
            if (stop is { } resume)
            {
                headers[NextCursorHeader] = resume.Encode();
            }

            await httpContext.Response.WriteAsync(FlowCsv.Header, httpContext.RequestAborted);
            var request = first with { Through = stop };
            while (true)
            {
                var page = await search.RunAsync(request, httpContext.RequestAborted);
                await WriteCsvRowsAsync(httpContext, page.Flows);
                if (page.Next is not { } next)
                {
                    return;
                }

                request = request with { After = next };
            }
        }
    }

    /// <summary>The most rows one <c>all=true</c> CSV download writes.</summary>
    public const int MaxExportRows = 1_000_000;

    /// <summary>On <c>all=true</c> downloads: <c>true</c> when matching flows were left out by the row bound, else <c>false</c>.</summary>
    public const string TruncatedHeader = "X-Visibility-Truncated";

    /// <summary>On <c>all=true</c> downloads: the row bound applied (<c>maxRows</c>).</summary>
    public const string RowLimitHeader = "X-Visibility-Row-Limit";

    /// <summary>Where the next page starts (a <c>cursor=</c> value); on a truncated download, right after its last row.</summary>
    public const string NextCursorHeader = "X-Next-Cursor";

    private static async Task WriteCsvRowsAsync(HttpContext httpContext, IEnumerable<FlowRow> flows)
    {
        var text = new StringBuilder();
        foreach (var row in flows)
        {
            FlowCsv.AppendRow(text, row);
            if (text.Length > 1 << 16)
            {
                await httpContext.Response.WriteAsync(text.ToString(), httpContext.RequestAborted);
                text.Clear();
            }
        }

        await httpContext.Response.WriteAsync(text.ToString(), httpContext.RequestAborted);
    }
}

/// <summary>An analytics result with the size of the graph it ran on (and whether that graph was cut by its limit).</summary>
public sealed record ReachResponse(
    [property: JsonPropertyName("graphTruncated")] bool GraphTruncated,
    [property: JsonPropertyName("graphEdges")] int GraphEdges,
    [property: JsonPropertyName("result")] ReachResult Result);

public sealed record PathsResponse(
    [property: JsonPropertyName("graphTruncated")] bool GraphTruncated,
    [property: JsonPropertyName("graphEdges")] int GraphEdges,
    [property: JsonPropertyName("result")] PathsResult Result);

public sealed record CyclesResponse(
    [property: JsonPropertyName("graphTruncated")] bool GraphTruncated,
    [property: JsonPropertyName("graphEdges")] int GraphEdges,
    [property: JsonPropertyName("result")] CyclesResult Result);

[JsonSerializable(typeof(FlowRow))]
internal sealed partial class FlowJson : JsonSerializerContext;
