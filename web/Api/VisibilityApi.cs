using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Visibility.Flows.Json;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Web.Auth;
using Visibility.Web.Hosting;
using Visibility.Web.Http;

namespace Visibility.Web.Api;

/// <summary>The API's services, health, metrics and the workload endpoints (<see cref="ServeCommand"/> puts them together).</summary>
public static class VisibilityApi
{
    public const int MaxWorkloadsPerRequest = 10_000;

    public static IServiceCollection AddVisibilityApi(this IServiceCollection services)
    {
        services.AddOpenApi(options => options.AddParameterDocs());
        services.AddProblemDetails();

        // Binding failures reach the exception handler, which names the field instead of answering a bare 400.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddExceptionHandler<BadRequestProblems>();
        return services;
    }

    /// <summary>Workloads: bulk upsert, list (scoped), delete, and the Kubernetes import.</summary>
    public static RouteGroupBuilder MapWorkloadsApi(this RouteGroupBuilder api)
    {
        api.MapPut("/workloads", PutWorkloadsAsync).WithSummary("Bulk upsert workloads (JSON array)")
            .RequireAuthorization(AccessPolicies.Admin).AddEndpointFilter(new AuditFilter("workloads.upsert"));
        api.MapGet("/workloads", (ClaimsPrincipal user, WorkloadInventory inventory) =>
                TypedResults.Ok(user.AccessScope() is { IsUnrestricted: false } scope ? [.. inventory.List().Where(w => scope.Matches(w.Name, w.Labels))] : inventory.List()))
            .WithSummary("List workloads (a scoped caller: those in its scope)");
        // A catch-all, so Kubernetes workloads (namespace/pod) are deleted by their name as it is.
        api.MapDelete("/workloads/{**name}", DeleteWorkloadAsync).WithSummary("Delete a workload added through the API (the inventory file's stay)")
            .RequireAuthorization(AccessPolicies.Admin).AddEndpointFilter(new AuditFilter("workloads.delete"));
        api.MapPut("/workloads/kubernetes", PutKubernetesAsync).WithSummary("Import pods from `kubectl get namespaces,pods -A -o json` output")
            .RequireAuthorization(AccessPolicies.Admin).AddEndpointFilter(new AuditFilter("workloads.kubernetes"));
        return api;
    }

    /// <summary>
    /// The API listener's probes and metrics, with credentials: <c>/healthz</c> open, <c>/readyz</c> for any role (the
    /// fallback policy), <c>/metrics</c> for admins (it names every export sink, of every scope). The same checks and
    /// series are on the management listener without a key (<see cref="ManagementEndpoint"/>).
    /// </summary>
    public static WebApplication MapHealthAndMetrics(this WebApplication app)
    {
        var (ready, metrics) = app.MapApiHealth();
        ready.ExcludeFromDescription();
        metrics.RequireAuthorization(AccessPolicies.Admin);
        return app;
    }

    internal static async Task<Results<Ok<WorkloadsUpserted>, ProblemHttpResult>> PutWorkloadsAsync(
        HttpRequest request, IFlowCatalog store, WorkloadInventory inventory, CancellationToken cancellationToken)
    {
        List<WorkloadSpec?>? workloads;
        try
        {
            workloads = await JsonSerializer.DeserializeAsync<List<WorkloadSpec?>>(request.Body, cancellationToken: cancellationToken);
        }
        catch (JsonException ex)
        {
            return TypedResults.Problem($"the body must be a JSON array of workloads: {JsonProblem.Describe(ex, typeof(List<WorkloadSpec?>))}", statusCode: StatusCodes.Status400BadRequest);
        }

        if (workloads is null || workloads.Count == 0)
        {
            return TypedResults.Problem("the body must be a non-empty JSON array of workloads", statusCode: StatusCodes.Status400BadRequest);
        }

        if (workloads.Count > MaxWorkloadsPerRequest)
        {
            return TypedResults.Problem($"at most {MaxWorkloadsPerRequest} workloads per request", statusCode: StatusCodes.Status400BadRequest);
        }

        var problems = WorkloadValidation.Validate(workloads);
        if (problems.Count > 0)
        {
            return TypedResults.Problem(string.Join("; ", problems.Take(20)), statusCode: StatusCodes.Status400BadRequest, title: "invalid workloads");
        }

        var valid = workloads.Select(w => w!).ToList();
        await store.UpsertWorkloadsAsync(valid, cancellationToken);
        inventory.Upsert(valid);
        return TypedResults.Ok(new WorkloadsUpserted(valid.Count));
    }

    /// <summary>
    /// Deletes a workload the API (or a Kubernetes import) added: a tombstone in the store, so every process that
    /// loads the inventory from the store leaves it out, and this process's index rebuilt without it, so flows
    /// enriched from then on no longer carry it. Flows already stored keep the labels they were stored with.
    /// </summary>
    internal static async Task<Results<NoContent, NotFound<ViewsApi.ProblemDetailsBody>, Conflict<ViewsApi.ProblemDetailsBody>>> DeleteWorkloadAsync(
        string name, IFlowCatalog store, WorkloadInventory inventory, CancellationToken cancellationToken)
    {
        // The store first: were it down, the workload stays everywhere rather than vanishing here only.
        var stored = await store.DeleteWorkloadAsync(name, cancellationToken);
        var loaded = inventory.Remove(name);
        if (stored || loaded)
        {
            return TypedResults.NoContent();
        }

        return inventory.InFile(name)
            ? TypedResults.Conflict(new ViewsApi.ProblemDetailsBody("Conflict", 409, $"workload '{name}' comes from the inventory file (Visibility:Inventory:Path); remove it there"))
            : TypedResults.NotFound(new ViewsApi.ProblemDetailsBody("Not Found", 404, $"no workload '{name}'"));
    }

    internal static async Task<Results<Ok<WorkloadsUpserted>, ProblemHttpResult>> PutKubernetesAsync(
        HttpRequest request, IFlowCatalog store, WorkloadInventory inventory, Microsoft.Extensions.Options.IOptions<InventoryOptions> options, CancellationToken cancellationToken)
    {
        IReadOnlyList<WorkloadSpec> workloads;
        try
        {
            workloads = await WorkloadFile.ReadAsync(request.Body, "the request body", new KubernetesLabelMapper(options.Value.Kubernetes), cancellationToken);
        }
        catch (InvalidDataException ex)
        {
            return TypedResults.Problem(ex.Message, statusCode: StatusCodes.Status400BadRequest);
        }

        if (workloads.Count > MaxWorkloadsPerRequest)
        {
            return TypedResults.Problem($"at most {MaxWorkloadsPerRequest} workloads per request", statusCode: StatusCodes.Status400BadRequest);
        }

        await store.UpsertWorkloadsAsync(workloads, cancellationToken);
        inventory.Upsert(workloads);
        return TypedResults.Ok(new WorkloadsUpserted(workloads.Count));
    }
}

public sealed record WorkloadsUpserted(int Upserted);
