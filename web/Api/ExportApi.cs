using System.Buffers;
using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Visibility.Query.Export;
using Visibility.Query.Export.Runtime;
using Visibility.Query.Export.Streams;
using Visibility.Query.Security;
using Visibility.Web.Auth;

namespace Visibility.Web.Api;

/// <summary>
/// SIEM export: the sinks (list, create, one, delete, test, status) and one-off exports of a time range
/// (<c>GET /api/v1/export/records</c>, what <c>visibility export</c> reads).
/// </summary>
public static class ExportApi
{
    /// <summary>The most intervals one records request reads.</summary>
    public const int MaxIntervalsPerRequest = 10_000;

    public static RouteGroupBuilder MapExportApi(this RouteGroupBuilder api)
    {
        // Exporters and admins. A scoped principal sees and manages only the sinks of its own scope, and its sinks and
        // one-off exports carry only records touching that scope.
        var export = api.MapGroup("/export").RequireAuthorization(AccessPolicies.Export);
        export.MapGet("/sinks", (ClaimsPrincipal user, ExportService service) => TypedResults.Ok(service.List().Where(s => Visible(user, s)).ToList()))
            .WithSummary("Export sinks with their status (position, lag, records sent and confirmed, retries, last error)");
        export.MapPost("/sinks", CreateAsync)
            .WithSummary("Create an export sink")
            .WithDescription("Body: {\"name\": \"soc\", \"type\": \"syslog\", \"protocol\": \"tls\", \"host\": \"siem.example\", \"port\": 6514, \"format\": \"cef\", \"content\": \"findings\", \"minSeverity\": \"high\"}; see docs/siem-export.md.")
            .AddEndpointFilter(new AuditFilter("export.sinks.create"));
        export.MapGet("/sinks/{name}", GetSink).WithSummary("One export sink and its status");
        export.MapDelete("/sinks/{name}", DeleteAsync).WithSummary("Stop and delete a sink created through the API")
            .AddEndpointFilter(new AuditFilter("export.sinks.delete"));
        export.MapPost("/sinks/{name}/test", TestSinkAsync).WithSummary("Send one test record through a sink and wait for its confirmation")
            .AddEndpointFilter(new AuditFilter("export.sinks.test"));
        export.MapPost("/test", TestDefinitionAsync).WithSummary("Send one test record through a sink definition without saving it")
            .AddEndpointFilter(new AuditFilter("export.test"));
        export.MapGet("/records", RecordsAsync)
            .WithSummary("One-off export: the records of a time range, one per line")
            .WithDescription("content=findings|summaries, format=cef|leef|ocsf|json, from/to or last, filter, minSeverity, groupBy, interval; "
                + "exportFrom: the start of a longer export read in pieces (a finding is written once, at its first sighting after it).")
            .AddEndpointFilter(new AuditFilter("export.records"));
        return api;
    }

    /// <summary>Whether a principal may see a sink: unscoped principals see all; a scoped one those of exactly its scope.</summary>
    private static bool Visible(ClaimsPrincipal user, ExportSinkView sink)
    {
        var scope = user.AccessScope();
        return scope.IsUnrestricted || (AccessScope.TryParse(sink.Definition.Scope, out var sinkScope, out _) && sinkScope.Equals(scope));
    }

    internal static async Task<Results<Created<ExportSinkView>, Conflict<ViewsApi.ProblemDetailsBody>, ProblemHttpResult>> CreateAsync(
        HttpRequest request, ClaimsPrincipal user, ExportService export, CancellationToken cancellationToken)
    {
        var (name, definition, error) = await ReadAsync(request, cancellationToken);
        if (error is not null)
        {
            return Bad(error);
        }

        if (!user.AccessScope().IsUnrestricted)
        {
            definition!.Scope = user.AccessScope().Text;
        }

        if (!ExportSinkDefinition.IsName(name))
        {
            return Bad(name is null ? "name is required" : $"name '{name}' must be 1–64 letters, digits, '-' or '_'");
        }

        if (export.Get(name!) is not null)
        {
            return NameTaken(name!);
        }

        if (Problems(definition!, user, export) is { } problems)
        {
            return Bad(problems);
        }

        return await export.CreateAsync(name!, definition!, cancellationToken) is { } view
            ? TypedResults.Created($"/api/v1/export/sinks/{name}", view)
            : NameTaken(name!);
    }

    private static Conflict<ViewsApi.ProblemDetailsBody> NameTaken(string name) =>
        TypedResults.Conflict(new ViewsApi.ProblemDetailsBody("Conflict", 409, $"a sink named '{name}' exists"));

    internal static Results<Ok<ExportSinkView>, NotFound<ViewsApi.ProblemDetailsBody>> GetSink(string name, ClaimsPrincipal user, ExportService export) =>
        export.Get(name) is { } view && Visible(user, view) ? TypedResults.Ok(view) : NotFound(name);

    internal static async Task<Results<NoContent, NotFound<ViewsApi.ProblemDetailsBody>, Conflict<ViewsApi.ProblemDetailsBody>>> DeleteAsync(
        string name, ClaimsPrincipal user, ExportService export, CancellationToken cancellationToken) =>
        export.Get(name) is not { } view || !Visible(user, view) ? NotFound(name) : await export.DeleteAsync(name, cancellationToken) switch
        {
            null => NotFound(name),
            false => TypedResults.Conflict(new ViewsApi.ProblemDetailsBody("Conflict", 409, $"sink '{name}' is configured (Visibility:Export:Sinks:{name}); change the configuration to remove it")),
            true => TypedResults.NoContent(),
        };

