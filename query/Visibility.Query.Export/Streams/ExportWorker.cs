using System.Buffers;
using Microsoft.Extensions.Logging;
using Visibility.Query.Export.Sinks;

namespace Visibility.Query.Export.Streams;

/// <summary>Timing of a stream's delivery: batch size, how long to wait for confirmation, backoff while the destination is down.</summary>
public sealed record ExportDelivery
{
    /// <summary>Records formatted and sent at a time; also the most held in memory beyond the interval's list.</summary>
    public int BatchSize { get; init; } = 2_000;

    public TimeSpan ConfirmTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>On stop, how long the records already sent may take to be confirmed (and checkpointed).</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>An empty stretch is checkpointed at least this often (a restart re-reads at most this much).</summary>
    public TimeSpan IdleCheckpoint { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>What a stream is doing, for the status API and /metrics.</summary>
public sealed record ExportStreamStatus(
    string Name,
    string Destination,
    string Content,
    string Format,
    string State,
    DateTimeOffset Position,
    double LagSeconds,
    long Sequence,
    long RecordsSent,
    long RecordsConfirmed,
    long BytesSent,
    long Retries,
    long Dropped,
    int Pending,
    string? LastError,
    DateTimeOffset? LastErrorAt,
    DateTimeOffset? LastConfirmedAt);

/// <summary>
/// Streams one sink: reads each closed interval's records (<see cref="ExportRecordSource"/>: the same records every
/// time), sends them in batches and moves the checkpoint (interval, confirmed index, sequence) only past what the
/// destination confirmed. A restart resumes at the checkpoint: nothing confirmed is sent again, nothing unconfirmed
/// is skipped. While the destination is down the stream retries with exponential backoff and falls behind; it holds
/// at most one interval's records and one batch in memory — the store is the buffer — and catches up when the
/// destination is back, interval after interval without waiting. An interval is read once <c>delay</c> has passed
/// after its end and, when this process also ingests (<paramref name="ingestedUntil"/>), once ingest has stored every
/// record Kafka held by then — so a restart with a backlog does not export intervals before their records are in.
/// With a <paramref name="fence"/> (the store's export lease) it sends a batch only while the fence allows sending and
/// writes a checkpoint only while it allows recording; once closed, it stops where it is (after the stop grace for
/// the batch already handed over), and the next holder resumes from the last checkpoint recorded.
/// </summary>
public sealed class ExportWorker(
    ExportStreamSettings settings,
    IExportSink sink,
    IExportFormat format,
    ExportRecordSource source,
    ExportStateStore state,
    ILogger logger,
    ExportDelivery? delivery = null,
    TimeProvider? clock = null,
    Func<DateTimeOffset?>? ingestedUntil = null,
    IExportFence? fence = null)
{
    private readonly ExportDelivery delivery = delivery ?? new ExportDelivery();
    private readonly TimeProvider clock = clock ?? TimeProvider.System;
    private readonly Lock gate = new();
    private string stateName = "starting";
    private DateTimeOffset position;
    private long sequence;
    private long sent;
    private long confirmed;
    private long bytes;
    private long retries;
    private long dropped;
    private string? lastError;
    private DateTimeOffset? lastErrorAt;
    private DateTimeOffset? lastConfirmedAt;
    private int fenced;

    public ExportStreamSettings Settings => settings;

    public ExportStreamStatus Status()
    {
        lock (gate)
        {
            var lag = position == default ? 0 : Math.Max(0, (clock.GetUtcNow() - (position + settings.Delay)).TotalSeconds);
            return new ExportStreamStatus(
                settings.Name, sink.Destination, settings.Content == ExportContent.Findings ? "findings" : "summaries", settings.Format,
                stateName, position, lag, sequence, sent, confirmed, bytes, retries, dropped, sink.Pending, lastError, lastErrorAt, lastConfirmedAt);
        }
    }

    /// <summary>The first interval's start for a stream without a checkpoint: <c>startAt</c> or now, aligned down to the interval.</summary>
    public static DateTimeOffset Align(DateTimeOffset time, TimeSpan interval) =>
        new(time.UtcTicks - (time.UtcTicks % interval.Ticks), TimeSpan.Zero);

    public async Task RunAsync(CancellationToken stopping)
    {
        var checkpoint = await RetryAsync("read the checkpoint", ct => state.GetCheckpointAsync(settings.Name, ct), stopping);
        if (checkpoint is null)
        {
            checkpoint = new ExportCheckpoint(Align(settings.StartAt ?? clock.GetUtcNow(), settings.Interval), 0, 0);
            await RetryAsync("save the checkpoint", ct => Save(checkpoint, ct), stopping);
        }

        var saved = checkpoint;
        Set("running", checkpoint);
        logger.LogInformation("Export {Sink}: {Content} as {Format} to {Destination}, from {Start:o} (sequence {Sequence})",
            settings.Name, settings.Content, settings.Format, sink.Destination, checkpoint.IntervalStart, checkpoint.Sequence);
        while (!stopping.IsCancellationRequested && !Fenced())
        {
            var start = checkpoint.IntervalStart;
            var end = start + settings.Interval;
            var due = end + settings.Delay;
            var wait = due - clock.GetUtcNow();
            var ingesting = wait <= TimeSpan.Zero && ingestedUntil is not null && !(ingestedUntil() >= due);
            if (ingesting)
            {
                // Due by the clock, but this process's ingest has not yet stored everything Kafka held by then.
                wait = TimeSpan.FromMilliseconds(250);
            }

            if (wait > TimeSpan.Zero)
            {
                SetState(ingesting ? "waiting for ingest" : "waiting");
                try
                {
                    await Task.Delay(wait, clock, stopping);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                continue;
            }

            SetState("running");
            IntervalRecords interval;
            try
            {
                interval = await RetryAsync("read the interval", ct => source.ReadAsync(settings, start, end, ct), stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var records = interval.Records;
            if (interval.Dropped > 0 && checkpoint.Confirmed == 0)
            {
                Interlocked.Add(ref dropped, interval.Dropped);
                logger.LogWarning("Export {Sink}: interval {Start:o} has {Dropped} records beyond the {Max} exported per interval",
                    settings.Name, start, interval.Dropped, ExportRecordSource.MaxPerInterval);
            }

            if (checkpoint.Confirmed > records.Count)
            {
                // The interval lost records since they were confirmed (retention removed them): nothing left to send.
                logger.LogWarning("Export {Sink}: interval {Start:o} now has {Count} records, {Confirmed} were confirmed", settings.Name, start, records.Count, checkpoint.Confirmed);
                checkpoint = checkpoint with { Confirmed = records.Count };
            }

            try
            {
                while (checkpoint.Confirmed < records.Count)
                {
                    stopping.ThrowIfCancellationRequested();
                    if (Fenced())
                    {
                        throw new OperationCanceledException("the export lease is lost");
                    }

                    var count = Math.Min(delivery.BatchSize, records.Count - checkpoint.Confirmed);
                    var next = checkpoint with { Confirmed = checkpoint.Confirmed + count, Sequence = checkpoint.Sequence + count };
                    await DeliverAsync(Items(records, checkpoint.Confirmed, count, checkpoint.Sequence + 1), next, stopping);
                    checkpoint = next;
                    saved = next;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var following = new ExportCheckpoint(end, 0, checkpoint.Sequence);
            if (records.Count > 0 || end - saved.IntervalStart >= delivery.IdleCheckpoint)
            {
                try
                {
                    await RetryAsync("save the checkpoint", ct => Save(following, ct), stopping);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                saved = following;
            }

            checkpoint = following;
            Set("running", checkpoint);
        }

        SetState("stopped");
        logger.LogInformation("Export {Sink}: stopped at {Start:o} (sequence {Sequence})", settings.Name, checkpoint.IntervalStart, checkpoint.Sequence);
    }

    /// <summary>Sends one batch and waits until the destination confirmed it, then checkpoints; retries with backoff meanwhile.</summary>
    private async Task DeliverAsync(List<ExportItem> items, ExportCheckpoint after, CancellationToken stopping)
    {
        var given = false;
        var attempt = 0;
        try
        {
            while (true)
            {
                if (given && Fenced())
                {
                    // A retry would send the unconfirmed records again, from a process that may no longer.
                    throw new OperationCanceledException("the export lease is lost");
                }

                try
                {
                    var batch = given ? [] : items;
                    given = true;
                    await sink.SendAsync(batch, stopping);
                    if (batch.Count > 0)
                    {
                        Interlocked.Add(ref sent, batch.Count);
                        Interlocked.Add(ref bytes, batch.Sum(i => (long)i.Body.Length));
                    }

                    if (await sink.WaitConfirmedAsync(delivery.ConfirmTimeout, stopping))
                    {
                        break;
                    }

                    throw new TimeoutException($"{sink.Destination} did not confirm {sink.Pending} records within {delivery.ConfirmTimeout.TotalSeconds:0.#} s");
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
                {
                    await BackoffAsync(ex, ++attempt, stopping);
                }
            }
        }
        catch (OperationCanceledException) when (given)
        {
            // Stopping: what was handed over gets a short grace to be confirmed, so a clean restart repeats nothing.
            if (await GraceAsync())
            {
                await Confirmed(items.Count, after, stopping);
            }

            throw;
        }

        await Confirmed(items.Count, after, stopping);
    }

    private async Task<bool> GraceAsync()
    {
        try
        {
            using var grace = new CancellationTokenSource(delivery.StopGrace);
            return await sink.WaitConfirmedAsync(delivery.StopGrace, grace.Token);
        }
        catch (Exception ex)
        {
            logger.LogWarning("Export {Sink}: {Pending} records not confirmed at stop ({Error}); they are sent again after the restart",
                settings.Name, sink.Pending, ex.Message);
            return false;
        }
    }

    /// <summary>Counts a confirmed batch and checkpoints past it; when stopping, the save still gets the stop grace.</summary>
    private async Task Confirmed(int count, ExportCheckpoint after, CancellationToken stopping)
    {
        Interlocked.Add(ref confirmed, count);
        lock (gate)
        {
            lastConfirmedAt = clock.GetUtcNow();
            sequence = after.Sequence;
        }

        using var grace = new CancellationTokenSource();
        using var graceOnStop = stopping.Register(() => grace.CancelAfter(delivery.StopGrace));
        await RetryAsync("save the checkpoint", ct => Save(after, ct), grace.Token);
    }

    private List<ExportItem> Items(IReadOnlyList<ExportRecord> records, int from, int count, long firstSequence)
    {
        var items = new List<ExportItem>(count);
        for (var i = 0; i < count; i++)
        {
            var record = records[from + i];
            var body = new ArrayBufferWriter<byte>(512);
            record.WriteTo(body, format);
            items.Add(new ExportItem(firstSequence + i, record.EventId, record.Time, record.Severity, record.Kind, body.WrittenMemory));
        }

        return items;
    }

    private async Task<T> RetryAsync<T>(string what, Func<CancellationToken, Task<T>> action, CancellationToken stopping)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await action(stopping);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                await BackoffAsync(new InvalidOperationException($"cannot {what}: {ex.Message}", ex), attempt, stopping);
            }
        }
    }

    private Task<bool> RetryAsync(string what, Func<CancellationToken, Task> action, CancellationToken stopping) =>
        RetryAsync(what, async ct =>
        {
            await action(ct);
            return true;
        }, stopping);

    private async Task BackoffAsync(Exception error, int attempt, CancellationToken stopping)
    {
        Interlocked.Increment(ref retries);
        var delay = TimeSpan.FromTicks(Math.Min(delivery.MaxBackoff.Ticks, delivery.MinBackoff.Ticks << Math.Min(attempt - 1, 20)));
        lock (gate)
        {
            stateName = "retrying";
            lastError = error.Message;
            lastErrorAt = clock.GetUtcNow();
        }

        if (attempt == 1 || attempt % 10 == 0)
        {
            logger.LogWarning("Export {Sink}: {Error} (attempt {Attempt}; next in {Delay:0.#} s)", settings.Name, error.Message, attempt, delay.TotalSeconds);
        }

        await Task.Delay(delay, clock, stopping);
    }

    private Task Save(ExportCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        if (fence is { MayRecord: false })
        {
            // The lease ran out: another process may already have read the checkpoint and be sending; it owns it now.
            logger.LogWarning("Export {Sink}: the export lease ran out; checkpoint {Start:o} +{Confirmed} (sequence {Sequence}) not recorded, the next holder sends from the last one recorded",
                settings.Name, checkpoint.IntervalStart, checkpoint.Confirmed, checkpoint.Sequence);
            Fenced();
            return Task.CompletedTask;
        }

        return state.SaveCheckpointAsync(settings.Name, checkpoint, cancellationToken);
    }

    /// <summary>Whether the fence is closed to sending (logged once).</summary>
    private bool Fenced()
    {
        if (fence is null || fence.MaySend)
        {
            return false;
        }

        if (Interlocked.Exchange(ref fenced, 1) == 0)
        {
            SetState("stopped");
            logger.LogWarning("Export {Sink}: this process no longer holds the export lease; stopped sending", settings.Name);
        }

        return true;
    }

    private void Set(string name, ExportCheckpoint checkpoint)
    {
        lock (gate)
        {
            stateName = name;
            position = checkpoint.IntervalStart;
            sequence = checkpoint.Sequence;
        }
    }

    private void SetState(string name)
    {
        lock (gate)
        {
            stateName = name;
        }
    }
}
