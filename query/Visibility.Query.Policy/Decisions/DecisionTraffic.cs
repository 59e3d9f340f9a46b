using System.Globalization;
using System.Text.Json;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Graph;
using Visibility.Query.Planning;

namespace Visibility.Query.Policy.Decisions;

/// <summary>
/// One group of traffic to decide: where it falls on the graph (<see cref="SourceNode"/>, <see cref="TargetNode"/>),
/// what the decision reads (<see cref="Traffic"/>: peers, labels, service), whether the network refused it, the
/// provisioning epoch it was seen in, and how many connections and refused attempts it holds.
/// </summary>
public sealed record DecisionGroup(
    string SourceNode,
    string TargetNode,
    TrafficRow Traffic,
    bool ObservedBlocked,
    int Epoch,
    long Connections,
    long Attempts,
    IReadOnlyList<string> Policies)
{
    /// <summary>Bytes of the group's connections, both directions.</summary>
    public long Bytes { get; init; }

    /// <summary>The group's first sighting.</summary>
    public DateTimeOffset FirstSeen { get; init; }

    /// <summary>The group's last sighting.</summary>
    public DateTimeOffset LastSeen { get; init; }
}

/// <summary>
/// What names one part of an edge's traffic (<see cref="EdgePart"/>) or a <see cref="DecisionGroup"/>: the edge's
/// nodes, protocol number, port, observed verdict, epoch and the extra label values of each end (joined).
/// </summary>
public readonly record struct PartKey(string Source, string Target, int Proto, int Port, bool Blocked, int Epoch, string SourceExtra, string TargetExtra)
{
    /// <summary>The key of a part of the edge from <paramref name="source"/> to <paramref name="target"/>.</summary>
    public static PartKey Of(string source, string target, EdgePart part)
    {
        ArgumentNullException.ThrowIfNull(part);
        return new(source, target, part.Proto, part.Port, part.ObservedBlocked, part.Epoch, Join(part.SourceExtra), Join(part.TargetExtra));
    }

    internal static string Join(IEnumerable<string> values) => string.Join('\u0001', values);
}

/// <summary>
/// Reads traffic grouped finely enough to decide it: by the graph's keys plus the label keys the provisioned scopes
/// and rules read, the protocol and destination port, the observed verdict and the provisioning epoch (the index of
/// the last boundary at or before the rows' first sighting), with its connections, refused attempts and the
/// enforcing policies the records named (at most 16 per group). Read through the planner, so from rollups whenever
/// they keep those columns: the app × env service rollups when the graph and the provisioned set read only
/// <c>app</c> and <c>env</c>, the workload-level ones for other standard labels; a free-form label key in a rule or
/// scope reads raw flows, as a filter on it would.
/// <para>
/// The policy names are read by a second statement, over the rows that name any (most records name none, and
/// reading the names of every row costs more than the rest of the read); both run at once.
/// </para>
/// </summary>
public sealed class DecisionTraffic(IFlowReader store, StoreRetention retention, TimeProvider? clock = null)
{
    /// <summary>The most groups one read returns; beyond it the decisions are marked incomplete.</summary>
    public const int MaxRows = 1_000_000;

    /// <summary>The tables the read of <see cref="ReadAsync"/> with the same arguments plans to read.</summary>
    public QueryPlan Plan(DateTimeOffset from, DateTimeOffset to, IReadOnlyList<GroupKey> graphKeys, IReadOnlyList<string> labelKeys, FilterClause filter) =>
        Prepare(from, to, graphKeys, labelKeys, filter).Plan;

    /// <summary>The label keys of <paramref name="labelKeys"/> that <paramref name="graphKeys"/> does not hold, as keys to group by.</summary>
    public static IReadOnlyList<GroupKey> ExtraKeys(IReadOnlyList<GroupKey> graphKeys, IReadOnlyList<string> labelKeys)
    {
        ArgumentNullException.ThrowIfNull(graphKeys);
        ArgumentNullException.ThrowIfNull(labelKeys);
        var names = graphKeys.Select(k => k.Name).ToList();
        var extraNames = labelKeys.Where(k => !names.Contains(k, StringComparer.Ordinal)).ToList();
        if (!GroupKey.TryParseList(string.Join(',', names.Concat(extraNames)), int.MaxValue, out var keys, out var error))
        {
            throw new ArgumentException(error, nameof(labelKeys));
        }

        return [.. keys.Skip(graphKeys.Count)];
    }

    /// <summary>
    /// The enforcing policies (at most 16) of each part of the graph's edges whose rows name any, the graph split by
    /// <paramref name="extra"/> and <paramref name="boundaries"/> (<see cref="EdgeSplit"/>): a statement over the rows
    /// that name any, to run beside the graph's.
    /// </summary>
    public async Task<Dictionary<PartKey, IReadOnlyList<string>>> PoliciesAsync(
        DateTimeOffset from, DateTimeOffset to, IReadOnlyList<GroupKey> graphKeys, IReadOnlyList<GroupKey> extra, FilterClause filter,
        IReadOnlyList<DateTimeOffset> boundaries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(boundaries);
        var (keys, extraKeys, columns, plan) = Prepare(from, to, graphKeys, [.. extra.Select(k => k.Name)], filter);
        return await ReadPoliciesAsync(keys, extraKeys, plan, columns, filter, boundaries, cancellationToken);
    }

