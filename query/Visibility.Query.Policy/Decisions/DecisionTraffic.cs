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
/// Reads traffic grouped finely enough to decide it: by the graph's keys plus the label keys the provisioned scopes
/// and rules read, the protocol and destination port, the observed verdict and the provisioning epoch (the index of
/// the last boundary at or before the rows' first sighting), with its connections, refused attempts and the
/// enforcing policies the records named (at most 16 per group). Read through the planner, so from rollups whenever
/// they keep those columns (every standard label, ports and the verdict are rollup dimensions); a free-form label
/// key in a rule or scope reads raw flows, as a filter on it would.
/// </summary>
public sealed class DecisionTraffic(IFlowReader store, StoreRetention retention, TimeProvider? clock = null)
{
    /// <summary>The most groups one read returns; beyond it the decisions are marked incomplete.</summary>
    public const int MaxRows = 1_000_000;

    public async Task<(IReadOnlyList<DecisionGroup> Groups, bool Truncated)> ReadAsync(
        DateTimeOffset from, DateTimeOffset to, IReadOnlyList<GroupKey> graphKeys, IReadOnlyList<string> labelKeys, FilterClause filter,
        IReadOnlyList<DateTimeOffset> boundaries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(graphKeys);
        ArgumentNullException.ThrowIfNull(labelKeys);
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(boundaries);

        // The graph's keys first (they make the node ids), then the label keys only the policy reads.
        var names = graphKeys.Select(k => k.Name).ToList();
        var extraNames = labelKeys.Where(k => !names.Contains(k, StringComparer.Ordinal)).ToList();
        if (!GroupKey.TryParseList(string.Join(',', names.Concat(extraNames)), int.MaxValue, out var keys, out var error))
        {
            throw new ArgumentException(error, nameof(labelKeys));
        }

        var extra = keys.Skip(graphKeys.Count).ToList();
        keys = [.. keys.Take(graphKeys.Count)];
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        var columns = new List<string> { "src_peer", "dst_peer", "proto", "dst_port", "verdict", "policies" };
        columns.AddRange(keys.Concat(extra).SelectMany(k => k.Columns).Concat(filter.Columns));
        if (filter.NeedsRaw || keys.Concat(extra).Any(k => k.NeedsRaw))
        {
            columns.Add("src_ip");
        }

        columns = [.. columns.Distinct(StringComparer.Ordinal)];
        var plan = QueryPlanner.Plan(from, to, columns.ToHashSet(StringComparer.Ordinal), retention, now);
        var parameters = new List<QueryParameter> { new("limit", (MaxRows + 1).ToString(CultureInfo.InvariantCulture)) };
        parameters.AddRange(keys.Concat(extra).Where(k => k.ParameterName is not null).Select(k => new QueryParameter(k.ParameterName!, k.Name)));
        var epoch = "0";
        if (boundaries.Count > 0)
        {
            var arms = new List<string>();
            for (var i = 0; i < boundaries.Count; i++)
            {
                parameters.Add(new QueryParameter($"epoch{i}", boundaries[i].ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)));
                arms.Add($"first_seen < fromUnixTimestamp64Milli({{epoch{i}:Int64}}, 'UTC'), {i}");
            }

            epoch = $"multiIf({string.Join(", ", arms)}, {boundaries.Count})";
        }

        var source = FlowSource.Filtered(store.Database, plan, columns, filter, newEdges: false, TimeSpan.Zero, parameters);
        static string List(IEnumerable<string> items) => string.Join(", ", items);
        var groupBy = List(keys.Concat(extra).Select(k => k.SourceExpression).Prepend("src_peer")
            .Append("dst_peer").Concat(keys.Concat(extra).Select(k => k.DestinationExpression)));
        var sql = $$"""
            SELECT src_peer, [{{List(keys.Select(k => k.SourceExpression))}}] AS s_vals, [{{List(extra.Select(k => k.SourceExpression))}}] AS s_extra,
                dst_peer, [{{List(keys.Select(k => k.DestinationExpression))}}] AS d_vals, [{{List(extra.Select(k => k.DestinationExpression))}}] AS d_extra,
                {{GraphQuery.ProtocolName}} AS protocol, dst_port, verdict, {{epoch}} AS epoch,
                greatest(sum(opened), sum(closed)) AS flows, sum(attempts) AS attempts, groupUniqArrayArray(16)(policies) AS policy_names, sum(bytes) AS bytes,
                toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms
            FROM
            (
            {{source}}
            )
            GROUP BY {{groupBy}}, proto, dst_port, verdict, epoch
            LIMIT {limit:UInt32}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
        var rows = await store.QueryAsync(sql, "JSONEachRow", span => JsonRows.Read(span, r => Row(r, keys, extra)), parameters, cancellationToken);
        return rows.Count > MaxRows ? (rows[..MaxRows], true) : (rows, false);
    }

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
            r.GetProperty("flows").GetInt64(), r.GetProperty("attempts").GetInt64(), Strings(r.GetProperty("policy_names")))
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
