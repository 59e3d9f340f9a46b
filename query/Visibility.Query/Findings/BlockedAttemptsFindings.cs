using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Filtering;
using Visibility.Query.Graph;
using Visibility.Query.Planning;

namespace Visibility.Query.Findings;

/// <summary>
/// What a <c>blocked_attempts</c> finding's source tried during its scan: the refused attempts, how many distinct
/// destinations (workload-level ends) and ports (protocol/port pairs) they went to, the first of them, a sample of
/// the targets (the most tried first) and the enforcing policies the records named.
/// </summary>
public sealed record BlockedAttemptsDetail(
    [property: JsonPropertyName("attempts")] long Attempts,
    [property: JsonPropertyName("destinations")] long Destinations,
    [property: JsonPropertyName("ports")] long Ports,
    [property: JsonPropertyName("firstAttempt")] DateTimeOffset FirstAttempt,
    [property: JsonPropertyName("targets")] IReadOnlyList<BlockedTarget> Targets,
    [property: JsonPropertyName("policies")] IReadOnlyList<string> Policies);

/// <summary>One target of a scan: the destination, the service (<c>tcp/22</c>) and the refused attempts on it.</summary>
public sealed record BlockedTarget(
    [property: JsonPropertyName("destination")] FindingEnd Destination,
    [property: JsonPropertyName("service")] string Service,
    [property: JsonPropertyName("attempts")] long Attempts)
{
    /// <summary>The target as one word for text formats: the destination's workload (its kind without one) and the service.</summary>
    public override string ToString() =>
        $"{(Destination.Workload.Length > 0 ? Destination.Workload : Destination.Kind)} {Service}";
}

/// <summary>
/// The <c>blocked_attempts</c> findings: a source (a workload-level end, as the other kinds name sources) refused at
/// least <see cref="BlockedAttemptsOptions.Threshold"/> times within any <see cref="BlockedAttemptsOptions.Window"/>
/// of the range — a scan, or something retrying against a policy. One finding per source: its attempts are those
/// that lie in such a window (the scan), its <see cref="Finding.FirstSeen"/> is when the threshold was first reached
/// (so an export interval reports it once, when it became one), its <see cref="Finding.LastSeen"/> the scan's last
/// attempt. Flows and bytes are 0: a refused attempt is never a connection. The destination is the target's when
/// every attempt went to one destination, the service when every attempt went to one; each is empty otherwise.
/// <para>
/// Read through the planner from rollups whose buckets are at most a fifth of the window (the minute rollup for the
/// default 5 minutes; raw flows for windows under 5 minutes), so a row's time is its first sighting, at most a
/// bucket early. Severity <c>medium</c>, <c>high</c> when the scan spans <see cref="WideSpread"/> destinations or
/// ports or more, unless <c>Findings:Severities:blocked_attempts</c> sets one level for every scan. The filter applies
/// to the attempts; its <c>finding</c> terms hold as they would for a finding of this kind
/// (<see cref="FilterClause.ForComputedFinding"/>).
/// </para>
/// </summary>
public sealed class BlockedAttemptsFindings(IFlowReader store, StoreRetention retention, BlockedAttemptsOptions options, TimeProvider? clock = null, FindingRules? rules = null) : IFindingSource
{
    /// <summary>The finding kind's name, in the API, the filter language, exports and SIEM payloads.</summary>
    public const string Kind = FindingKinds.BlockedAttempts;

    /// <summary>How many destinations, or ports, make a scan wide (severity high).</summary>
    public const int WideSpread = 10;

    /// <summary>How many targets a finding names.</summary>
    public const int SampleTargets = 10;

    /// <summary>How many policy names a finding keeps (sorted).</summary>
    public const int MaxPolicies = 16;

    private const string SourceEnd = "src_workload, src_kind, src_role, src_app, src_env, src_loc";
    private const string DestinationEnd = "dst_workload, dst_kind, dst_role, dst_app, dst_env, dst_loc";

    private static readonly string[] Columns =
        ["src_workload", "src_kind", "src_role", "src_app", "src_env", "src_loc", "dst_workload", "dst_kind", "dst_role", "dst_app", "dst_env", "dst_loc", "proto", "dst_port", "verdict", "policies"];

