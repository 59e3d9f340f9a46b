using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Graph;
using Visibility.Query.Planning;

namespace Visibility.Query.Flows;

/// <summary>Where a page of flows ends: the last flow's time and Kafka position (unique per flow).</summary>
public readonly record struct FlowCursor(long TimeMs, string Topic, int Partition, long Offset)
{
    /// <summary>An opaque token for the <c>cursor</c> parameter.</summary>
    public string Encode() =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{TimeMs}|{Partition}|{Offset}|{Topic}")));

    public static bool TryDecode(string? token, out FlowCursor cursor)
    {
        cursor = default;
        if (string.IsNullOrEmpty(token) || token.Length > 512)
        {
            return false;
        }

        try
        {
            var parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token)).Split('|', 4);
            if (parts.Length == 4
                && long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ts)
                && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var partition)
                && long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var offset))
            {
                cursor = new FlowCursor(ts, parts[3], partition, offset);
                return true;
            }
        }
        catch (FormatException)
        {
            // Not base64url: reported below as an invalid cursor.
        }

        return false;
    }
}

/// <summary>
/// A page of raw flows: newest first, after <see cref="After"/> when paging on, and not beyond <see cref="Through"/>
/// (the last flow of a bounded download, included) when set.
/// </summary>
public sealed record FlowSearchRequest(DateTimeOffset From, DateTimeOffset To, FilterClause Filter, int Limit, FlowCursor? After)
{
    public FlowCursor? Through { get; init; }
}

/// <summary>One raw flow record as the API and CLI show it.</summary>
public sealed record FlowRow(
    [property: JsonPropertyName("time")] DateTimeOffset Time,
    [property: JsonPropertyName("end")] DateTimeOffset? End,
    [property: JsonPropertyName("event")] string Event,
    [property: JsonPropertyName("proto")] string Protocol,
    [property: JsonPropertyName("srcIp")] string SrcIp,
    [property: JsonPropertyName("srcPort")] int SrcPort,
    [property: JsonPropertyName("dstIp")] string DstIp,
    [property: JsonPropertyName("dstPort")] int DstPort,
    [property: JsonPropertyName("bytesOut")] long BytesOut,
    [property: JsonPropertyName("bytesIn")] long BytesIn,
    [property: JsonPropertyName("packetsOut")] long PacketsOut,
    [property: JsonPropertyName("packetsIn")] long PacketsIn,
    [property: JsonPropertyName("src")] FlowEnd Src,
    [property: JsonPropertyName("dst")] FlowEnd Dst,
    [property: JsonPropertyName("findings")] IReadOnlyList<string> Findings,
    [property: JsonPropertyName("connId")] string ConnectionId,
    [property: JsonPropertyName("source")] string Source)
{
    /// <summary>What the network did with it: <c>allowed</c> or <c>blocked</c>.</summary>
    [JsonPropertyName("verdict")]
    public string Verdict { get; init; } = "allowed";

    /// <summary>A refused attempt, not a connection: it counts in an edge's <c>blocked</c>, never in its <c>flows</c>.</summary>
    [JsonPropertyName("attempt")]
    public bool Attempt { get; init; }

    /// <summary>Allowed only because the policy that would refuse it is in audit mode.</summary>
    [JsonPropertyName("audited")]
    public bool Audited { get; init; }

    /// <summary>Why the source refused it, when it said ("" otherwise).</summary>
    [JsonPropertyName("reason")]
    public string Reason { get; init; } = "";

    /// <summary>The policies that decided the verdict, when the source named them.</summary>
    [JsonPropertyName("policies")]
    public IReadOnlyList<string> Policies { get; init; } = [];
}

/// <summary>An end of a flow: workload (empty for peers without one), kind and labels.</summary>
public sealed record FlowEnd(
    [property: JsonPropertyName("workload")] string Workload,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels);

/// <summary>A page of flows and the cursor of the next one (null on the last page).</summary>
public sealed record FlowPage(IReadOnlyList<FlowRow> Flows, FlowCursor? Next);

