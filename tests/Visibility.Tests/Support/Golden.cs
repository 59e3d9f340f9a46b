using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Visibility.Flows.Labels;
using Visibility.Flows.Model;
using Visibility.Ingest.Decoding;

namespace Visibility.Tests.Support;

/// <summary>
/// Golden files for decoders: each line of a sample is decoded and rendered as one line (status, reason, every
/// <see cref="FlowRecord"/> field, endpoint names and labels), and the rendering must equal the committed
/// <c>&lt;sample&gt;.golden</c> beside the sample. With <c>UPDATE_GOLDEN=1</c> the file is rewritten instead,
/// so a change in decoding shows up as a reviewable diff.
/// </summary>
public static class Golden
{
    /// <summary>A sample as copied to the test output, by its path under <c>Samples/</c>.</summary>
    public static string SamplePath(string relative) =>
        Path.Combine(AppContext.BaseDirectory, "Samples", relative);

    public static string[] SampleLines(string relative) => File.ReadAllLines(SamplePath(relative));

    /// <summary>Decodes every line of <paramref name="sample"/> with one decoder and compares with the golden file.</summary>
    public static void Verify(string sample, IFlowDecoder decoder)
    {
        var lines = SampleLines(sample);
        var actual = new StringBuilder();
        foreach (var line in lines)
        {
            actual.Append(Decode(decoder, line)).Append('\n');
        }

        Compare(sample + ".golden", actual.ToString());
    }

    public static string Decode(IFlowDecoder decoder, string line)
    {
        var record = default(FlowRecord);
        var status = decoder.Decode(Encoding.UTF8.GetBytes(line), ref record, out var reason);
        return Render(status, reason, record);
    }

    public static string Render(DecodeStatus status, string? reason, in FlowRecord r)
    {
        if (status != DecodeStatus.Ok)
        {
            return $"{status}: {reason}";
        }

        var ci = CultureInfo.InvariantCulture;
        var text = new StringBuilder("Ok");
        text.Append(ci, $" event={r.Event} proto={r.Protocol} src={Address(r.SrcIp, r.SrcPort)} dst={Address(r.DstIp, r.DstPort)}");
        text.Append(ci, $" nat_src={Address(r.NatSrcIp, r.NatSrcPort)} nat_dst={Address(r.NatDstIp, r.NatDstPort)}");
        text.Append(ci, $" bytes_out={r.BytesOut} packets_out={r.PacketsOut} bytes_in={r.BytesIn} packets_in={r.PacketsIn}");
        text.Append(ci, $" start={Time(r.StartMs)} end={Time(r.EndMs)} connections={r.Connections} conn_id={r.ConnectionId:x16}");
        if (r.CountersAreDeltas)
        {
            text.Append(" counters=delta");
        }

        text.Append(ci, $" partition={r.SourcePartition} offset={r.SourceOffset} src_ep={Endpoint(r.Src)} dst_ep={Endpoint(r.Dst)}");
        // The verdict only when it is not the default (allowed, nothing named), so records of sources without one read as before.
        if (r.Verdict != FlowVerdict.Allowed || r.Audited || r.IsAttempt || r.VerdictReason is not null || r.Policies is not null)
        {
            text.Append(ci, $" verdict={r.Verdict.ToString().ToLowerInvariant()}");
            text.Append(r.IsAttempt ? " attempt" : "").Append(r.Audited ? " audited" : "");
            text.Append(ci, $" reason={r.VerdictReason ?? "-"} policies={r.Policies ?? "-"}");
        }

        return text.ToString();
    }

    private static string Address(UInt128 ip, ushort port)
    {
        if (ip == UInt128.Zero)
        {
            return port == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"-:{port}");
        }

        var text = IpAddressKey.Format(ip);
        return IpAddressKey.IsIPv4(ip)
            ? string.Create(CultureInfo.InvariantCulture, $"{text}:{port}")
            : string.Create(CultureInfo.InvariantCulture, $"[{text}]:{port}");
    }

    private static string Time(long unixMs) =>
        unixMs == 0 ? "0" : DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Endpoint(Endpoint? endpoint)
    {
        if (endpoint is null)
        {
            return "-";
        }

        var labels = string.Join(",", endpoint.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));
        return $"{{{endpoint.Kind} {endpoint.Workload} {labels}}}";
    }

    /// <summary>Compares generated text (SQL, payloads) with <c>Samples/&lt;goldenRelative&gt;</c>; UPDATE_GOLDEN=1 rewrites it.</summary>
    public static void VerifyText(string goldenRelative, string actual) => Compare(goldenRelative, actual);

    private static void Compare(string goldenRelative, string actual)
    {
        var project = ProjectDirectory();
        var sourcePath = project is null ? null : Path.Combine(project, "Samples", goldenRelative);
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            Assert.True(sourcePath is not null, "UPDATE_GOLDEN needs the test sources beside the build");
            File.WriteAllText(sourcePath!, actual);
            return;
        }

        var path = sourcePath is not null && File.Exists(sourcePath) ? sourcePath : SamplePath(goldenRelative);
        Assert.True(File.Exists(path), $"{goldenRelative} is missing; run the tests with UPDATE_GOLDEN=1 to create it, then review it");
        var expectedLines = File.ReadAllText(path).Split('\n');
        var actualLines = actual.Split('\n');
        for (var i = 0; i < Math.Max(expectedLines.Length, actualLines.Length); i++)
        {
            var expected = i < expectedLines.Length ? expectedLines[i] : "<missing>";
            var got = i < actualLines.Length ? actualLines[i] : "<missing>";
            Assert.True(expected == got, $"{goldenRelative} line {i + 1} differs (UPDATE_GOLDEN=1 rewrites it)\nexpected: {expected}\nactual:   {got}");
        }
    }

    // The test project's directory in the source tree, from this file's compile-time path.
    private static string? ProjectDirectory([CallerFilePath] string thisFile = "")
    {
        var directory = Path.GetDirectoryName(Path.GetDirectoryName(thisFile));
        return directory is not null && Directory.Exists(Path.Combine(directory, "Samples")) ? directory : null;
    }
}