    public async Task<IReadOnlyList<Finding>> FindAsync(FindingsRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Filter.ForComputedFinding(Kind) is not { } filter)
        {
            return [];
        }

        var now = (clock ?? TimeProvider.System).GetUtcNow();
        List<string> columns = [.. Columns, .. filter.Columns.Where(c => !Columns.Contains(c)), .. filter.NeedsRaw ? ["src_ip"] : Array.Empty<string>()];
        columns = [.. columns.Distinct(StringComparer.Ordinal)];

        // An export interval asks for findings first seen at or after its start: each needs the threshold's attempts
        // within the window before a moment after it, so when the attempts of [start - window, to) fall short, nothing
        // can qualify, and that sum is far cheaper than the windows over the whole range (repeatAfter, a day).
        if (request.FirstSeenFrom is { } first && first - options.Window > request.From
            && await AttemptsAsync(first - options.Window, request.To, columns, filter, now, cancellationToken) < options.Threshold)
        {
            return [];
        }

        var plan = QueryPlanner.Plan(request.From, request.To, columns.ToHashSet(StringComparer.Ordinal), retention, now, options.Window / 5);
        var windowMs = (long)options.Window.TotalMilliseconds;
        var parameters = new List<QueryParameter>
        {
            new("ba_back", (windowMs - 1).ToString(CultureInfo.InvariantCulture)),
            new("ba_threshold", options.Threshold.ToString(CultureInfo.InvariantCulture)),
            new("ba_samples", SampleTargets.ToString(CultureInfo.InvariantCulture)),
            new("ba_policies", MaxPolicies.ToString(CultureInfo.InvariantCulture)),
            new("ba_limit", FindingsQuery.MaxLimit.ToString(CultureInfo.InvariantCulture)),
        };
        var source = FlowSource.Filtered(store.Database, plan, columns, filter, newEdges: false, TimeSpan.Zero, parameters);
        var having = "";
        if (request.FirstSeenFrom is { } firstSeenFrom)
        {
            having = "\nHAVING detected_ms >= {ba_first_seen_from:Int64}";
            parameters.Add(new QueryParameter("ba_first_seen_from", firstSeenFrom.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
        }

        // Innermost: the refused attempts, each row at its first sighting. Then per source, the attempts in the window
        // ending at each row ((t - window, t]); a row is part of the scan when a window holding it reaches the
        // threshold (the most any window ending in [t, t + window) holds). Then per target, then per source.
        var sql = $$"""
            SELECT {{SourceEnd}},
                sum(target_attempts) AS attempts,
                uniqExact({{DestinationEnd}}) AS destinations,
                uniqExact(proto, dst_port) AS ports,
                min(first_ms) AS first_ms, max(last_ms) AS last_ms, min(detected_ms) AS detected_ms,
                arraySlice(arraySort(x -> (-x.1, x.2, x.3, x.4, x.5, x.6, x.7, x.8),
                    groupArray((target_attempts, dst_workload, dst_kind, service, dst_role, dst_app, dst_env, dst_loc))), 1, {ba_samples:UInt32}) AS targets,
                arraySlice(arraySort(groupUniqArrayArray(target_policies)), 1, {ba_policies:UInt32}) AS policy_names
            FROM
            (
                SELECT {{SourceEnd}}, {{DestinationEnd}}, proto, dst_port, concat({{GraphQuery.ProtocolName}}, '/', toString(dst_port)) AS service,
                    sum(attempts) AS target_attempts, groupUniqArrayArray(policies) AS target_policies,
                    min(t) AS first_ms, max(t_last) AS last_ms,
                    min(if(in_window >= {ba_threshold:UInt64}, t, 9223372036854775807)) AS detected_ms
                FROM
                (
                    SELECT *, max(in_window) OVER (PARTITION BY {{SourceEnd}} ORDER BY t RANGE BETWEEN CURRENT ROW AND {ba_back:Int64} FOLLOWING) AS reach
                    FROM
                    (
                        SELECT *, sum(attempts) OVER (PARTITION BY {{SourceEnd}} ORDER BY t RANGE BETWEEN {ba_back:Int64} PRECEDING AND CURRENT ROW) AS in_window
                        FROM
                        (
                            SELECT {{SourceEnd}}, {{DestinationEnd}}, proto, dst_port, policies, attempts,
                                toUnixTimestamp64Milli(first_seen) AS t, toUnixTimestamp64Milli(last_seen) AS t_last
                            FROM
                            (
                            {{source}}
                            )
                            WHERE verdict = 'blocked' AND attempts > 0
                        )
                    )
                )
                WHERE reach >= {ba_threshold:UInt64}
                GROUP BY {{SourceEnd}}, {{DestinationEnd}}, proto, dst_port
            )
            GROUP BY {{SourceEnd}}{{having}}
            ORDER BY last_ms DESC, {{SourceEnd}}
            LIMIT {ba_limit:UInt32}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
        var found = await store.QueryAsync(sql, "JSONEachRow", Parse, parameters, cancellationToken);
        return rules is null ? found : [.. found.Select(f => f with { Severity = rules.Severity(Kind, f.Severity) })];
    }

    /// <summary>The refused attempts in a range that pass the filter.</summary>
    private async Task<long> AttemptsAsync(DateTimeOffset from, DateTimeOffset to, IReadOnlyCollection<string> columns, FilterClause filter, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var plan = QueryPlanner.Plan(from, to, columns.ToHashSet(StringComparer.Ordinal), retention, now);
        var parameters = new List<QueryParameter>();
        var source = FlowSource.Filtered(store.Database, plan, columns, filter, newEdges: false, TimeSpan.Zero, parameters);
        var sql = $$"""
            SELECT toInt64(sum(attempts)) AS attempts
            FROM
            (
            {{source}}
            )
            WHERE verdict = 'blocked'
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
        var rows = await store.QueryAsync(sql, "JSONEachRow", span => JsonRows.Read(span, r => r.GetProperty("attempts").GetInt64()), parameters, cancellationToken);
        return rows.Count > 0 ? rows[0] : 0;
    }

    /// <summary>The severity of a scan: <c>high</c> when it spans <see cref="WideSpread"/> destinations or ports, else <c>medium</c>.</summary>
    public static string SeverityOf(long destinations, long ports) =>
        destinations >= WideSpread || ports >= WideSpread ? "high" : "medium";

    private static List<Finding> Parse(ReadOnlySpan<byte> output) => JsonRows.Read(output, Row);

    private static Finding Row(JsonElement r)
    {
        var targets = r.GetProperty("targets").EnumerateArray().Select(t =>
        {
            var item = t.EnumerateArray().ToArray();
            string Text(int i) => item[i].GetString()!;
            var destination = new FindingEnd(Text(1), Text(2), Labels(("role", Text(4)), ("app", Text(5)), ("env", Text(6)), ("loc", Text(7))));
            return new BlockedTarget(destination, Text(3), item[0].GetInt64());
        }).ToList();
        var destinations = r.GetProperty("destinations").GetInt64();
        var ports = r.GetProperty("ports").GetInt64();
        var single = targets.Count > 0 && destinations == 1;
        var source = new FindingEnd(
            r.GetProperty("src_workload").GetString()!, r.GetProperty("src_kind").GetString()!,
            Labels(("role", Str(r, "src_role")), ("app", Str(r, "src_app")), ("env", Str(r, "src_env")), ("loc", Str(r, "src_loc"))));
        var detail = new BlockedAttemptsDetail(
            r.GetProperty("attempts").GetInt64(), destinations, ports,
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetProperty("first_ms").GetInt64()),
            targets,
            [.. r.GetProperty("policy_names").EnumerateArray().Select(p => p.GetString()!)]);
        return new Finding(
            Kind, SeverityOf(destinations, ports), source,
            single ? targets[0].Destination : new FindingEnd("", "", new Dictionary<string, string>(StringComparer.Ordinal)),
            ports == 1 && targets.Count > 0 ? targets[0].Service : "",
            0, 0,
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetProperty("detected_ms").GetInt64()),
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetProperty("last_ms").GetInt64()))
        {
            BlockedAttempts = detail,
        };
    }

    private static string Str(JsonElement row, string name) => row.GetProperty(name).GetString()!;

    private static Dictionary<string, string> Labels(params ReadOnlySpan<(string Key, string Value)> pairs)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in pairs)
        {
            if (value.Length > 0)
            {
                labels[key] = value;
            }
        }

        return labels;
    }
}
