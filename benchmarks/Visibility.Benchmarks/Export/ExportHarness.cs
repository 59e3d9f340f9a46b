using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Visibility.Benchmarks.Support;
using Visibility.Ingest.Kafka;
using Visibility.Query.Export;
using Visibility.Query.Export.Sinks;
using Visibility.Query.Export.Syslog;
using Visibility.Query.Findings;
using Visibility.TestSupport;

namespace Visibility.Benchmarks.Export;

/// <summary>
/// SIEM export throughput (<c>make bench-export</c>): for each format (cef, leef, ocsf, json) and each sink (syslog
/// over TCP, TLS and UDP to a real rsyslogd; a file; Kafka on the development broker), N finding events are formatted
/// and sent through the sink in batches, then the harness waits for the sink to confirm everything. Reports records/s
/// and MB/s of record bodies, against a format-only baseline measured in the same run (formatting into a reused
/// buffer, no sink), and checks what rsyslog received (TCP and TLS must have all N; UDP reports what arrived).
/// </summary>
public static class ExportHarness
{
    private const string Usage = """
        usage: Visibility.Benchmarks export [options]
          --records N     finding events per format and sink (default 100000)
          --batch B       items per SendAsync (default 1000)
          --formats LIST  comma-separated: cef,leef,ocsf,json (default all)
          --sinks LIST    comma-separated: syslog-tcp,syslog-tls,syslog-udp,file,kafka (default all)
          --markdown PATH report (default artifacts/export/export-<UTC time>.md)
        """;

    private static readonly string[] AllSinks = ["syslog-tcp", "syslog-tls", "syslog-udp", "file", "kafka"];

