using System.ComponentModel.DataAnnotations;

namespace Visibility.Flows.Findings;

/// <summary>Configuration section <c>Visibility:Findings</c>: what counts as a finding and how severe it is.</summary>
public sealed class FindingsOptions : IValidatableObject
{
    public const string Section = "Visibility:Findings";

    /// <summary>The environments unknown and internet sources must not reach. Empty: <c>prod</c> and <c>production</c>.</summary>
    public string[] ProtectedEnvironments { get; set; } = [];

    /// <summary>Environment pairs allowed to talk, as <c>source-&gt;destination</c> (<c>ci-&gt;dev</c>): not cross-environment findings.</summary>
    public string[] SanctionedPairs { get; set; } = [];

    /// <summary>
    /// Severity overrides: keys are environment pairs <c>source-&gt;destination</c> (either side may be <c>*</c>),
    /// which apply to cross-environment findings, or finding names (<c>internet_source</c>, and the computed
    /// <c>policy_violation</c>, default <c>high</c>); values are <c>low</c>, <c>medium</c>, <c>high</c> or <c>critical</c>.
    /// </summary>
    public Dictionary<string, string> Severities { get; set; } = [];

    /// <summary>Edges first seen later than this after the store's first flow are new-edge findings.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "3650.00:00:00")]
    public TimeSpan NewEdgeBaseline { get; set; } = TimeSpan.FromDays(1);

    /// <summary>When refused attempts of one source make a <c>blocked_attempts</c> finding (<c>Visibility:Findings:BlockedAttempts</c>).</summary>
    public BlockedAttemptsOptions BlockedAttempts { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var problem in BlockedAttempts.Problems())
        {
            yield return new ValidationResult(problem);
        }

        foreach (var pair in SanctionedPairs)
        {
            if (!FindingRules.TryParsePair(pair, out _, out _))
            {
                yield return new ValidationResult($"Findings:SanctionedPairs: '{pair}' is not an environment pair such as dev->test");
            }
        }

        foreach (var (key, value) in Severities)
        {
            if (!FindingKinds.IsName(key) && !FindingRules.TryParsePair(key, out _, out _))
            {
                yield return new ValidationResult($"Findings:Severities: '{key}' is neither a finding name nor an environment pair such as dev->prod");
            }

            if (!FindingRules.Levels.Contains(value))
            {
                yield return new ValidationResult($"Findings:Severities:{key}: '{value}' is not one of {string.Join(", ", FindingRules.Levels)}");
            }
        }
    }
}

/// <summary>
/// <c>Visibility:Findings:BlockedAttempts</c>: a source with at least <see cref="Threshold"/> refused attempts within
/// any <see cref="Window"/> is a <c>blocked_attempts</c> finding (a scan, or something retrying against a policy).
/// </summary>
public sealed class BlockedAttemptsOptions
{
    public const int MaxThreshold = 1_000_000;

    public static readonly TimeSpan MinWindow = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(1);

    /// <summary>How many refused attempts within the window make a finding: 1 to 1,000,000.</summary>
    public int Threshold { get; set; } = 10;

    /// <summary>The sliding window the attempts must fall in: 1 s to 1 d.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>What is wrong with the values, each naming its key; empty when they are valid.</summary>
    public IEnumerable<string> Problems()
    {
        if (Threshold is < 1 or > MaxThreshold)
        {
            yield return $"Findings:BlockedAttempts:Threshold: {Threshold} is not from 1 to {MaxThreshold}";
        }

        if (Window < MinWindow || Window > MaxWindow)
        {
            yield return $"Findings:BlockedAttempts:Window: {Duration.Format(Window)} is not from 1s to 1d";
        }
    }
}
