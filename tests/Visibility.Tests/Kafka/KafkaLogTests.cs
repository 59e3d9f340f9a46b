using System.Collections.Concurrent;
using System.Globalization;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Visibility.Ingest.Decoding;
using Visibility.Ingest.Enrichment;
using Visibility.Ingest.Kafka;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Export.Sinks;
using Visibility.Tests.Export;
using Visibility.Tests.Support;

namespace Visibility.Tests.Kafka;

/// <summary>
/// librdkafka's own log lines reach <see cref="ILogger"/>: the ingest consumer's and the export sink's clients, pointed
/// at a port nobody listens on, log the refused connection under their own category at error level.
/// </summary>
public sealed class KafkaLogTests
{
    [Fact]
    public async Task IngestConsumer_ClosedPort_ConnectionFailureLoggedUnderItsClientCategory()
    {
        var port = FreePorts.Tcp();
        var log = new CapturedLog();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(log).SetMinimumLevel(LogLevel.Debug));
        using var deadLetters = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = $"127.0.0.1:{port}" }).Build();
        var kafka = new KafkaOptions { Topic = "closed", GroupId = "closed" };
        var store = await TestStore.CreateAsync();
        var consumer = new IngestConsumer(store, new Dictionary<string, IFlowDecoder> { ["closed"] = new Ulogd2JsonDecoder() },
            new WorkloadInventory(Options.Create(new InventoryOptions())), new IngestMetrics(), new IngestOptions(), kafka, deadLetters,
            NullLogger.Instance, clientLog: loggers.CreateLogger($"{KafkaLog.Category}.ingest[0]"));
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync($"127.0.0.1:{port}", stop.Token);
        try
        {
            var entry = await log.WaitForAsync(e => e.Message.Contains($"127.0.0.1:{port}", StringComparison.Ordinal) && e.Level == LogLevel.Error);
            Assert.Equal("librdkafka.ingest[0]", entry.Category);
            Assert.Contains("rdkafka#consumer", entry.Message, StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task ExportKafkaSink_ClosedPort_ConnectionFailureLogged()
    {
        var port = FreePorts.Tcp();
        var log = new CapturedLog();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(log).SetMinimumLevel(LogLevel.Debug));
        var config = new ProducerConfig { BootstrapServers = $"127.0.0.1:{port}", ReconnectBackoffMaxMs = 100 };
        await using var sink = new KafkaSink(config, "export-closed", disposeTimeout: TimeSpan.FromMilliseconds(200), clientLog: loggers.CreateLogger("librdkafka.export.s1"));
        await sink.SendAsync(SinkItems.Findings(1), CancellationToken.None);

        var entry = await log.WaitForAsync(e => e.Message.Contains($"127.0.0.1:{port}", StringComparison.Ordinal) && e.Level == LogLevel.Error);
        Assert.Equal("librdkafka.export.s1", entry.Category);
        Assert.Contains("rdkafka#producer", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Levels_SyslogToLogLevel_IngestAndExportAgree()
    {
        var expected = new Dictionary<SyslogLevel, LogLevel>
        {
            [SyslogLevel.Emergency] = LogLevel.Critical,
            [SyslogLevel.Alert] = LogLevel.Critical,
            [SyslogLevel.Critical] = LogLevel.Critical,
            [SyslogLevel.Error] = LogLevel.Error,
            [SyslogLevel.Warning] = LogLevel.Warning,
            [SyslogLevel.Notice] = LogLevel.Information,
            [SyslogLevel.Info] = LogLevel.Information,
            [SyslogLevel.Debug] = LogLevel.Debug,
        };
        Assert.Equal(Enum.GetValues<SyslogLevel>().Order(), expected.Keys.Order());
        foreach (var (syslog, level) in expected)
        {
            Assert.Equal((level, level), (KafkaLog.Level(syslog), KafkaSink.LogLevelOf(syslog)));
        }
    }

    private sealed record Entry(string Category, LogLevel Level, string Message);

    /// <summary>Every log entry of every logger it creates, in order.</summary>
    private sealed class CapturedLog : ILoggerProvider
    {
        private readonly ConcurrentQueue<Entry> entries = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, entries);

        public async Task<Entry> WaitForAsync(Func<Entry, bool> wanted) =>
            (await Eventually.WaitAsync(
                () => Task.FromResult(entries.FirstOrDefault(wanted)), e => e is not null, TimeSpan.FromSeconds(30), "a matching log entry",
                () => string.Join('\n', entries.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Category} {e.Level}: {e.Message}")))))!;

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<Entry> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue(new Entry(category, logLevel, formatter(state, exception)));
        }
    }
}