/// <summary>
/// Raw flow search: flows in a range matching a filter, newest first, paged by a cursor (keyset on time and Kafka
/// position, so pages neither skip nor repeat rows while new flows arrive). Findings include <c>new_edge</c>; a
/// refused attempt's record has none (<see cref="FlowSource.RawAttemptOnly"/>).
/// </summary>
public sealed class FlowSearch(IFlowReader store, FindingRules rules)
{
    public const int MaxLimit = 10_000;

    public async Task<FlowPage> RunAsync(FlowSearchRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var parameters = Parameters(request);
        parameters.Add(new QueryParameter("limit", (request.Limit + 1).ToString(CultureInfo.InvariantCulture)));
        var sql = SelectSql(request, $"""
            toUnixTimestamp64Milli(ts) AS ts_ms, toUnixTimestamp64Milli(end_ts) AS end_ms, toString(conn_id) AS conn, event,
                {GraphQuery.ProtocolName} AS proto_name,
                replaceOne(toString(src_ip), '::ffff:', '') AS src, src_port, replaceOne(toString(dst_ip), '::ffff:', '') AS dst, dst_port,
                bytes_out, bytes_in, packets_out, packets_in,
                src_workload, src_kind, mapUpdate(src_labels, map('role', src_role, 'app', src_app, 'env', src_env, 'loc', src_loc)) AS src_all,
                dst_workload, dst_kind, mapUpdate(dst_labels, map('role', dst_role, 'app', dst_app, 'env', dst_env, 'loc', dst_loc)) AS dst_all,
                findings, verdict, attempt, audited, verdict_reason, policies, kafka_topic, kafka_partition, kafka_offset
            """, "LIMIT {limit:UInt32}");
        var (rows, cursors) = await store.QueryAsync(sql, "JSONEachRow", Parse, parameters, cancellationToken);
        if (rows.Count > request.Limit)
        {
            rows.RemoveAt(rows.Count - 1);
            return new FlowPage(rows, cursors[request.Limit - 1]);
        }

        return new FlowPage(rows, null);
    }

    /// <summary>
    /// The cursor of the <paramref name="rows"/>-th flow of <paramref name="request"/> (ignoring its limit) when more
    /// flows match, or null when at most <paramref name="rows"/> do: where a download bounded to that many rows
    /// stops, known before it starts. Reads only the sorting key of the flows before it.
    /// </summary>
    public async Task<FlowCursor?> CursorAfterAsync(FlowSearchRequest request, int rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        var parameters = Parameters(request);
        parameters.Add(new QueryParameter("skip", (rows - 1).ToString(CultureInfo.InvariantCulture)));
        var sql = SelectSql(request, "toUnixTimestamp64Milli(ts) AS ts_ms, kafka_topic, kafka_partition, kafka_offset", "LIMIT 2 OFFSET {skip:UInt64}");
        var cursors = await store.QueryAsync(sql, "JSONEachRow", span => JsonRows.Read(span, CursorOf), parameters, cancellationToken);
        return cursors.Count == 2 ? cursors[0] : null;
    }

