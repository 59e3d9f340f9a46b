using System.Text.Json.Serialization;

namespace Visibility.Query.Policy.Rulesets;

/// <summary>The two provisioning modes: observe only, or declared applied to the network.</summary>
public static class ProvisionModes
{
    /// <summary>Observe only: traffic no rule allows is "potentially blocked".</summary>
    public const string Visibility = "visibility";

    /// <summary>Declared applied to the network: traffic no rule allows yet observed allowed is a violation.</summary>
    public const string Enforced = "enforced";

    public static IReadOnlyList<string> All { get; } = [Visibility, Enforced];

    public static bool IsMode(string? mode) => mode is Visibility or Enforced;
}

/// <summary>One saved version of a ruleset: its scope, its rules, who saved it and when, and the version it restored (or null).</summary>
public sealed record RulesetVersion(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("savedBy")] string SavedBy,
    [property: JsonPropertyName("savedAt")] DateTimeOffset SavedAt,
    [property: JsonPropertyName("restoredFrom")] int? RestoredFrom,
    [property: JsonPropertyName("ruleset")] PolicyRuleset Ruleset);

/// <summary>A ruleset as listed: its newest version and what is provisioned of it now (null: nothing).</summary>
public sealed record RulesetSummary(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("latestVersion")] int LatestVersion,
    [property: JsonPropertyName("savedBy")] string SavedBy,
    [property: JsonPropertyName("savedAt")] DateTimeOffset SavedAt,
    [property: JsonPropertyName("provisioned")] ProvisionChange? Provisioned);

/// <summary>
/// One provisioning change: at <see cref="Time"/>, <see cref="Principal"/> made <see cref="Version"/> of ruleset
/// <see cref="Name"/> active in <see cref="Mode"/>; <see cref="Version"/> 0 (mode <c>none</c>) withdrew the ruleset.
/// </summary>
public sealed record ProvisionChange(
    [property: JsonPropertyName("time")] DateTimeOffset Time,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("principal")] string Principal)
{
    /// <summary>The mode of a withdrawal.</summary>
    public const string Withdrawn = "none";

    [JsonIgnore]
    public bool IsWithdrawal => Version == 0;
}

/// <summary>A ruleset active at some time: the provisioning change that made it so and the version it made active.</summary>
public sealed record ProvisionedRuleset(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] int Version,
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("provisionedAt")] DateTimeOffset ProvisionedAt,
    [property: JsonPropertyName("provisionedBy")] string ProvisionedBy,
    [property: JsonPropertyName("ruleset")] PolicyRuleset Ruleset);
