using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Visibility.Query.Export.Sinks;

/// <summary>
/// Records as messages on a Kafka topic: key the item's event id (UTF-8), value its body, headers
/// <c>visibility-sequence</c> (decimal ASCII) and <c>visibility-kind</c>. Confirmation is the delivery report:
/// the brokers acknowledged the message with <c>acks=all</c>.
/// <para>
/// Guarantee: once, unless a delivery times out. By default messages never time out
/// (<c>message.timeout.ms=0</c>): the sink waits out a broker outage. Otherwise: at least once. The producer is idempotent, so librdkafka's own retries (a broker
/// down and back, a lost connection) neither duplicate nor reorder messages within a partition. A message whose
/// delivery fails for good (its <c>message.timeout.ms</c> passed, the topic is missing, …) is kept and produced
/// again, in sequence order, at the start of the next <see cref="SendAsync"/>: it then lands after messages produced
/// after it, so consumers order by the <c>visibility-sequence</c> header, not by offset. If such a message had in fact
/// reached the brokers (librdkafka reports <see cref="PersistenceStatus.PossiblyPersisted"/>: sent, never
/// acknowledged), the resend duplicates it, with the same key and sequence; that case is counted in
/// <see cref="PossiblyDuplicated"/>. A fatal producer error (the idempotence state is lost) makes every later send
/// throw it: the owner disposes the sink and starts a new one from its last checkpoint.
/// </para>
/// </summary>
public sealed class KafkaSink : IExportSink
{
    public const string SequenceHeader = "visibility-sequence";
    public const string KindHeader = "visibility-kind";

    private readonly IProducer<byte[], byte[]> producer;
    private readonly string topic;
    private readonly TimeSpan disposeTimeout;
    private readonly Dictionary<string, byte[]> kinds = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    // Items not yet handed to the producer (what follows a failed Produce call), in order.
    private readonly Queue<ExportItem> unsent = new();

    // Items whose delivery failed, to produce again first; guarded by `gate` (delivery reports run on the producer's thread).
    private readonly List<ExportItem> failed = [];
    private int inFlight;
    private Error? fatal;

    /// <summary>
    /// A sink producing to <paramref name="topic"/>. <paramref name="config"/> carries the bootstrap servers and any
    /// TLS/SASL settings; it is copied, and the copy gets <c>enable.idempotence=true</c> and <c>acks=all</c>, and, unless
    /// set, <c>linger.ms=10</c>, <c>compression.type=lz4</c> and <c>message.timeout.ms=0</c> (retry without end). The producer connects when the first record is sent.
    /// librdkafka's own log lines go to <paramref name="clientLog"/> when given (see <see cref="LogLevelOf"/>).
    /// </summary>
    public KafkaSink(ProducerConfig config, string topic, TimeSpan? disposeTimeout = null, ILogger? clientLog = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        if (string.IsNullOrWhiteSpace(config.BootstrapServers))
        {
            throw new ArgumentException("The Kafka export sink needs bootstrap servers (ProducerConfig.BootstrapServers).", nameof(config));
        }

        var settings = new ProducerConfig(config.ToDictionary(p => p.Key, p => p.Value))
        {
            EnableIdempotence = true,
            Acks = Acks.All,
        };
        settings.LingerMs ??= 10;

        // Unless told otherwise, never give a message up: librdkafka's idempotent retries then carry it across any
        // outage without duplicates, where a resend after a timeout could duplicate it.
        settings.MessageTimeoutMs ??= 0;
        settings.CompressionType ??= CompressionType.Lz4;
        this.topic = topic;
        this.disposeTimeout = disposeTimeout ?? TimeSpan.FromSeconds(10);
        Destination = $"kafka://{WithoutCredentials(config.BootstrapServers)}/{topic}";
        var builder = new ProducerBuilder<byte[], byte[]>(settings).SetErrorHandler((_, error) => OnError(error));
        if (clientLog is not null)
        {
            builder.SetLogHandler((_, message) =>
            {
                var level = LogLevelOf(message.Level);
                if (clientLog.IsEnabled(level))
                {
                    clientLog.Log(level, "{Client} {Facility}: {Message}", message.Name, message.Facility, message.Message);
                }
            });
        }

        producer = builder.Build();
    }

    /// <summary>
    /// The <see cref="LogLevel"/> of a librdkafka (syslog) level, as ingest's clients map it (Visibility.Ingest's
    /// KafkaLog, which export may not reference): emergency to critical are critical, notice and info information.
    /// </summary>
    public static LogLevel LogLevelOf(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
        SyslogLevel.Error => LogLevel.Error,
        SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
        _ => LogLevel.Debug,
    };

    public string Destination { get; }

    public int Pending
    {
        get
        {
            lock (gate)
            {
                return unsent.Count + failed.Count + inFlight;
            }
        }
    }

