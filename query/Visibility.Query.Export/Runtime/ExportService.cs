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
/// Runs one <see cref="ExportWorker"/> per enabled sink: the configured ones and those created through the API
/// (kept in the store). Sinks can be added and removed while running. Stops before the store closes, giving
/// in-flight records a short grace to be confirmed and checkpointed.
/// </summary>
public sealed class ExportService(
    IOptions<ExportOptions> options,
    IIngestLink ingest,
    ExportRecordSource source,
    ExportStateStore state,
    IOptions<StoreOptions> store,
    ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger logger = loggers.CreateLogger<ExportService>();
    private readonly Dictionary<string, Running> running = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Origin, ExportSinkDefinition Definition)> sinks = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly ExportIdentity identity = ExportIdentity.Default;
    private CancellationToken stopping;

    /// <summary>Where sinks may send (checked by the API before a sink is saved or tested, and again when one is made).</summary>
    public ExportDestinations Destinations { get; } = options.Value.Destinations(store.Value.Path, ingest.Topics);

    private sealed record Running(ExportWorker Worker, IExportSink Sink, CancellationTokenSource Stop, Task Task);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        stopping = stoppingToken;
        if (!options.Value.Enabled)
        {
            logger.LogInformation("Export: disabled (Visibility:Export:Enabled=false)");
            return;
        }

        IReadOnlyDictionary<string, ExportSinkDefinition> stored;
        try
        {
            stored = await state.ListSinksAsync(stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError("Export: cannot read the sinks created through the API ({Error}); only configured sinks run", ex.Message);
            stored = new Dictionary<string, ExportSinkDefinition>();
        }

        await gate.WaitAsync(stoppingToken);
        try
        {
            foreach (var (name, definition) in options.Value.Sinks)
            {
                sinks[name] = ("config", definition);
            }

            foreach (var (name, definition) in stored.Where(s => !sinks.ContainsKey(s.Key)))
            {
                sinks[name] = ("api", definition);
            }

            foreach (var (name, (_, definition)) in sinks)
            {
                await StartAsync(name, definition);
            }
        }
        finally
        {
            gate.Release();
        }

        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }

        await gate.WaitAsync(CancellationToken.None);
        try
        {
            await Task.WhenAll(running.Keys.ToList().Select(StopAsync));
        }
        finally
        {
            gate.Release();
        }
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
            lock (sinks)
            {
                if (sinks.ContainsKey(name))
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

            if (options.Value.Enabled)
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
            settings = definition.ToStream(name);
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
            ingestedUntil: ingest.StoredUntil);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(stopping);
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
