using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Ingest.Enrichment;

namespace Visibility.Ingest.Conntrack;

/// <summary>
/// Loss at the source. conntrack reports a connection when it opens (NEW) and when it ends (DESTROY, with the final
/// counters); under bursts ulogd2 drops events ("We are losing events"), and a connection whose DESTROY was dropped
/// stays open in the store forever, without its final counters. The kernel forgets an idle connection after its
/// protocol's timeout (<see cref="ConntrackOptions"/>), so a connection opened longer ago than that and never
/// closed most likely lost its end: this counts them per protocol (a connection kept busy longer than its
/// timeout, such as a TCP session active for more than 5 days, is counted too). Read by <c>/metrics</c> and
/// <c>/readyz</c>; updated by <see cref="UnclosedConnectionMonitor"/>.
/// </summary>
public sealed class UnclosedConnections
{
    private volatile Snapshot current = new(FrozenDictionary<string, long>.Empty, null);

    /// <summary>Connections open past their protocol's timeout, by protocol name, as of <see cref="CheckedAt"/>.</summary>
    public IReadOnlyDictionary<string, long> ByProtocol => current.Counts;

    /// <summary>All of them.</summary>
    public long Total => current.Counts.Values.Sum();

    /// <summary>When the store was last checked; null before the first check.</summary>
    public DateTimeOffset? CheckedAt => current.At;

    internal void Set(IReadOnlyDictionary<string, long> counts, DateTimeOffset at) => current = new(counts.ToFrozenDictionary(StringComparer.Ordinal), at);

    /// <summary>The query: connections opened (a NEW record) and never closed (no DESTROY or event-less record), by protocol.</summary>
    public static async Task<IReadOnlyDictionary<string, long>> CountAsync(IFlowReader store, ConntrackOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        var db = FlowSchema.QuoteDatabase(store.Database);

        // Every record of a connection carries its start (ts), so one connection's records fall in one window of
        // starts: the scan reads only the starts old enough to be past the shortest timeout.
        var shortest = new[] { options.TcpEstablished, options.UdpStream, options.Icmp, options.Generic }.Min();
        static QueryParameter Ms(string name, DateTimeOffset at) => new(name, at.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        static QueryParameter Span(string name, TimeSpan span) => new(name, ((long)span.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        var text = await store.QueryAsync(
            $$"""
            SELECT proto, count()
            FROM
            (
                SELECT conn_id, any(proto) AS proto, min(ts) AS started
                FROM {{db}}.{{FlowSchema.FlowsTable}}
                WHERE ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC')
                GROUP BY conn_id
                HAVING countIf(event = 1) > 0 AND countIf(event IN (0, 4)) = 0
            )
            WHERE toUnixTimestamp64Milli(started) < {now:Int64} - multiIf(proto = 6, {tcp:Int64}, proto = 17, {udp:Int64}, proto IN (1, 58), {icmp:Int64}, {generic:Int64})
            GROUP BY proto
            """,
            "TabSeparated", static span => Encoding.UTF8.GetString(span),
            [Ms("since", now - options.Lookback), Ms("until", now - shortest), Ms("now", now),
             Span("tcp", options.TcpEstablished), Span("udp", options.UdpStream), Span("icmp", options.Icmp), Span("generic", options.Generic)],
            cancellationToken);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            var name = ProtocolName(byte.Parse(f[0], CultureInfo.InvariantCulture));
            counts[name] = counts.GetValueOrDefault(name) + long.Parse(f[1], CultureInfo.InvariantCulture);
        }

        return counts;
    }

    private static string ProtocolName(byte protocol) => protocol switch
    {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmpv6",
        _ => protocol.ToString(CultureInfo.InvariantCulture),
    };

    private sealed record Snapshot(FrozenDictionary<string, long> Counts, DateTimeOffset? At);
}

/// <summary>Runs <see cref="UnclosedConnections.CountAsync"/> every <see cref="ConntrackOptions.CheckInterval"/> once the store is open.</summary>
public sealed class UnclosedConnectionMonitor(
    IFlowReader store, UnclosedConnections counts, Readiness readiness, IOptions<ConntrackOptions> options, ILogger<UnclosedConnectionMonitor> logger) : BackgroundService
{
    private readonly TimeProvider clock = TimeProvider.System;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.CheckInterval == TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(settings.CheckInterval, clock);
        do
        {
            if (!readiness.StoreReady)
            {
                continue;
            }

            try
            {
                var now = clock.GetUtcNow();
                var found = await UnclosedConnections.CountAsync(store, settings, now, stoppingToken);
                var before = counts.Total;
                counts.Set(found, now);
                if (counts.Total > before)
                {
                    logger.LogWarning(
                        "{Count} connections opened in the last {Lookback} are still open past their protocol's conntrack timeout ({Protocols}): their end was probably lost at the source " +
                        "(ulogd2 drops events under bursts; see README, \"Losing conntrack events\")",
                        counts.Total, settings.Lookback, string.Join(", ", found.Select(kv => $"{kv.Key} {kv.Value}")));
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning("Could not count the connections open past their timeout: {Reason}", ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