    public async Task<(IReadOnlyList<DecisionGroup> Groups, bool Truncated)> ReadAsync(
        DateTimeOffset from, DateTimeOffset to, IReadOnlyList<GroupKey> graphKeys, IReadOnlyList<string> labelKeys, FilterClause filter,
        IReadOnlyList<DateTimeOffset> boundaries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(boundaries);
        var (keys, extra, columns, plan) = Prepare(from, to, graphKeys, labelKeys, filter);
        var rowsTask = ReadGroupsAsync(keys, extra, plan, [.. columns.Where(c => c != "policies")], filter, boundaries, cancellationToken);
        var policiesTask = ReadPoliciesAsync(keys, extra, plan, columns, filter, boundaries, cancellationToken);
        var rows = await rowsTask;
        var policies = await policiesTask;
        if (policies.Count > 0)
        {
            for (var i = 0; i < rows.Count; i++)
            {
                if (policies.TryGetValue(rows[i].Key, out var names))
                {
                    rows[i] = rows[i] with { Group = rows[i].Group with { Policies = names } };
                }
            }
        }

        var groups = rows.Select(r => r.Group).ToList();
        return groups.Count > MaxRows ? (groups[..MaxRows], true) : (groups, false);
    }

    private (List<GroupKey> Keys, List<GroupKey> Extra, List<string> Columns, QueryPlan Plan) Prepare(
        DateTimeOffset from, DateTimeOffset to, IReadOnlyList<GroupKey> graphKeys, IReadOnlyList<string> labelKeys, FilterClause filter)
    {
        ArgumentNullException.ThrowIfNull(graphKeys);
        ArgumentNullException.ThrowIfNull(labelKeys);
        ArgumentNullException.ThrowIfNull(filter);

        // The graph's keys first (they make the node ids), then the label keys only the policy reads.
        var keys = graphKeys.ToList();
        var extra = ExtraKeys(graphKeys, labelKeys).ToList();
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        var columns = new List<string> { "src_peer", "dst_peer", "proto", "dst_port", "verdict", "policies" };
        columns.AddRange(keys.Concat(extra).SelectMany(k => k.Columns).Concat(filter.Columns));
        if (filter.NeedsRaw || keys.Concat(extra).Any(k => k.NeedsRaw))
        {
            columns.Add("src_ip");
        }

        columns = [.. columns.Distinct(StringComparer.Ordinal)];
        return (keys, extra, columns, QueryPlanner.Plan(from, to, columns.ToHashSet(StringComparer.Ordinal), retention, now));
    }

    /// <summary>The groups (their policy names left empty), each with the key <see cref="ReadPoliciesAsync"/> names them by.</summary>
    private async Task<List<(PartKey Key, DecisionGroup Group)>> ReadGroupsAsync(
        List<GroupKey> keys, List<GroupKey> extra, QueryPlan plan, List<string> columns, FilterClause filter,
        IReadOnlyList<DateTimeOffset> boundaries, CancellationToken cancellationToken)
    {
        var (source, parameters, epoch, groupBy) = Statement(keys, extra, plan, columns, filter, boundaries);
        parameters.Add(new QueryParameter("limit", (MaxRows + 1).ToString(CultureInfo.InvariantCulture)));
        var sql = $$"""
            SELECT {{GroupColumns(keys, extra, epoch)}},
                {{GraphQuery.ProtocolName}} AS protocol,
                greatest(sum(opened), sum(closed)) AS flows, sum(attempts) AS attempts, sum(bytes) AS bytes,
                toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms
            FROM
            (
            {{source}}
            )
            GROUP BY {{groupBy}}
            LIMIT {limit:UInt32}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
        return await store.QueryAsync(sql, "JSONEachRow", span => JsonRows.Read(span, r => (Key(r, keys), Row(r, keys, extra))), parameters, cancellationToken);
    }

    /// <summary>The enforcing policies (at most 16) of each group whose rows name any, by the group's key.</summary>
    private async Task<Dictionary<PartKey, IReadOnlyList<string>>> ReadPoliciesAsync(
        List<GroupKey> keys, List<GroupKey> extra, QueryPlan plan, List<string> columns, FilterClause filter,
        IReadOnlyList<DateTimeOffset> boundaries, CancellationToken cancellationToken)
    {
        var (source, parameters, epoch, groupBy) = Statement(keys, extra, plan, columns, filter, boundaries);
        parameters.Add(new QueryParameter("limit", (MaxRows + 1).ToString(CultureInfo.InvariantCulture)));
        var sql = $$"""
            SELECT {{GroupColumns(keys, extra, epoch)}}, groupUniqArrayArray(16)(policies) AS policy_names
            FROM
            (
            {{source}}
            )
            WHERE notEmpty(policies)
            GROUP BY {{groupBy}}
            LIMIT {limit:UInt32}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
        var rows = await store.QueryAsync(sql, "JSONEachRow", span => JsonRows.Read(span, r => (Key(r, keys), (IReadOnlyList<string>)Strings(r.GetProperty("policy_names")))), parameters, cancellationToken);
        return rows.ToDictionary(r => r.Item1, r => r.Item2);
    }

