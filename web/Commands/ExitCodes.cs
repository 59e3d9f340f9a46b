namespace Visibility.Web.Commands;

/// <summary>
/// The exit codes of every verb (README, "Exit codes"): one table, so scripts can tell a usage mistake from a
/// failure and from the verbs' documented answers.
/// </summary>
public static class ExitCodes
{
    /// <summary>Done (for <c>serve</c>/<c>ingest</c>/<c>dev-broker</c>: stopped by a signal).</summary>
    public const int Ok = 0;

    /// <summary>Failed: the server unreachable or refusing, the store unusable, a setting's value invalid.</summary>
    public const int Error = 1;

    /// <summary>
    /// A usage mistake, found before anything ran: an unknown verb or option, a missing or malformed value, an
    /// unknown configuration key, no Kafka cluster and no embedded broker asked for.
    /// </summary>
    public const int Usage = 2;

    /// <summary>
    /// <c>verify-store</c>: some record is not stored exactly once; <c>policy diff</c>: the rulesets differ;
    /// <c>migrate --check</c>: migrations are pending.
    /// </summary>
    public const int Differs = 3;

    /// <summary><c>policy simulate --fail-on-blocked</c>: the ruleset would block some flow.</summary>
    public const int Blocked = 4;
}
