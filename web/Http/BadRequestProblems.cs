using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;
using Visibility.Flows.Json;

namespace Visibility.Web.Http;

/// <summary>
/// Requests the endpoints could not bind — a JSON body that does not read as the handler's parameter, a query
/// parameter that is not a number — as problem+json naming the field and the problem, never a .NET type. Minimal
/// APIs throw these when <see cref="RouteHandlerOptions.ThrowOnBadRequest"/> is set (instead of answering a bare
/// 400), and their own messages name the parameter's type (<c>Failed to bind parameter "int? limit" from "x".</c>).
/// </summary>
public sealed partial class BadRequestProblems(IProblemDetailsService problems, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }

        // The handler runs with the endpoint cleared; the feature keeps the one that failed to bind.
        var endpoint = httpContext.Features.Get<IExceptionHandlerFeature>()?.Endpoint ?? httpContext.GetEndpoint();
        var status = bad.StatusCode;
        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = status, Detail = Detail(endpoint, bad, json.Value.SerializerOptions) },
        });
    }

    /// <summary>The detail for a request <paramref name="endpoint"/> could not bind.</summary>
    public static string Detail(Endpoint? endpoint, BadHttpRequestException exception, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception.InnerException is JsonException body)
        {
            return "the body is not valid: " + JsonProblem.Describe(body, endpoint?.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType, options);
        }

        if (BindFailed().Match(exception.Message) is { Success: true } failed)
        {
            var name = failed.Groups["name"].Value;
            var expected = ParameterType(endpoint, name) is { } type ? JsonProblem.Expected(type) : "another value";
            return $"parameter '{name}': '{failed.Groups["value"].Value}' is not valid: expected {expected}";
        }

        if (Required().Match(exception.Message) is { Success: true } required)
        {
            return required.Groups["name"].Value is var name && name.Length > 0 && !IsBody(required.Groups["source"].Value)
                ? $"parameter '{name}' is required"
                : "the request needs a JSON body";
        }

        if (exception.Message.StartsWith("Implicit body inferred", StringComparison.Ordinal))
        {
            return "the request needs a JSON body";
        }

        // Kestrel's own (a body cut short, …) and the content-type check name no types; anything else is summarized.
        return exception.Message.Contains('"', StringComparison.Ordinal) && !exception.Message.StartsWith("Expected a supported JSON media type", StringComparison.Ordinal)
            ? "the request could not be read"
            : exception.Message;
    }

    private static bool IsBody(string source) => source.Contains("body", StringComparison.OrdinalIgnoreCase);

    private static Type? ParameterType(Endpoint? endpoint, string name) =>
        endpoint?.Metadata.GetMetadata<MethodInfo>()?.GetParameters().FirstOrDefault(p => p.Name == name)?.ParameterType;

    [GeneratedRegex("""^Failed to bind parameter "(?<type>.+) (?<name>[^ "]+)" from "(?<value>.*)"\.$""", RegexOptions.Singleline)]
    private static partial Regex BindFailed();

    [GeneratedRegex("""^Required parameter "(?<type>.+) (?<name>[^ "]+)" was not provided from (?<source>.*)\.$""", RegexOptions.Singleline)]
    private static partial Regex Required();
}