    /// <summary>The filtered rows of the plan, their parameters, the epoch expression and what the groups are keyed by.</summary>
    private (string Source, List<QueryParameter> Parameters, string Epoch, string GroupBy) Statement(
        List<GroupKey> keys, List<GroupKey> extra, QueryPlan plan, List<string> columns, FilterClause filter, IReadOnlyList<DateTimeOffset> boundaries)
    {
        var parameters = new List<QueryParameter>();
        parameters.AddRange(keys.Concat(extra).Where(k => k.ParameterName is not null).Select(k => new QueryParameter(k.ParameterName!, k.Name)));
        var epoch = EdgeSplit.EpochOf(boundaries, parameters);

        var source = FlowSource.Filtered(store.Database, plan, columns, filter, newEdges: false, TimeSpan.Zero, parameters);
        var groupBy = List(keys.Concat(extra).Select(k => k.SourceExpression).Prepend("src_peer")
            .Append("dst_peer").Concat(keys.Concat(extra).Select(k => k.DestinationExpression))) + ", proto, dst_port, verdict, epoch";
        return (source, parameters, epoch, groupBy);
    }

    private static string List(IEnumerable<string> items) => string.Join(", ", items);

    /// <summary>What a group is keyed by, as both statements select it.</summary>
    private static string GroupColumns(List<GroupKey> keys, List<GroupKey> extra, string epoch) =>
        $"src_peer, [{List(keys.Select(k => k.SourceExpression))}] AS s_vals, [{List(extra.Select(k => k.SourceExpression))}] AS s_extra, " +
        $"dst_peer, [{List(keys.Select(k => k.DestinationExpression))}] AS d_vals, [{List(extra.Select(k => k.DestinationExpression))}] AS d_extra, " +
        $"proto, dst_port, verdict, {epoch} AS epoch";

    /// <summary>A group's key, from the columns <see cref="GroupColumns"/> selects.</summary>
    private static PartKey Key(JsonElement r, IReadOnlyList<GroupKey> keys) => new(
        GraphQuery.NodeId(r.GetProperty("src_peer").GetString()!, Strings(r.GetProperty("s_vals")), keys),
        GraphQuery.NodeId(r.GetProperty("dst_peer").GetString()!, Strings(r.GetProperty("d_vals")), keys),
        r.GetProperty("proto").GetInt32(), r.GetProperty("dst_port").GetInt32(), r.GetProperty("verdict").GetString() == "blocked",
        r.GetProperty("epoch").GetInt32(), PartKey.Join(Strings(r.GetProperty("s_extra"))), PartKey.Join(Strings(r.GetProperty("d_extra"))));

    private static DecisionGroup Row(JsonElement r, IReadOnlyList<GroupKey> keys, IReadOnlyList<GroupKey> extra)
    {
        var srcPeer = r.GetProperty("src_peer").GetString()!;
        var dstPeer = r.GetProperty("dst_peer").GetString()!;
        var srcValues = Strings(r.GetProperty("s_vals"));
        var dstValues = Strings(r.GetProperty("d_vals"));
        var traffic = new TrafficRow(
            srcPeer, Labels(srcValues, Strings(r.GetProperty("s_extra")), keys, extra),
            dstPeer, Labels(dstValues, Strings(r.GetProperty("d_extra")), keys, extra),
            r.GetProperty("protocol").GetString()!, r.GetProperty("dst_port").GetInt32(),
            r.GetProperty("flows").GetInt64(), 0, 0, default, default);
        return new DecisionGroup(
            GraphQuery.NodeId(srcPeer, srcValues, keys), GraphQuery.NodeId(dstPeer, dstValues, keys), traffic,
            r.GetProperty("verdict").GetString() == "blocked", r.GetProperty("epoch").GetInt32(),
            r.GetProperty("flows").GetInt64(), r.GetProperty("attempts").GetInt64(), [])
        {
            Bytes = r.GetProperty("bytes").GetInt64(),
            FirstSeen = DateTimeOffset.FromUnixTimeMilliseconds(r.GetProperty("first_ms").GetInt64()),
            LastSeen = DateTimeOffset.FromUnixTimeMilliseconds(r.GetProperty("last_ms").GetInt64()),
        };
    }

    private static List<string> Strings(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetString()!)];

    private static Dictionary<string, string> Labels(List<string> values, List<string> extraValues, IReadOnlyList<GroupKey> keys, IReadOnlyList<GroupKey> extra)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i++)
        {
            if (values[i].Length > 0)
            {
                labels[keys[i].Name] = values[i];
            }
        }

        for (var i = 0; i < extra.Count; i++)
        {
            if (extraValues[i].Length > 0)
            {
                labels[extra[i].Name] = extraValues[i];
            }
        }

        return labels;
    }
}
