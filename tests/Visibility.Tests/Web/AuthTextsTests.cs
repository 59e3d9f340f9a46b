using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Visibility.Query.Security;
using Visibility.Web.Auth;
using Visibility.Web.Http;

namespace Visibility.Tests.Web;

/// <summary>What refusals say: the roles that may, and binding failures without .NET types.</summary>
public sealed class AuthTextsTests
{
    [Theory]
    [InlineData(AccessPolicies.Export, Roles.PolicyAuthor, "role 'policy-author' may not do this; it needs one of the roles exporter, admin")]
    [InlineData(AccessPolicies.Export, Roles.Viewer, "role 'viewer' may not do this; it needs one of the roles exporter, admin")]
    [InlineData(AccessPolicies.Policy, Roles.Exporter, "role 'exporter' may not do this; it needs one of the roles policy-author, admin")]
    [InlineData(AccessPolicies.Admin, Roles.Exporter, "role 'exporter' may not do this; it needs an unscoped admin")]
    public async Task ForbiddenDetail_RouteInsideTheReadGroup_NamesOnlyTheRolesEveryPolicyAllows(string routePolicy, string role, string expected)
    {
        // As the authorization middleware sees an endpoint: the /api/v1 group's read policy combined with the route's.
        var provider = new ServiceCollection().AddLogging().AddVisibilityAuth(new AuthOptions()).BuildServiceProvider();
        var policies = provider.GetRequiredService<IAuthorizationPolicyProvider>();
        var combined = AuthorizationPolicy.Combine((await policies.GetPolicyAsync(AccessPolicies.Read))!, (await policies.GetPolicyAsync(routePolicy))!);
        Assert.Equal(expected, VisibilityAuth.ForbiddenDetail(combined, VisibilityClaims.Create("key:x", role, AccessScope.Unrestricted, "api-key")));
    }

    [Fact]
    public async Task ForbiddenDetail_ScopedAdminOnAnAdminRoute_SaysItNeedsAnUnscopedAdmin()
    {
        var provider = new ServiceCollection().AddLogging().AddVisibilityAuth(new AuthOptions()).BuildServiceProvider();
        var admin = (await provider.GetRequiredService<IAuthorizationPolicyProvider>().GetPolicyAsync(AccessPolicies.Admin))!;
        Assert.Equal(
            "role 'admin' with a scope may not do this; it needs an unscoped admin",
            VisibilityAuth.ForbiddenDetail(admin, VisibilityClaims.Create("oidc:x", Roles.Admin, AccessScope.Parse("env=dev"), "oidc")));
    }

    [Theory]
    [InlineData("Failed to bind parameter \"int? limit\" from \"lots\".", "parameter 'limit': 'lots' is not valid: expected a whole number from -2147483648 to 2147483647")]
    [InlineData("Failed to bind parameter \"bool? raw\" from \"maybe\".", "parameter 'raw': 'maybe' is not valid: expected true or false")]
    [InlineData("Required parameter \"string name\" was not provided from route.", "parameter 'name' is required")]
    [InlineData("Required parameter \"ViewBody body\" was not provided from body.", "the request needs a JSON body")]
    [InlineData("Implicit body inferred for parameter \"ViewBody body\" but no body was provided. Did you mean to use a Service instead?", "the request needs a JSON body")]
    [InlineData("Expected a supported JSON media type but got \"text/plain\".", "Expected a supported JSON media type but got \"text/plain\".")]
    [InlineData("Unexpected end of request content.", "Unexpected end of request content.")]
    [InlineData("Something \"Visibility.Web.Thing\" went wrong.", "the request could not be read")]
    public void Detail_MinimalApiBindingFailure_NamesTheParameterNotItsType(string message, string expected)
    {
        var handler = typeof(AuthTextsTests).GetMethod(nameof(Handler), BindingFlags.NonPublic | BindingFlags.Static)!;
        var endpoint = new Endpoint(null, new EndpointMetadataCollection(handler), "test");
        Assert.Equal(expected, BadRequestProblems.Detail(endpoint, new BadHttpRequestException(message), JsonSerializerOptions.Web));
    }

    [Fact]
    public void Detail_JsonBodyFailure_NamesThePathOfTheRequestType()
    {
        var endpoint = new Endpoint(null, new EndpointMetadataCollection(new AcceptsBody(typeof(Visibility.Web.Api.ViewsApi.ViewBody))), "test");
        JsonException thrown;
        try
        {
            JsonSerializer.Deserialize<Visibility.Web.Api.ViewsApi.ViewBody>("""{"name": 5}""", JsonSerializerOptions.Web);
            throw new InvalidOperationException("read");
        }
        catch (JsonException ex)
        {
            thrown = ex;
        }

        var bad = new BadHttpRequestException("Failed to read parameter \"ViewBody? body\" from the request body as JSON.", StatusCodes.Status400BadRequest, thrown);
        Assert.Equal("the body is not valid: $.name: expected a string", BadRequestProblems.Detail(endpoint, bad, JsonSerializerOptions.Web));
    }

    private static void Handler(int? limit, bool? raw, string name) => _ = (limit, raw, name);

    private sealed class AcceptsBody(Type type) : Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata
    {
        public IReadOnlyList<string> ContentTypes { get; } = ["application/json"];

        public Type? RequestType { get; } = type;

        public bool IsOptional => false;
    }
}
