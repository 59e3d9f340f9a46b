using System.Diagnostics;
using System.Globalization;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Benchmarks.EndToEnd;

/// <summary>
/// What a user would do instead of running Visibility: ClickHouse's own Kafka table engine (inside chDB, on the
/// harness's engine, database <c>e2e_kafka_engine</c>) reading the raw ulogd2 JSON with JSONEachRow, and a
/// materialized view into a MergeTree table. No enrichment: the columns are the record's own fields. Settings as
/// described in BENCHMARKS.md, "End to end" (flush and poll every 100 ms, blocks of 16,384, one thread per consumer), malformed
/// messages kept as rows with <c>_error</c> set (<c>kafka_handle_error_mode='stream'</c>).
/// One view writes both kinds of rows: with a second view for errors, messages consumed before the second
/// view exists would be lost to it.
/// </summary>
internal static class KafkaEnginePhase
{
    public const string Database = "e2e_kafka_engine";

    public static async Task<PhaseResult> RunAsync(HarnessContext context, int round)
    {
        var mix = context.Mix;
        var total = context.PartitionMessages.Sum();
        var control = context.Control;
        var queue = $"{Database}.queue_r{round}";
        var flows = $"{Database}.flows_r{round}";
        var view = $"{Database}.flows_mv_r{round}";
        var group = "e2e-kafka-engine-" + Guid.NewGuid().ToString("N")[..8];
        await control.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {Database}");
        await control.ExecuteAsync(
            $"""
            CREATE TABLE {flows}
            (
                ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
                end_ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
                ct_id UInt32,
                event UInt8,
                proto UInt8,
                src_ip IPv6,
                src_port UInt16,
                dst_ip IPv6,
                dst_port UInt16,
                bytes_out UInt64,
                packets_out UInt64,
                bytes_in UInt64,
                packets_in UInt64,
                nat_src_ip IPv6,
                nat_dst_ip IPv6,
                kafka_partition Int32,
                kafka_offset Int64,
                error String,
                raw_message String
            )
            ENGINE = MergeTree
            PARTITION BY toDate(ts)
            ORDER BY (proto, dst_port, ts)
            """);
        await control.ExecuteAsync(
            $"""
            CREATE TABLE {queue}
            (
                `orig.ip.protocol` UInt8,
                `orig.l4.sport` UInt16,
                `orig.l4.dport` UInt16,
                `orig.raw.pktlen` UInt64,
                `orig.raw.pktcount` UInt64,
                `reply.raw.pktlen` UInt64,
                `reply.raw.pktcount` UInt64,
                `ct.id` UInt32,
                `ct.event` UInt8,
                `flow.start.sec` UInt32,
                `flow.start.usec` UInt32,
                `flow.end.sec` UInt32,
                `flow.end.usec` UInt32,
                src_ip IPv6,
                dest_ip IPv6,
                `reply.ip.saddr.str` IPv6,
                `reply.ip.daddr.str` IPv6
            )
            ENGINE = Kafka
            SETTINGS kafka_broker_list = '{context.Bootstrap}', kafka_topic_list = '{context.Topic}', kafka_group_name = '{group}',
                     kafka_format = 'JSONEachRow', kafka_flush_interval_ms = 100, kafka_poll_timeout_ms = 100,
                     kafka_max_block_size = 16384, kafka_num_consumers = {context.Options.Consumers}, kafka_thread_per_consumer = 1,
                     kafka_handle_error_mode = 'stream'
            """);

        using var monitor = PhaseMonitor.Start();
        var started = Stopwatch.GetTimestamp();
        // Consumption starts once the table has a view to feed.
        await control.ExecuteAsync(
            $"""
            CREATE MATERIALIZED VIEW {view} TO {flows} AS
            SELECT
                fromUnixTimestamp64Milli(toInt64(`flow.start.sec`) * 1000 + intDiv(`flow.start.usec`, 1000), 'UTC') AS ts,
                fromUnixTimestamp64Milli(toInt64(`flow.end.sec`) * 1000 + intDiv(`flow.end.usec`, 1000), 'UTC') AS end_ts,
                `ct.id` AS ct_id,
                `ct.event` AS event,
                `orig.ip.protocol` AS proto,
                src_ip,
                `orig.l4.sport` AS src_port,
                dest_ip AS dst_ip,
                `orig.l4.dport` AS dst_port,
                `orig.raw.pktlen` AS bytes_out,
                `orig.raw.pktcount` AS packets_out,
                `reply.raw.pktlen` AS bytes_in,
                `reply.raw.pktcount` AS packets_in,
                `reply.ip.daddr.str` AS nat_src_ip,
                `reply.ip.saddr.str` AS nat_dst_ip,
                _partition AS kafka_partition,
                _offset AS kafka_offset,
                _error AS error,
                _raw_message AS raw_message
            FROM {queue}
            """);

        long first = 0;
        long done = 0;
        var deadline = started + (long)(context.PhaseTimeout.TotalSeconds * Stopwatch.Frequency);
        long rows = 0;
        long stalledAt = -1;
        var lastProgress = started;
        long longestStall = 0;
        while (true)
        {
            // count() of a MergeTree table is read from part metadata; the consumers' table is asked only until
            // the first message has been read.
            var progress = await Longs(control, first == 0
                ? $"SELECT (SELECT count() FROM {flows}), (SELECT sum(num_messages_read) FROM system.kafka_consumers WHERE database = '{Database}' AND table = 'queue_r{round}')"
                : $"SELECT count() FROM {flows}");
            var now = Stopwatch.GetTimestamp();
            if (progress[0] > rows || first == 0)
            {
                lastProgress = now;
            }
            else
            {
                longestStall = Math.Max(longestStall, now - lastProgress);
            }

            rows = progress[0];
            if (first == 0 && (progress[1] > 0 || rows > 0))
            {
                first = now;
                monitor.MarkActive();
            }

            // The engine delivers at least once: a block read again after a failed commit is stored twice, so
            // completion is every message's (partition, offset) present, not the row count.
            if (rows >= total && (await Longs(control, $"SELECT uniqExact(kafka_partition, kafka_offset) FROM {flows}"))[0] >= total)
            {
                done = now;
                break;
            }

            // On the mock broker the engine's consumers sometimes stop receiving for a minute or more. Rather than
            // fail the whole run, the engine is measured over what it stored until it stopped.
            if (now > deadline || (first != 0 && now - lastProgress > 30 * Stopwatch.Frequency))
            {
                done = lastProgress;
                stalledAt = (await Longs(control, $"SELECT uniqExact(kafka_partition, kafka_offset) FROM {flows}"))[0];
                break;
            }

            await Task.Delay(first == 0 ? 10 : 50);
        }

        var usage = monitor.Stop();
        await DropAsync(control, view, queue);
        var split = await Longs(control,
            $"SELECT uniqExactIf((kafka_partition, kafka_offset), error = ''), uniqExactIf((kafka_partition, kafka_offset), error != ''), count() FROM {flows}");
        if (stalledAt >= 0)
        {
            if (split[0] > mix.Good || split[1] > mix.Bad)
            {
                throw new HarnessFailure($"Kafka engine results are wrong: {split[0]:N0} records stored, {split[1]:N0} errors, more than there are");
            }
        }
        else if (split[0] != mix.Good || split[1] != mix.Bad)
        {
            throw new HarnessFailure(
                $"Kafka engine results are wrong: {split[0]:N0} records stored (expected {mix.Good:N0}), {split[1]:N0} errors (expected {mix.Bad:N0})");
        }

        // When no poll saw a read before the rows were all there, the time runs from the view's creation.
        if (first == 0)
        {
            first = started;
        }

        return new PhaseResult(
            Systems.KafkaEngine, stalledAt >= 0 ? stalledAt : total,
            Stopwatch.GetElapsedTime(first, done).TotalSeconds,
            Stopwatch.GetElapsedTime(started, done).TotalSeconds,
            usage, (stalledAt >= 0 ? $"INCOMPLETE: stopped receiving at {stalledAt:N0} of {total:N0} messages; records/s measured up to then, cores include the 30 s wait; " : "") +
                Notes(split[2] - split[0] - split[1], longestStall))
        {
            Complete = stalledAt < 0,
        };
    }

    private static string Notes(long duplicates, long longestStallTicks)
    {
        var notes = new List<string>();
        if (duplicates > 0)
        {
            notes.Add($"{duplicates:N0} rows stored twice (at-least-once delivery)");
        }

        var stall = longestStallTicks / (double)Stopwatch.Frequency;
        if (stall >= 5)
        {
            // The flush interval is 100 ms: seconds without a new block mean the consumers were not receiving.
            notes.Add($"no new rows for {stall:0} s at once (consumers stalled; see BENCHMARKS.md)");
        }

        return string.Join("; ", notes);
    }

    private static async Task DropAsync(ChdbConnection control, string view, string queue)
    {
        await control.ExecuteAsync($"DROP VIEW IF EXISTS {view} SYNC");
        await control.ExecuteAsync($"DROP TABLE IF EXISTS {queue} SYNC");
    }

    private static async Task<long[]> Longs(ChdbConnection connection, string sql)
    {
        var text = await connection.QueryTextAsync(sql);
        return text.Trim().Split('\t').Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
    }
}