    public static async Task<int> RunAsync(string[] args)
    {
        var records = 100_000;
        var batchSize = 1_000;
        var formatNames = new[] { "cef", "leef", "ocsf", "json" };
        var sinkNames = AllSinks;
        string? markdown = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} needs a value");
            switch (args[i])
            {
                case "--records": records = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--batch": batchSize = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--formats": formatNames = Next().Split(','); break;
                case "--sinks": sinkNames = Next().Split(','); break;
                case "--markdown": markdown = Next(); break;
                case "--help" or "-h": Console.WriteLine(Usage); return 0;
                default: Console.Error.WriteLine($"unknown option '{args[i]}'\n{Usage}"); return 2;
            }
        }

        if (sinkNames.Except(AllSinks).FirstOrDefault() is { } unknown)
        {
            Console.Error.WriteLine($"unknown sink '{unknown}'\n{Usage}");
            return 2;
        }

        markdown ??= Path.Combine("artifacts", "export", $"export-{DateTime.UtcNow:yyyyMMdd-HHmmss}.md");
        var formats = ExportFormats.All(ExportIdentity.Default).Where(f => formatNames.Contains(f.Name)).ToList();
        var events = BenchFindings.Create(records);
        var rows = new List<string>();
        var failures = 0;
        using var receiver = sinkNames.Any(s => s.StartsWith("syslog", StringComparison.Ordinal)) ? await RsyslogReceiver.StartAsync() : null;
        await using var broker = sinkNames.Contains("kafka") ? DevBroker.Start(port: 0) : null;
        var directory = Directory.CreateTempSubdirectory("visibility-bench-export-").FullName;
        try
        {
            // Warm-up: every format's code paths compiled (tiered JIT) before anything is timed.
            foreach (var format in formats)
            {
                FormatOnly(format, events[..Math.Min(events.Length, 20_000)]);
            }

            foreach (var format in formats)
            {
                var (baseline, bytes) = FormatOnly(format, events);
                rows.Add(Row(format.Name, "format only", records, baseline, bytes, baseline, "-"));
                Console.Error.WriteLine(rows[^1]);
                foreach (var sinkName in sinkNames)
                {
                    var protocol = sinkName switch { "syslog-tcp" => "tcp", "syslog-tls" => "tls", "syslog-udp" => "udp", _ => null };
                    var before = protocol is null ? 0 : receiver!.Count(protocol);
                    await using var sink = Create(sinkName, format.Name, receiver, broker, directory);
                    var (elapsed, confirmed) = await SendAsync(sink, format, events, batchSize);
                    var delivered = confirmed ? "confirmed" : $"NOT confirmed ({sink.Pending} pending)";
                    if (protocol is not null)
                    {
                        var expected = before + records;
                        var quiet = TimeSpan.FromSeconds(protocol == "udp" ? 3 : 30);
                        var arrived = await receiver!.WaitForCountAsync(protocol, expected, quiet, TimeSpan.FromMinutes(5)) - before;
                        delivered += $", rsyslog got {arrived:N0}";
                        failures += protocol != "udp" && arrived != records ? 1 : 0;
                        if (sink is SyslogSink { Truncated: > 0 } syslog)
                        {
                            delivered += $" ({syslog.Truncated:N0} cut to a datagram)";
                        }
                    }
                    else if (sink is FileSink file)
                    {
                        delivered += $", {file.Rotations} rotations";
                    }

                    failures += confirmed ? 0 : 1;
                    rows.Add(Row(format.Name, sinkName, records, elapsed, bytes, baseline, delivered));
                    Console.Error.WriteLine(rows[^1]);
                    if (sink is FileSink)
                    {
                        Array.ForEach(Directory.GetFiles(directory), File.Delete);
                    }
                }
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }

        var report = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"{records:N0} finding events per row, batches of {batchSize:N0}, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, load average {LoadAverage()}")
            .AppendLine()
            .AppendLine("| format | sink | records/s | MB/s (bodies) | × format only | seconds | delivery |")
            .AppendLine("|---|---|---:|---:|---:|---:|---|");
        rows.ForEach(row => report.AppendLine(row));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(markdown))!);
        await File.WriteAllTextAsync(markdown, report.ToString());
        Console.WriteLine(report);
        Console.Error.WriteLine($"report: {markdown}");
        return failures == 0 ? 0 : 1;
    }

    private static string Row(string format, string sink, int records, TimeSpan elapsed, long bytes, TimeSpan baseline, string delivered) =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"| {format} | {sink} | {records / elapsed.TotalSeconds:N0} | {bytes / elapsed.TotalSeconds / 1e6:F1} | {baseline.TotalSeconds / elapsed.TotalSeconds:F2} | {elapsed.TotalSeconds:F2} | {delivered} |");

    /// <summary>Formats every event into one reused buffer: the cost every sink pays before sending.</summary>
    private static (TimeSpan Elapsed, long Bytes) FormatOnly(IExportFormat format, FindingEvent[] events)
    {
        var output = new ArrayBufferWriter<byte>(1 << 20);
        long bytes = 0;
        var watch = Stopwatch.StartNew();
        foreach (var record in events)
        {
            if (output.FreeCapacity < 16 * 1024)
            {
                bytes += output.WrittenCount;
                output.ResetWrittenCount();
            }

            format.Write(output, record);
        }

        watch.Stop();
        return (watch.Elapsed, bytes + output.WrittenCount);
    }

    /// <summary>
    /// Formats a batch into one fresh buffer (the sink keeps the bodies until confirmed), sends it, and at the end waits
    /// for everything to be confirmed. The time covers formatting, sending and confirmation.
    /// </summary>
    private static async Task<(TimeSpan Elapsed, bool Confirmed)> SendAsync(IExportSink sink, IExportFormat format, FindingEvent[] events, int batchSize)
    {
        var items = new List<ExportItem>(batchSize);
        var ends = new List<int>(batchSize);
        long sequence = 0;
        var watch = Stopwatch.StartNew();
        foreach (var chunk in events.Chunk(batchSize))
        {
            var buffer = new ArrayBufferWriter<byte>(chunk.Length * 768);
            ends.Clear();
            foreach (var record in chunk)
            {
                format.Write(buffer, record);
                ends.Add(buffer.WrittenCount);
            }

            var memory = buffer.WrittenMemory;
            items.Clear();
            for (var i = 0; i < chunk.Length; i++)
            {
                var start = i == 0 ? 0 : ends[i - 1];
                var record = chunk[i];
                items.Add(new ExportItem(sequence++, record.EventId, record.Time, record.Finding.Severity, "finding", memory[start..ends[i]]));
            }

            await sink.SendAsync(items, CancellationToken.None);
        }

        var confirmed = await sink.WaitConfirmedAsync(TimeSpan.FromMinutes(2), CancellationToken.None);
        watch.Stop();
        return (watch.Elapsed, confirmed);
    }

    private static IExportSink Create(string name, string format, RsyslogReceiver? receiver, DevBroker? broker, string directory)
    {
        var message = new SyslogMessage(16, "visibility-bench", "visibility");
        switch (name)
        {
            case "syslog-tcp": return new SyslogSink(new SyslogTarget("127.0.0.1", receiver!.TcpPort, SyslogProtocol.Tcp), message);
            case "syslog-tls": return new SyslogSink(new SyslogTarget("127.0.0.1", receiver!.TlsPort, SyslogProtocol.Tls) { CaFile = receiver.CertificateFile }, message);
            case "syslog-udp": return new SyslogSink(new SyslogTarget("127.0.0.1", receiver!.UdpPort, SyslogProtocol.Udp), message);
            case "file": return new FileSink(new FileSinkOptions(Path.Combine(directory, $"export-{format}.jsonl")));
            default:
                // Many partitions: the mock broker keeps only 5 MiB per partition, and nothing consumes here.
                var topic = $"export-{format}";
                broker!.CreateTopic(topic, 16);
                return new KafkaSink(new ProducerConfig { BootstrapServers = broker.BootstrapServers }, topic);
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]);
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
