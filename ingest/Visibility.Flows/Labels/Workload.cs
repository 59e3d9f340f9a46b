using System.Collections.Frozen;
using System.Text.Json.Serialization;

namespace Visibility.Flows.Labels;

/// <summary>
/// A workload as users describe it (inventory file, <c>PUT /api/v1/workloads</c>): a name, a kind, the
/// addresses and prefixes it owns, and labels. <c>role</c>, <c>app</c>, <c>env</c> and <c>loc</c> have columns
/// of their own in the store; any other key is kept too.
/// </summary>
public sealed record WorkloadSpec
{
    [JsonPropertyName("name")]
    public string Name { get; init; } = "";

    [JsonPropertyName("kind")]
    public string? Kind { get; init; }

    [JsonPropertyName("addresses")]
    public IReadOnlyList<string> Addresses { get; init; } = [];

    [JsonPropertyName("labels")]
    public IReadOnlyDictionary<string, string> Labels { get; init; } = FrozenDictionary<string, string>.Empty;

    /// <summary>
    /// When the workload's addresses became its own (for example a pod's start); null: always. Addresses churn
    /// (pod IPs are reused), so a flow is attributed to the workload that held the address at the flow's time.
    /// </summary>
    [JsonPropertyName("validFrom")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? ValidFrom { get; init; }

    /// <summary>When the workload released its addresses (a pod's end); null: still holds them.</summary>
    [JsonPropertyName("validTo")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? ValidTo { get; init; }
}

/// <summary>The well-known label keys, each with a column per flow end.</summary>
public static class LabelKeys
{
    public const string Role = "role";
    public const string App = "app";
    public const string Env = "env";
    public const string Loc = "loc";

    public static readonly FrozenSet<string> Standard = FrozenSet.Create(StringComparer.Ordinal, Role, App, Env, Loc);

    public static readonly FrozenSet<string> Kinds =
        FrozenSet.Create(StringComparer.Ordinal, "host", "vm", "pod", "service", "network");

    /// <summary>Label keys: letters, digits and <c>_ . - /</c>, starting with a letter, at most 63 characters.</summary>
    public static bool IsValidKey(string key)
    {
        if (key.Length is 0 or > 63 || !char.IsAsciiLetter(key[0]))
        {
            return false;
        }

        foreach (var c in key)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '.' or '-' or '/'))
            {
                return false;
            }
        }

        return true;
    }
}