    private List<QueryParameter> Parameters(FlowSearchRequest request)
    {
        var parameters = new List<QueryParameter>
        {
            new("from", request.From.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
            new("to", request.To.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
            new("ne_from", request.From.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
            new("ne_to", request.To.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
            new("ne_baseline", ((long)rules.NewEdgeBaseline.TotalSeconds).ToString(CultureInfo.InvariantCulture)),
        };
        parameters.AddRange(request.Filter.Parameters);
        AddCursor(parameters, "c", request.After);
        AddCursor(parameters, "t", request.Through);
        return parameters;
    }

    private static void AddCursor(List<QueryParameter> parameters, string prefix, FlowCursor? cursor)
    {
        if (cursor is { } c)
        {
            parameters.Add(new QueryParameter($"{prefix}_ts", c.TimeMs.ToString(CultureInfo.InvariantCulture)));
            parameters.Add(new QueryParameter($"{prefix}_topic", c.Topic));
            parameters.Add(new QueryParameter($"{prefix}_partition", c.Partition.ToString(CultureInfo.InvariantCulture)));
            parameters.Add(new QueryParameter($"{prefix}_offset", c.Offset.ToString(CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>The flows of a request in cursor order (newest first; time, then Kafka position, unique per flow).</summary>
    private string SelectSql(FlowSearchRequest request, string columns, string limit)
    {
        var db = FlowSchema.QuoteDatabase(store.Database);
        const string Key = "(ts, kafka_topic, kafka_partition, kafka_offset)";
        var after = request.After is null ? ""
            : $"AND {Key} < (fromUnixTimestamp64Milli({{c_ts:Int64}}, 'UTC'), {{c_topic:String}}, {{c_partition:Int32}}, {{c_offset:Int64}})";
        var through = request.Through is null ? ""
            : $"AND {Key} >= (fromUnixTimestamp64Milli({{t_ts:Int64}}, 'UTC'), {{t_topic:String}}, {{t_partition:Int32}}, {{t_offset:Int64}})";
        return $$"""
            SELECT {{columns}}
            FROM
            (
                SELECT * REPLACE (if({{FlowSource.RawAttemptOnly}}, 0, {{FlowSource.WithNewEdges(db)}}) AS findings)
                FROM {{db}}.{{FlowSchema.FlowsTable}}
                WHERE ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
            )
            WHERE ({{request.Filter.Sql}}) {{after}} {{through}}
            ORDER BY ts DESC, kafka_topic DESC, kafka_partition DESC, kafka_offset DESC
            {{limit}}
            SETTINGS output_format_json_quote_64bit_integers = 0
            """;
    }

    private static FlowCursor CursorOf(JsonElement r) => new(
        r.GetProperty("ts_ms").GetInt64(), r.GetProperty("kafka_topic").GetString()!, r.GetProperty("kafka_partition").GetInt32(), r.GetProperty("kafka_offset").GetInt64());

    private static (List<FlowRow>, List<FlowCursor>) Parse(ReadOnlySpan<byte> output)
    {
        var pairs = JsonRows.Read(output, ParseRow);
        return ([.. pairs.Select(p => p.Row)], [.. pairs.Select(p => p.Cursor)]);
    }

    private static (FlowRow Row, FlowCursor Cursor) ParseRow(JsonElement r)
    {
        var ts = r.GetProperty("ts_ms").GetInt64();
        var endMs = r.GetProperty("end_ms").GetInt64();
        var topic = r.GetProperty("kafka_topic").GetString()!;
        var partition = r.GetProperty("kafka_partition").GetInt32();
        var offset = r.GetProperty("kafka_offset").GetInt64();
        var row = new FlowRow(
            DateTimeOffset.FromUnixTimeMilliseconds(ts),
            endMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(endMs) : null,
            r.GetProperty("event").GetInt32() switch { 1 => "new", 2 => "update", 4 => "destroy", _ => "flow" },
            r.GetProperty("proto_name").GetString()!,
            r.GetProperty("src").GetString()!, r.GetProperty("src_port").GetInt32(),
            r.GetProperty("dst").GetString()!, r.GetProperty("dst_port").GetInt32(),
            r.GetProperty("bytes_out").GetInt64(), r.GetProperty("bytes_in").GetInt64(),
            r.GetProperty("packets_out").GetInt64(), r.GetProperty("packets_in").GetInt64(),
            End(r, "src"), End(r, "dst"),
            FindingKinds.Names((FindingKind)r.GetProperty("findings").GetInt32()),
            r.GetProperty("conn").GetString()!,
            string.Create(CultureInfo.InvariantCulture, $"{topic}/{partition}/{offset}"))
        {
            Verdict = r.GetProperty("verdict").GetString()!,
            Attempt = r.GetProperty("attempt").GetInt32() != 0,
            Audited = r.GetProperty("audited").GetInt32() != 0,
            Reason = r.GetProperty("verdict_reason").GetString()!,
            Policies = [.. r.GetProperty("policies").EnumerateArray().Select(p => p.GetString()!)],
        };
        return (row, new FlowCursor(ts, topic, partition, offset));
    }

    private static FlowEnd End(JsonElement row, string side) => new(
        row.GetProperty($"{side}_workload").GetString()!,
        row.GetProperty($"{side}_kind").GetString()!,
        row.GetProperty($"{side}_all").EnumerateObject().Where(p => p.Value.GetString()!.Length > 0).ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal));
}