    /// <summary>Messages the brokers acknowledged.</summary>
    public long Confirmed { get; private set; }

    /// <summary>Delivery reports with an error (each such message is produced again).</summary>
    public long DeliveryErrors { get; private set; }

    /// <summary>Failed messages that may have reached the brokers anyway, so their resend may be a duplicate.</summary>
    public long PossiblyDuplicated { get; private set; }

    /// <summary>The last delivery or producer error, for status pages.</summary>
    public Error? LastError { get; private set; }

    public async Task SendAsync(IReadOnlyList<ExportItem> items, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        Error? fatalError;
        lock (gate)
        {
            fatalError = fatal;
            foreach (var item in items)
            {
                unsent.Enqueue(item);
            }

            if (failed.Count > 0)
            {
                // Failed messages go again first, in sequence order (reports from different partitions interleave).
                failed.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
                var rest = unsent.ToArray();
                unsent.Clear();
                failed.ForEach(unsent.Enqueue);
                Array.ForEach(rest, unsent.Enqueue);
                failed.Clear();
            }
        }

        if (fatalError is not null)
        {
            throw new IOException($"Kafka {Destination}: the producer failed fatally ({fatalError.Code}: {fatalError.Reason}); " +
                $"{Pending} record(s) are not confirmed. Dispose this sink and start a new one from the last checkpoint.", new KafkaException(fatalError));
        }

        while (true)
        {
            ExportItem item;
            lock (gate)
            {
                if (!unsent.TryPeek(out item))
                {
                    return;
                }
            }

            var message = new Message<byte[], byte[]>
            {
                Key = Encoding.UTF8.GetBytes(item.EventId),
                Value = item.Body.ToArray(),
                Headers = new Headers
                {
                    { SequenceHeader, Encoding.ASCII.GetBytes(item.Sequence.ToString(CultureInfo.InvariantCulture)) },
                    { KindHeader, KindBytes(item.Kind) },
                },
            };
            try
            {
                lock (gate)
                {
                    inFlight++;
                    unsent.Dequeue();
                }

                producer.Produce(topic, message, report => OnDelivery(item, report));
            }
            catch (ProduceException<byte[], byte[]> e)
            {
                lock (gate)
                {
                    inFlight--;
                    var rest = unsent.ToArray();
                    unsent.Clear();
                    unsent.Enqueue(item);
                    Array.ForEach(rest, unsent.Enqueue);
                }

                if (e.Error.Code != ErrorCode.Local_QueueFull)
                {
                    LastError = e.Error;
                    throw new IOException($"Kafka {Destination}: producing failed ({e.Error.Code}: {e.Error.Reason}); " +
                        $"{Pending} record(s) are not confirmed and stay with the sink.", e);
                }

                // librdkafka's queue is full: wait for delivery reports to make room.
                await Task.Delay(1, cancellationToken);
            }
        }
    }

    public async Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            int waiting;
            lock (gate)
            {
                if (unsent.Count > 0 || failed.Count > 0 || fatal is not null)
                {
                    // Only a send hands these to the producer again.
                    return false;
                }

                waiting = inFlight;
            }

            if (waiting == 0)
            {
                return true;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            // Delivery reports arrive on the producer's own thread; blocking in Flush here would hold a pool thread.
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5, left.TotalMilliseconds)), cancellationToken);
        }
    }

    /// <summary>Waits (up to the dispose timeout given to the constructor) for what is in flight, then closes the producer.</summary>
    public async ValueTask DisposeAsync()
    {
        await WaitConfirmedAsync(disposeTimeout, CancellationToken.None);
        producer.Dispose();
    }

    /// <summary>The bootstrap list without any <c>user:password@</c> part.</summary>
    internal static string WithoutCredentials(string bootstrapServers) =>
        string.Join(',', bootstrapServers.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(server => server[(server.LastIndexOf('@') + 1)..]));

    private byte[] KindBytes(string kind)
    {
        if (!kinds.TryGetValue(kind, out var bytes))
        {
            kinds[kind] = bytes = Encoding.UTF8.GetBytes(kind);
        }

        return bytes;
    }

    private void OnDelivery(ExportItem item, DeliveryReport<byte[], byte[]> report)
    {
        lock (gate)
        {
            inFlight--;
            if (!report.Error.IsError)
            {
                Confirmed++;
                return;
            }

            failed.Add(item);
            DeliveryErrors++;
            PossiblyDuplicated += report.Status == PersistenceStatus.PossiblyPersisted ? 1 : 0;
            LastError = report.Error;
            if (report.Error.IsFatal)
            {
                fatal ??= report.Error;
            }
        }
    }

    private void OnError(Error error)
    {
        lock (gate)
        {
            LastError = error;
            if (error.IsFatal)
            {
                fatal ??= error;
            }
        }
    }
}