    internal static async Task<Results<Ok<ExportTestResult>, NotFound<ViewsApi.ProblemDetailsBody>>> TestSinkAsync(
        string name, ClaimsPrincipal user, ExportService export, CancellationToken cancellationToken) =>
        export.Get(name) is { } view && Visible(user, view)
            ? TypedResults.Ok(await export.TestAsync(view.Definition, cancellationToken))
            : NotFound(name);

    internal static async Task<Results<Ok<ExportTestResult>, ProblemHttpResult>> TestDefinitionAsync(
        HttpRequest request, ClaimsPrincipal user, ExportService export, CancellationToken cancellationToken)
    {
        var (_, definition, error) = await ReadAsync(request, cancellationToken);
        if (error is not null)
        {
            return Bad(error);
        }

        return Problems(definition!, user, export) is { } problems
            ? Bad(problems)
            : TypedResults.Ok(await export.TestAsync(definition!, cancellationToken));
    }

    /// <summary>
    /// The definition's own problems and those of its destination; null when there are none. Only admins may name a
    /// network destination outside the operator's allow-list; nobody may name another sink's file. Nothing here
    /// connects anywhere.
    /// </summary>
    private static string? Problems(ExportSinkDefinition definition, ClaimsPrincipal user, ExportService export) =>
        definition.Validate()
            .Concat(export.Destinations.Check(definition, trusted: user.IsUnscopedAdmin()))
            .Concat(export.FileInUse(definition) ? [$"path '{definition.Path}' is the file (or a rotated file) of another sink: give a file of its own"] : [])
            .ToList() is { Count: > 0 } problems
            ? string.Join("; ", problems)
            : null;

    internal static async Task RecordsAsync(
        HttpContext context, ClaimsPrincipal user, ExportRecordSource source,
        string? content, string? format, string? from, string? to, string? last, string? exportFrom,
        string? filter, string? minSeverity, string? groupBy, string? interval)
    {
        var definition = new ExportSinkDefinition
        {
            Content = content ?? "findings",
            Format = format ?? "json",
            Filter = filter ?? "",
            MinSeverity = minSeverity ?? "low",
            GroupBy = groupBy ?? "app,env",
            Scope = user.AccessScope().Text,
        };
        string? error = null;
        if (!TimeRange.TryParse(from, to, last, DateTimeOffset.UtcNow, out var start, out var end, out var timeError))
        {
            error = timeError;
        }
        else if (definition.ValidateStream() is { Count: > 0 } problems)
        {
            error = string.Join("; ", problems);
        }

        var since = start;
        if (error is null && !string.IsNullOrEmpty(exportFrom) && !TimeRange.TryParseInstant(exportFrom, out since))
        {
            error = $"exportFrom '{exportFrom}' is not an RFC 3339 time or Unix seconds";
        }
        else if (error is null && since > start)
        {
            error = "exportFrom is after from";
        }

        // Summaries are per interval (default: the whole range); findings are read in one piece.
        var step = end - start;
        if (error is null && definition.Content == "summaries" && !string.IsNullOrEmpty(interval))
        {
            if (ExportSinkDefinition.ParseDuration(interval) is not { } span || span < TimeSpan.FromSeconds(1))
            {
                error = $"interval '{interval}' is not a duration of at least 1s (e.g. 5m, 1h)";
            }
            else if ((end - start).Ticks / span.Ticks > MaxIntervalsPerRequest)
            {
                error = $"the range holds more than {MaxIntervalsPerRequest} intervals of {interval}";
            }
            else
            {
                step = span;
            }
        }

        if (error is not null)
        {
            await Bad(error).ExecuteAsync(context);
            return;
        }

        if (end <= start)
        {
            await Bad("the range is empty (to must be after from)").ExecuteAsync(context);
            return;
        }

        var settings = definition.ToStream("one-off") with { RepeatAfter = start - since };
        var writer = ExportFormats.All(ExportIdentity.Default).First(f => f.Name == definition.Format);
        context.Response.ContentType = "application/x-ndjson; charset=utf-8";
        long count = 0;
        long dropped = 0;
        var body = new ArrayBufferWriter<byte>(64 * 1024);
        for (var at = start; at < end; at += step)
        {
            var records = await source.ReadAsync(settings, at, at + step < end ? at + step : end, context.RequestAborted);
            dropped += records.Dropped;
            foreach (var record in records.Records)
            {
                record.WriteTo(body, writer);
                body.Write("\n"u8);
                count++;
                if (body.WrittenCount > 48 * 1024)
                {
                    await context.Response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted);
                    body.ResetWrittenCount();
                }
            }
        }

        // A trailer line a reader can tell from a record: how many were written and whether any were left out.
        body.Write(System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"# records={count} dropped={dropped}\n")));
        await context.Response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted);
    }

    private static async Task<(string? Name, ExportSinkDefinition? Definition, string? Error)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        try
        {
            if (await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken) is not JsonObject body)
            {
                return (null, null, "the body must be a JSON object describing the sink");
            }

            var name = body["name"] is JsonValue n && n.TryGetValue<string>(out var text) ? text : null;
            body.Remove("name");
            return (name, body.Deserialize<ExportSinkDefinition>(Strict), null);
        }
        catch (JsonException ex)
        {
            return (null, null, $"the body is not a sink definition: {Visibility.Flows.Json.JsonProblem.Describe(ex, typeof(ExportSinkDefinition), Strict)}");
        }
    }

    private static readonly JsonSerializerOptions Strict = new()
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
    };

    private static NotFound<ViewsApi.ProblemDetailsBody> NotFound(string name) =>
        TypedResults.NotFound(new ViewsApi.ProblemDetailsBody("Not Found", 404, $"no export sink '{name}'"));

    private static ProblemHttpResult Bad(string error) => TypedResults.Problem(error, statusCode: StatusCodes.Status400BadRequest);
}
