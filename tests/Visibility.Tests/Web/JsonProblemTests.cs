using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using CsCheck;
using Visibility.Flows.Json;
using Visibility.Flows.Labels;
using Visibility.Query.Export.Streams;
using Visibility.Web.Api;

namespace Visibility.Tests.Web;

/// <summary>
/// 400s for JSON bodies that do not read as the request's type: the path and the problem in JSON's terms, read
/// with the same types and options the endpoints use; never a .NET type.
/// </summary>
public sealed class JsonProblemTests
{
    /// <summary>The strict options the policy, key and sink endpoints read with.</summary>
    private static readonly JsonSerializerOptions Strict = new() { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow, NumberHandling = JsonNumberHandling.Strict };

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public static TheoryData<string, string, string> Cases => new()
    {
        // The security test's request: a number where the "before" ruleset belongs.
        { "diff", """{"before": 5, "after": {}}""", "$.before: expected an object" },
        { "diff", """{"before": {"rules": 3}}""", "$.before.rules: expected an array" },
        { "diff", """{"before": {"rules": [{"ports": [{"from": "many"}]}]}}""", "$.before.rules[0].ports[0].from: expected a whole number from -2147483648 to 2147483647" },
        { "diff", """{"before": {"rules": [{"source": {"labels": {"app": 1}}}]}}""", "$.before.rules[0].source.labels.app: expected a string" },
        { "diff", """{"befor": {}}""", "$.befor: not a field of this object" },
        { "diff", """[]""", "$: expected an object" },
        { "simulate", """{"ruleset": {"source": {"from": "yesterday"}}}""", "$.ruleset.source.from: expected a date and time (an RFC 3339 string)" },
        { "simulate", """{"ruleset": {"source": {"includeFlagged": "yes"}}}""", "$.ruleset.source.includeFlagged: expected true or false" },
        { "key", """{"name": [1, 2]}""", "$.name: expected a string" },
        { "key", """{"name": "x", "admin": true}""", "$.admin: not a field of this object" },
        { "workloads", """{"name": "w"}""", "$: expected an array" },
        { "workloads", """[{"name": "w", "addresses": 7}]""", "$[0].addresses: expected an array" },
        { "workloads", """[{"name": "w", "labels": {"odd.key": 5}}]""", "$[0].labels['odd.key']: expected a string" },
        { "workloads", """[{"name": "w", "validFrom": 12}]""", "$[0].validFrom: expected a date and time (an RFC 3339 string)" },
        { "view", """{"name": "x", "query": {}}""", "$.query: expected a string" },
        { "sink", """{"port": "x"}""", "$.port: expected a whole number from -2147483648 to 2147483647" },
        { "sink", """{"startAt": "soon"}""", "$.startAt: expected a date and time (an RFC 3339 string)" },
        { "sink", """{"hots": "a"}""", "$.hots: not a field of this object" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Describe_BodyOfTheWrongShape_NamesThePathAndWhatWasExpected(string endpoint, string body, string expected)
    {
        var detail = Describe(endpoint, body)!;
        Assert.Equal(expected, detail);
        AssertNoType(detail);
    }

    [Theory]
    [InlineData("diff", """{"before": """)]
    [InlineData("diff", """{"before": {},}""")]
    [InlineData("key", """{"name" "x"}""")]
    [InlineData("workloads", """[{"name": "w"}""")]
    [InlineData("sink", """{"port": 1""")]
    [InlineData("view", "")]
    public void Describe_BrokenSyntax_SaysNotValidJsonWithThePosition(string endpoint, string body)
    {
        var detail = Describe(endpoint, body)!;
        Assert.Contains("not valid JSON", detail, StringComparison.Ordinal);
        Assert.Matches(@"\(line \d+, byte \d+\)$", detail);
        Assert.StartsWith("$", detail, StringComparison.Ordinal);
        AssertNoType(detail);
    }

    [Fact]
    public void Describe_AnyMalformedBody_NeverNamesADotNetType()
    {
        // Fragments of valid bodies, shuffled into documents of every shape.
        var token = Gen.OneOf(
            "{", "}", "[", "]", ",", ":", "\"before\"", "\"after\"", "\"rules\"", "\"ports\"", "\"from\"", "\"source\"", "\"labels\"",
            "\"name\"", "\"addresses\"", "\"validFrom\"", "\"port\"", "\"startAt\"", "\"x\"", "1", "-5", "1e999", "true", "null", "\"2026-01-01T00:00:00Z\"");
        var endpoints = new[] { "diff", "simulate", "key", "workloads", "view", "sink" };
        Gen.Select(Gen.Int[0, endpoints.Length - 1], token.Array[1, 24]).Sample((endpoint, tokens) =>
        {
            var detail = Describe(endpoints[endpoint], string.Concat(tokens), allowSuccess: true);
            if (detail is not null)
            {
                AssertNoType(detail);
                Assert.StartsWith("$", detail, StringComparison.Ordinal);
            }
        }, iter: 20_000);
    }

    [Fact]
    public void Expected_QueryParameterTypes_InWords()
    {
        Assert.Equal("a whole number from -2147483648 to 2147483647", JsonProblem.Expected(typeof(int?)));
        Assert.Equal("true or false", JsonProblem.Expected(typeof(bool?)));
        Assert.Equal("a string", JsonProblem.Expected(typeof(string)));
        Assert.Equal("an array", JsonProblem.Expected(typeof(IReadOnlyList<string>)));
        Assert.Equal("an object", JsonProblem.Expected(typeof(IReadOnlyDictionary<string, string>)));
    }

    private static void AssertNoType(string detail)
    {
        foreach (var leak in new[] { "Visibility.", "System.", "+", "Nullable", "`" })
        {
            Assert.False(detail.Contains(leak, StringComparison.Ordinal), $"'{leak}' in: {detail}");
        }
    }

    /// <summary>Reads <paramref name="body"/> as the endpoint does and describes the failure (null: it read).</summary>
    private static string? Describe(string endpoint, string body, bool allowSuccess = false)
    {
        var (type, options) = endpoint switch
        {
            "diff" => (typeof(PolicyApi.DiffBody), Strict),
            "simulate" => (typeof(PolicyApi.SimulateBody), Strict),
            "key" => (typeof(SecurityApi.KeyRequest), Strict),
            "workloads" => (typeof(List<WorkloadSpec?>), JsonSerializerOptions.Default),
            "view" => (typeof(ViewsApi.ViewBody), Web),
            _ => (typeof(ExportSinkDefinition), Strict),
        };
        try
        {
            if (endpoint == "sink")
            {
                // As ExportApi reads it: parsed, then bound from the node.
                _ = JsonNode.Parse(body)?.Deserialize(type, options);
            }
            else
            {
                _ = JsonSerializer.Deserialize(body, type, options);
            }
        }
        catch (JsonException ex)
        {
            return JsonProblem.Describe(ex, type, options);
        }
        catch (InvalidOperationException) when (allowSuccess)
        {
            // A JsonNode of another kind than asked for (Deserialize on a value): not a JsonException, not our case.
            return null;
        }

        Assert.True(allowSuccess, $"{endpoint}: '{body}' was read");
        return null;
    }
}
