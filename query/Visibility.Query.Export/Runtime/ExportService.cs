using System.Buffers;
using System.Diagnostics;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Store;
using Visibility.Query.Export;
using Visibility.Query.Export.Sinks;
using Visibility.Query.Export.Streams;
using Visibility.Query.Export.Syslog;
using Visibility.Query.Findings;

namespace Visibility.Query.Export.Runtime;

/// <summary>A sink as the API shows it: its name, where it came from, its definition and its stream's status.</summary>
public sealed record ExportSinkView(string Name, string Origin, ExportSinkDefinition Definition, ExportStreamStatus? Status);

/// <summary>What a test send did.</summary>
public sealed record ExportTestResult(bool Delivered, string Destination, double Milliseconds, string? Error);

/// <summary>
/// Runs one <see cref="ExportWorker"/> per enabled sink — the configured ones and those created through the API (kept
/// in the store, re-read every <see cref="ExportLease.RenewEvery"/>, so a sink created through another process runs
/// here too) — while this process holds the store's export lease: processes sharing a store (API replicas) export
/// once between them. The others keep trying and take over when the holder stops (it releases the lease) or dies
/// (its lease runs out); the streams then start from the checkpoints. On losing the lease the streams stop at once.
/// Stops before the store closes, giving in-flight records a short grace to be confirmed and checkpointed, then
/// releases the lease.
/// </summary>
public sealed class ExportService(
    IOptions<ExportOptions> options,
    IIngestLink ingest,
    ExportRecordSource source,
    ExportStateStore state,
    IOptions<StoreOptions> store,
    ExportLease lease,
    ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger logger = loggers.CreateLogger<ExportService>();
    private readonly Dictionary<string, Running> running = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Origin, ExportSinkDefinition Definition)> sinks = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly ExportIdentity identity = ExportIdentity.Default;
    private readonly HashSet<string> notStarted = new(StringComparer.Ordinal);
    private CancellationToken stopping;
    private DateTimeOffset startedAt;
    private CancellationTokenSource? tenure;
    private bool leading;
    private string? follower;

    /// <summary>Where sinks may send (checked by the API before a sink is saved or tested, and again when one is made).</summary>
    public ExportDestinations Destinations { get; } = options.Value.Destinations(store.Value.Path, ingest.Topics);

    private sealed record Running(ExportWorker Worker, IExportSink Sink, CancellationTokenSource Stop, Task Task);

    /// <summary>Whether this process holds the export lease and streams (the <c>visibility_export_lease_held</c> gauge).</summary>
    public bool LeaseHeld => leading && lease.MaySend;

    /// <summary>Who held the export lease at the last renewal: this process or another; null when nobody did or it was not read yet.</summary>
    public string? LeaseHolder => lease.LastHolder;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        stopping = stoppingToken;
        startedAt = DateTimeOffset.UtcNow;
        if (!options.Value.Enabled)
        {
            logger.LogInformation("Export: disabled (Visibility:Export:Enabled=false)");
            return;
        }

        lock (sinks)
        {
            foreach (var (name, definition) in options.Value.Sinks)
            {
                sinks[name] = ("config", definition);
            }
        }

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await RenewAsync(stoppingToken);
                var wake = tenure is { } t && leading ? t.Token : CancellationToken.None;
                using var either = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, wake);
                try
                {
                    await Task.Delay(lease.RenewEvery, either.Token);
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    // The lease's sending time ran out before a renewal: renew (or give up the streams) now.
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await gate.WaitAsync(CancellationToken.None);
        try
        {
            await Task.WhenAll(running.Keys.ToList().Select(StopAsync));
            leading = false;
        }
        finally
        {
            gate.Release();
        }

        try
        {
            // Every stream has stopped and checkpointed: the next holder may start at once.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await lease.ReleaseAsync(timeout.Token);
        }
        catch (Exception ex)
        {
            logger.LogWarning("Export: could not release the export lease ({Error}); another process takes over when it runs out", ex.Message);
        }
    }

    /// <summary>One renewal: takes, keeps or loses the lease; starts or stops the streams; runs the sinks the store lists.</summary>
    private async Task RenewAsync(CancellationToken stoppingToken)
    {
        LeaseState? seen = null;
        try
        {
            seen = await lease.RenewAsync(stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning("Export: cannot renew the export lease ({Error}); {Left:0.#} s left", ex.Message, lease.Left.TotalSeconds);
        }

        await gate.WaitAsync(stoppingToken);
        try
        {
            // Read under the gate: a sink created or deleted here meanwhile is in the list as it is now.
            IReadOnlyDictionary<string, ExportSinkDefinition>? stored = null;
            try
            {
                stored = await state.ListSinksAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Export: cannot read the sinks created through the API ({Error})", ex.Message);
            }

            var holds = lease.MaySend;
            if (leading && (!holds || tenure!.IsCancellationRequested))
            {
                if (holds)
                {
                    logger.LogWarning("Export: the export lease was renewed late (streams stopped {Margin:0.#} s before it would run out); restarting them from their checkpoints", lease.Margin.TotalSeconds);
                }
                else
                {
                    logger.LogWarning("Export: this process lost the export lease ({Holder}); stopped sending", seen?.Holder is { } other ? "now held by " + other : "not renewed in time");
                }

                await Task.WhenAll(running.Keys.ToList().Select(StopAsync));
                leading = false;
            }

            if (holds && !leading)
            {
                logger.LogInformation("Export: this process ({Holder}) holds the export lease (term {Term}); streaming to the sinks from their checkpoints", lease.Holder, seen?.Term);
                tenure?.Dispose();
                tenure = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                notStarted.Clear();
                leading = true;
            }
            else if (!holds && seen is not null && seen.Holder != follower)
            {
                logger.LogInformation("Export: the export lease is held by {Holder}; this process streams when it is free", seen.Holder ?? "nobody");
            }

            follower = holds ? null : seen?.Holder;
            if (holds)
            {
                // The streams stop the moment sending is no longer safe, whether or not a renewal comes.
                var left = lease.Left - lease.Margin;
                tenure!.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }

            if (stored is not null)
            {
                await SyncSinksAsync(stored);
            }

            if (leading)
            {
                List<(string Name, ExportSinkDefinition Definition)> idle;
                lock (sinks)
                {
                    idle = [.. sinks.Where(s => !running.ContainsKey(s.Key) && !notStarted.Contains(s.Key)).Select(s => (s.Key, s.Value.Definition))];
                }

                foreach (var (name, definition) in idle)
                {
                    await StartAsync(name, definition);
                }
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Adds the sinks the store lists (created through any process) and drops those deleted; the holder runs them.</summary>
    private async Task SyncSinksAsync(IReadOnlyDictionary<string, ExportSinkDefinition> stored)
    {
        List<string> gone;
        lock (sinks)
        {
            foreach (var (name, definition) in stored.Where(s => !sinks.ContainsKey(s.Key)))
            {
                sinks[name] = ("api", definition);
            }

            gone = [.. sinks.Where(s => s.Value.Origin == "api" && !stored.ContainsKey(s.Key)).Select(s => s.Key)];
            foreach (var name in gone)
            {
                sinks.Remove(name);
            }
        }

        await Task.WhenAll(gone.Select(StopAsync));
    }

    public IReadOnlyList<ExportSinkView> List()
    {
        lock (sinks)
        {
            return [.. sinks.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => View(s.Key, s.Value.Origin, s.Value.Definition))];
        }
    }

    public ExportSinkView? Get(string name)
    {
        lock (sinks)
        {
            return sinks.TryGetValue(name, out var sink) ? View(name, sink.Origin, sink.Definition) : null;
        }
    }

    /// <summary>Creates (and starts) a sink; null when one of that name exists.</summary>
    public async Task<ExportSinkView?> CreateAsync(string name, ExportSinkDefinition definition, CancellationToken cancellationToken)
    {
        var settings = definition.ToStream(name);
        await gate.WaitAsync(cancellationToken);
        try
        {
            // Another process sharing the store may have created it since this one last read the store's sinks.
            var stored = await state.ListSinksAsync(cancellationToken);
            lock (sinks)
            {
                if (sinks.ContainsKey(name) || stored.ContainsKey(name))
                {
                    return null;
                }
            }

            // A new sink starts at startAt or now, also when a deleted one of the same name had a checkpoint.
            await state.SaveCheckpointAsync(name, new ExportCheckpoint(ExportWorker.Align(settings.StartAt ?? DateTimeOffset.UtcNow, settings.Interval), 0, 0), cancellationToken);
            await state.SaveSinkAsync(name, definition, cancellationToken);
            lock (sinks)
            {
                sinks[name] = ("api", definition);
            }

            if (options.Value.Enabled && leading)
            {
                await StartAsync(name, definition);
            }

            return Get(name);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Stops and deletes a sink created through the API. Null when there is none; false for a configured one.</summary>
    public async Task<bool?> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            (string Origin, ExportSinkDefinition Definition) sink;
            lock (sinks)
            {
                if (!sinks.TryGetValue(name, out sink))
                {
                    return null;
                }
            }

            if (sink.Origin != "api")
            {
                return false;
            }

            await StopAsync(name);
            await state.DeleteSinkAsync(name, cancellationToken);
            lock (sinks)
            {
                sinks.Remove(name);
            }

            return true;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Sends one test record (a <c>test</c> finding) through a fresh sink of this definition and waits for its confirmation.</summary>
    public async Task<ExportTestResult> TestAsync(ExportSinkDefinition definition, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        IExportSink? sink = null;
        var destination = definition.Type;
        try
        {
            sink = await CreateSinkAsync("test", definition, cancellationToken);
            destination = sink.Destination;
            var now = DateTimeOffset.UtcNow;
            var id = "test-" + Guid.NewGuid().ToString("N");
            var end = new FindingEnd("visibility-test", "workload", new Dictionary<string, string> { ["app"] = "visibility", ["env"] = "test" });
            var finding = new FindingEvent(id, now, new Finding("test", "low", end, end, "tcp/0", 0, 0, now, now));
            var body = new ArrayBufferWriter<byte>(1024);
            Format(definition.Format).Write(body, finding);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(15));
            await sink.SendAsync([new ExportItem(0, id, now, "low", "finding", body.WrittenMemory)], timeout.Token);
            var delivered = await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(5), timeout.Token);
            return new ExportTestResult(delivered, destination, started.Elapsed.TotalMilliseconds,
                delivered ? null : $"{destination} did not confirm the test record within 5 s");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new ExportTestResult(false, destination, started.Elapsed.TotalMilliseconds, ex.Message);
        }
        finally
        {
            if (sink is not null)
            {
                await sink.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Whether a file sink definition names the file of a sink that exists, or one of its rotated files (<c>.1</c> …),
    /// or would rotate onto one: two writers on one file would cut or rotate away each other's confirmed lines.
    /// </summary>
    public bool FileInUse(ExportSinkDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.Type != "file" || !Destinations.Files.TryResolve(definition.Path, out var path, out _))
        {
            return false;
        }

        lock (sinks)
        {
            return sinks.Values.Any(s => s.Definition.Type == "file"
                && Destinations.Files.TryResolve(s.Definition.Path, out var other, out _)
                && (path == other || IsRotationOf(path, other) || IsRotationOf(other, path)));
        }

        static bool IsRotationOf(string candidate, string file) =>
            candidate.Length > file.Length + 1 && candidate.StartsWith(file + ".", StringComparison.Ordinal) && candidate[(file.Length + 1)..].All(char.IsAsciiDigit);
    }

    /// <summary>Every sink's status (the /metrics series).</summary>
    public IReadOnlyList<ExportStreamStatus> Statuses()
    {
        lock (sinks)
        {
            return [.. running.Values.Select(r => r.Worker.Status()).OrderBy(s => s.Name, StringComparer.Ordinal)];
        }
    }

    private ExportSinkView View(string name, string origin, ExportSinkDefinition definition) =>
        new(name, origin, definition, running.TryGetValue(name, out var r) ? r.Worker.Status() : null);

    private IExportFormat Format(string name) => ExportFormats.All(identity).First(f => f.Name == name);

    private async Task StartAsync(string name, ExportSinkDefinition definition)
    {
        // Until the next tenure: a sink that does not start is not tried again at every renewal.
        notStarted.Add(name);
        if (!definition.Enabled)
        {
            logger.LogInformation("Export {Sink}: disabled", name);
            return;
        }

        // Sinks saved through the API before the destination rules existed meet them here: their file and CA paths
        // (the allow-list of network destinations binds their creators, which a saved sink does not record).
        if (Destinations.Check(definition, trusted: true) is { Count: > 0 } refused)
        {
            logger.LogError("Export {Sink}: not started: {Error}", name, string.Join("; ", refused));
            return;
        }

        ExportStreamSettings settings;
        IExportSink sink;
        try
        {
            // A configured sink without a checkpoint starts from when this service started, not from when its stream
            // first runs: that may be seconds later (the export lease), after records it should carry arrived.
            settings = definition.ToStream(name);
            settings = settings with { StartAt = settings.StartAt ?? startedAt };
            sink = await CreateSinkAsync(name, definition, stopping);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError("Export {Sink}: not started: {Error}", name, ex.Message);
            return;
        }

        var delivery = new ExportDelivery
        {
            BatchSize = options.Value.BatchSize,
            ConfirmTimeout = options.Value.ConfirmTimeout,
            MaxBackoff = options.Value.MaxBackoff,
        };
        var worker = new ExportWorker(settings, sink, Format(definition.Format), source, state, loggers.CreateLogger<ExportWorker>(), delivery,
            ingestedUntil: ingest.StoredUntil, fence: lease);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(tenure?.Token ?? stopping);
        var task = Task.Run(async () =>
        {
            try
            {
                await worker.RunAsync(stop.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogError(ex, "Export {Sink}: stopped by an error", name);
            }
        });
        lock (sinks)
        {
            running[name] = new Running(worker, sink, stop, task);
        }

        notStarted.Remove(name);
    }

    private async Task StopAsync(string name)
    {
        Running? r;
        lock (sinks)
        {
            if (!running.Remove(name, out r))
            {
                return;
            }
        }

        await r.Stop.CancelAsync();
        await r.Task;
        await r.Sink.DisposeAsync();
        r.Stop.Dispose();
    }

    /// <summary>A sink of <paramref name="definition"/>; <paramref name="name"/> names its log category (a Kafka client's).</summary>
    private async Task<IExportSink> CreateSinkAsync(string name, ExportSinkDefinition definition, CancellationToken cancellationToken)
    {
        switch (definition.Type)
        {
            case "syslog":
                var host = string.IsNullOrEmpty(options.Value.HostName) ? Environment.MachineName : options.Value.HostName;
                return new SyslogSink(definition.ToSyslogTarget() with { CaFile = Destinations.CaFile(definition) }, new SyslogMessage(definition.Facility, host, definition.AppName));
            case "file":
                return new FileSink(new FileSinkOptions(definition.Path) { Within = Destinations.Files, MaxBytes = definition.MaxBytes, MaxFiles = definition.MaxFiles });
            case "kafka":
                var config = string.IsNullOrEmpty(definition.BootstrapServers)
                    ? await ingest.BrokersAsync(cancellationToken)
                    : new ProducerConfig { BootstrapServers = definition.BootstrapServers };
                return new KafkaSink(config, definition.Topic, clientLog: loggers.CreateLogger($"librdkafka.export.{name}"));
            default:
                throw new ArgumentException($"type '{definition.Type}' is not one of {string.Join(", ", ExportSinkDefinition.Types)}");
        }
    }
}
