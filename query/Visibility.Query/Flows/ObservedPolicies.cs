using System.Globalization;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Query.Planning;

namespace Visibility.Query.Flows;

/// <summary>
/// The policy names stored flows of the last <see cref="Window"/> name (the values of the filter field
/// <c>policy</c>, for the map's completion), among the flows a filter lets through (the caller's scope): sorted, at
/// most a limit. Read through the planner, so mostly from the app × env rollups, which keep <c>policies</c>.
/// </summary>
public sealed class ObservedPolicies(IFlowReader store, StoreRetention retention, TimeProvider? clock = null)
{
    /// <summary>How far back names are gathered.</summary>
    public static TimeSpan Window { get; } = TimeSpan.FromDays(7);

    public async Task<IReadOnlyList<string>> ListAsync(FilterClause filter, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        List<string> columns =
        [
            "policies", .. filter.Columns.Where(c => c != "policies"),
            .. filter.NeedsRaw && !filter.Columns.Contains("src_ip") ? ["src_ip"] : Array.Empty<string>(),
        ];
        var plan = QueryPlanner.Plan(now - Window, now, columns.ToHashSet(StringComparer.Ordinal), retention, now);
        var parameters = new List<QueryParameter> { new("limit", limit.ToString(CultureInfo.InvariantCulture)) };
        var source = FlowSource.Filtered(store.Database, plan, columns, filter, newEdges: false, TimeSpan.Zero, parameters);
        var sql = $$"""
            SELECT DISTINCT arrayJoin(policies) AS name
            FROM
            (
            {{source}}
            )
            ORDER BY name
            LIMIT {limit:UInt32}
            """;
        return await store.QueryAsync(sql, "JSONEachRow", static span => JsonRows.Read(span, r => r.GetProperty("name").GetString()!), parameters, cancellationToken);
    }
}
