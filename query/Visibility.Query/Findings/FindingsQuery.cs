using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Graph;
using Visibility.Query.Planning;

namespace Visibility.Query.Findings;

/// <summary>What to list: a time range, a filter, the lowest severity wanted and a limit.</summary>
public sealed record FindingsRequest(DateTimeOffset From, DateTimeOffset To, FilterClause Filter, string MinimumSeverity, int Limit)
{
    /// <summary>Only findings first seen at or after this (in the range): the export's new findings of an interval.</summary>
    public DateTimeOffset? FirstSeenFrom { get; init; }
}

/// <summary>Findings between workload-level endpoints in a range, newest first.</summary>
public sealed record FindingsResponse(
    [property: JsonPropertyName("from")] DateTimeOffset From,
    [property: JsonPropertyName("to")] DateTimeOffset To,
    [property: JsonPropertyName("findings")] IReadOnlyList<Finding> Findings,
    [property: JsonPropertyName("truncated")] bool Truncated,
    [property: JsonPropertyName("total")] long Total,
    [property: JsonPropertyName("filter")] string Filter,
    [property: JsonPropertyName("plan")] QueryPlan Plan);

/// <summary>One end of a finding: the workload (empty for peers without one), its kind and its labels.</summary>
public sealed record FindingEnd(
    [property: JsonPropertyName("workload")] string Workload,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// A finding: its kind and severity, the two ends and the service (protocol/port), with the flows, bytes and first
/// and last sighting in the range.
/// </summary>
public sealed record Finding(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("source")] FindingEnd Source,
    [property: JsonPropertyName("destination")] FindingEnd Destination,
    [property: JsonPropertyName("service")] string Service,
    [property: JsonPropertyName("flows")] long Flows,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("firstSeen")] DateTimeOffset FirstSeen,
    [property: JsonPropertyName("lastSeen")] DateTimeOffset LastSeen)
{
    /// <summary>A <c>blocked_attempts</c> finding's attempts, targets and policies; null (and absent from JSON) for other kinds.</summary>
    [JsonPropertyName("blockedAttempts")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public BlockedAttemptsDetail? BlockedAttempts { get; init; }
}

/// <summary>
/// Findings computed at query time beside the stored kinds (policy violations, blocked attempts): for a request, the findings of the
/// range that pass its filter, first seen at or after <see cref="FindingsRequest.FirstSeenFrom"/> when set, each with
/// its severity. <see cref="FindingsQuery"/> merges them with the stored ones, applies the lowest severity and the limit.
/// </summary>
public interface IFindingSource
{
    Task<IReadOnlyList<Finding>> FindAsync(FindingsRequest request, CancellationToken cancellationToken);
}

/// <summary>
/// Lists findings: per-flow kinds as stored at ingest (<c>cross_env</c>, <c>unknown_source</c>,
/// <c>internet_source</c>) and <c>new_edge</c>, grouped per kind, workload-level ends and service, read through
/// the planner like the graph. Severities come from the current <see cref="FindingRules"/>.
/// </summary>
public sealed class FindingsQuery(IFlowReader store, StoreRetention retention, FindingRules rules, TimeProvider? clock = null)
{
    public const int MaxLimit = 10_000;

    /// <summary>Findings computed at query time (policy violations, blocked attempts), merged with the stored kinds.</summary>
    public IReadOnlyList<IFindingSource> Sources { get; init; } = [];

    /// <summary>What a finding shows: both ends at workload level, the service and the findings.</summary>
    private static readonly List<string> Columns = [.. FlowColumnTable.RollupDimensions.Select(c => c.Name), "src_peer", "dst_peer"];

    public async Task<FindingsResponse> RunAsync(FindingsRequest request, CancellationToken cancellationToken)
    {
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        List<string> columns =
        [
            .. Columns, .. request.Filter.Columns.Where(c => !Columns.Contains(c)),
            .. request.Filter.NeedsRaw && !request.Filter.Columns.Contains("src_ip") ? ["src_ip"] : Array.Empty<string>(),
        ];
        var plan = QueryPlanner.Plan(request.From, request.To, columns.ToHashSet(StringComparer.Ordinal), retention, now);
        var parameters = new List<QueryParameter>();
        var source = FlowSource.Filtered(store.Database, plan, columns, request.Filter, newEdges: true, rules.NewEdgeBaseline, parameters);
        var having = "";
        if (request.FirstSeenFrom is { } firstSeenFrom)
        {
            having = "\nHAVING first_ms >= {first_seen_from:Int64}";
            parameters.Add(new QueryParameter("first_seen_from", firstSeenFrom.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
        }

        var sql = $$"""
            SELECT kind_bit, src_workload, src_kind, src_role, src_app, src_env, src_loc,
                dst_workload, dst_kind, dst_role, dst_app, dst_env, dst_loc,
                concat({{GraphQuery.ProtocolName}}, '/', toString(dst_port)) AS service,
                greatest(sum(opened), sum(closed)) AS flows, sum(bytes) AS bytes,
                toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms
            FROM
            (
            {{source}}
            )
            ARRAY JOIN arrayFilter(b -> bitAnd(findings, b) != 0, [1, 2, 4, 8]) AS kind_bit
            WHERE findings != 0
            GROUP BY kind_bit, src_workload, src_kind, src_role, src_app, src_env, src_loc,
                dst_workload, dst_kind, dst_role, dst_app, dst_env, dst_loc, proto, dst_port{{having}}
            ORDER BY last_ms DESC, kind_bit, src_workload, dst_workload, service
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
        var rows = await store.QueryAsync(sql, "JSONEachRow", Parse, parameters, cancellationToken);

        var minimum = FindingRules.Rank(request.MinimumSeverity);
        var findings = rows
            .Select(r => r with { Severity = rules.Severity((FindingKind)r.KindBit, r.Source.Labels.GetValueOrDefault("env", ""), r.Destination.Labels.GetValueOrDefault("env", "")) })
            .Where(r => FindingRules.Rank(r.Severity) >= minimum)
            .Select(r => r.ToFinding())
            .ToList();
        if (Sources.Count > 0)
        {
            // The stored kinds' order (newest last sighting first, then kind bit, ends and service); computed kinds after them.
            foreach (var computed in Sources)
            {
                findings.AddRange((await computed.FindAsync(request, cancellationToken)).Where(f => FindingRules.Rank(f.Severity) >= minimum));
            }

            findings = [.. findings
                .OrderByDescending(f => f.LastSeen)
                .ThenBy(f => FindingKinds.TryParse(f.Kind, out var bit) ? (int)bit : 256)
                .ThenBy(f => f.Kind, StringComparer.Ordinal)
                .ThenBy(f => f.Source.Workload, StringComparer.Ordinal)
                .ThenBy(f => f.Destination.Workload, StringComparer.Ordinal)
                .ThenBy(f => f.Service, StringComparer.Ordinal)];
        }

        return new FindingsResponse(
            plan.From, plan.To,
            [.. findings.Take(request.Limit)],
            findings.Count > request.Limit, findings.Count, request.Filter.Text, plan);
    }

    private static List<Row> Parse(ReadOnlySpan<byte> output) => JsonRows.Read(output, r => new Row(
                r.GetProperty("kind_bit").GetInt32(),
                End(r, "src"),
                End(r, "dst"),
                r.GetProperty("service").GetString()!,
                r.GetProperty("flows").GetInt64(),
                r.GetProperty("bytes").GetInt64(),
                r.GetProperty("first_ms").GetInt64(),
                r.GetProperty("last_ms").GetInt64(),
                ""));

    private static FindingEnd End(JsonElement row, string side)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in (ReadOnlySpan<string>)["role", "app", "env", "loc"])
        {
            var value = row.GetProperty($"{side}_{key}").GetString()!;
            if (value.Length > 0)
            {
                labels[key] = value;
            }
        }

        return new FindingEnd(row.GetProperty($"{side}_workload").GetString()!, row.GetProperty($"{side}_kind").GetString()!, labels);
    }

    private sealed record Row(int KindBit, FindingEnd Source, FindingEnd Destination, string Service, long Flows, long Bytes, long FirstMs, long LastMs, string Severity)
    {
        public Finding ToFinding() => new(
            FindingKinds.Names((FindingKind)KindBit)[0], Severity, Source, Destination, Service, Flows, Bytes,
            DateTimeOffset.FromUnixTimeMilliseconds(FirstMs), DateTimeOffset.FromUnixTimeMilliseconds(LastMs));
    }
}
