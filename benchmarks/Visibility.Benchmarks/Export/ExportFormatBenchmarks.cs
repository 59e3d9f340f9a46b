using System.Buffers;
using BenchmarkDotNet.Attributes;
using Visibility.Query.Export;
using Visibility.Query.Findings;
using Visibility.Query.Graph;

namespace Visibility.Benchmarks.Export;

/// <summary>
/// Records written per format, findings and flow summaries, 1,024 per invocation into one reused buffer (so the
/// per-operation figures are per record). <c>plain</c> values need no escaping; <c>hostile</c> values carry the
/// delimiters, escapes, line breaks and non-ASCII text every format has to escape.
/// </summary>
[MemoryDiagnoser]
public class ExportFormatBenchmarks
{
    private const int Batch = 1024;
    private readonly ArrayBufferWriter<byte> output = new(1 << 20);
    private IExportFormat format = null!;
    private FindingEvent[] findings = [];
    private FlowSummary[] summaries = [];

    [Params("cef", "leef", "ocsf", "json")]
    public string Format { get; set; } = "cef";

    [Params("plain", "hostile")]
    public string Values { get; set; } = "plain";

    [GlobalSetup]
    public void Setup()
    {
        format = ExportFormats.All(ExportIdentity.Default).Single(f => f.Name == Format);
        var time = new DateTimeOffset(2026, 3, 14, 9, 0, 0, TimeSpan.Zero);
        findings = new FindingEvent[Batch];
        summaries = new FlowSummary[Batch];
        for (var i = 0; i < Batch; i++)
        {
            var text = Values == "plain" ? $"payments-{i % 37}" : $"pay|ments\\{i % 37}=x\ny\tz \"q\" ünï 😀";
            var source = new Dictionary<string, string> { ["app"] = text, ["env"] = "prod", ["role"] = "backend" };
            var destination = new Dictionary<string, string> { ["app"] = "db", ["env"] = i % 2 == 0 ? "prod" : "dev" };
            findings[i] = new FindingEvent(
                $"finding-{i}",
                time.AddSeconds(i),
                new Finding("cross_env", "high", new FindingEnd(text, "workload", source), new FindingEnd("10.10.3.10", "workload", destination), "tcp/5432", i, i * 1000L, time, time.AddSeconds(i)));
            summaries[i] = new FlowSummary(
                $"summary-{i}",
                time,
                time.AddMinutes(5),
                ["app", "env"],
                new GraphNode(text, "workload", source),
                new GraphNode("app=db,env=prod", "workload", destination),
                i,
                i * 1000L,
                i * 10L,
                ["tcp/5432", "tcp/443"],
                ["cross_env"],
                "high");
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int Findings()
    {
        output.ResetWrittenCount();
        foreach (var record in findings)
        {
            format.Write(output, record);
        }

        return output.WrittenCount;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int Summaries()
    {
        output.ResetWrittenCount();
        foreach (var record in summaries)
        {
            format.Write(output, record);
        }

        return output.WrittenCount;
    }
}
