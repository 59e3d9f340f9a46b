using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Visibility.Web.Api;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>visibility export</c>: a one-off export of a time range from a running <c>visibility serve</c>, in any export
/// format, to a file (written aside and renamed when complete) or standard output, with a progress bar on standard
/// error. The range is read in pieces (<c>/api/v1/export/records</c>); a finding is written once, at its first
/// sighting in the range; summaries are per <c>--interval</c>.
/// </summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var url = CliOptions.Url();
        var (last, from, to) = CliOptions.Range();
        var content = new Option<string>("--content") { Description = "what to export", DefaultValueFactory = _ => "findings" };
        content.AcceptOnlyFromAmong("findings", "summaries");
        var format = CliOptions.Text("--format", "the record format (default cef)", "FORMAT", "cef", "leef", "ocsf", "json");
        var filter = CliOptions.Filter();
        var minSeverity = CliOptions.MinSeverity();
        var groupBy = CliOptions.GroupBy();
        var interval = new Option<string>("--interval") { Description = "summaries: one per group and interval", HelpName = "DURATION", DefaultValueFactory = _ => "1h" };
        var output = CliOptions.Text("--out", "write to this file (written aside, renamed when complete); default standard output", "FILE");
        var pieces = CliOptions.Number("--pieces", "read the range in about this many requests", 1, 10_000, 50);
        var command = new Command("export", "a one-off SIEM export of a range from a running `serve` (progress on standard error)")
            .With(content, format, last, from, to, filter, minSeverity, groupBy, interval, output, pieces, url);
        var parameters = new List<(Option<string>, string)> { (format, "format"), (filter, "filter"), (minSeverity, "minSeverity"), (groupBy, "groupBy") };
        command.SetAction((parse, _) => RunAsync(
            parse.GetValue(url) ?? ApiCall.DefaultUrl, parse.GetValue(from), parse.GetValue(to), parse.GetValue(last), parse.GetValue(output),
            parse.GetValue(content)!, parse.GetValue(pieces), parse.GetValue(interval)!, CliOptions.Query(parse, parameters)));
        return command;
    }

    private static async Task<int> RunAsync(string url, string? from, string? to, string? last, string? output, string content, int pieces, string interval, List<(string, string)> query)
    {
        if (!TimeRange.TryParse(from, to, last, DateTimeOffset.UtcNow, out var start, out var end, out var rangeError))
        {
            throw new UsageException(rangeError!);
        }

        var pieceList = Pieces(content, start, end, interval, pieces);
        query.Add(("content", content));
        if (content == "summaries")
        {
            query.Add(("interval", interval));
        }

        using var http = ApiCall.Client(url, TimeSpan.FromMinutes(10));
        var target = output is null ? null : output + ".partial";
        await using var sink = target is null ? Console.OpenStandardOutput() : new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16, useAsync: true);
        var progress = new Progress(pieceList.Count);
        long records = 0, dropped = 0;
        try
        {
            foreach (var (pieceStart, pieceEnd) in pieceList)
            {
                var piece = query.ToList();
                piece.Add(("from", pieceStart.ToString("o", CultureInfo.InvariantCulture)));
                piece.Add(("to", pieceEnd.ToString("o", CultureInfo.InvariantCulture)));
                piece.Add(("exportFrom", start.ToString("o", CultureInfo.InvariantCulture)));
                var path = "/api/v1/export/records?" + string.Join('&', piece.Select(p => $"{p.Item1}={Uri.EscapeDataString(p.Item2)}"));
                if (await ApiCall.SendAsync(http, "export", () => http.GetAsync(path), progress.Clear) is not { } text)
                {
                    return ExitCodes.Error;
                }

                var trailer = text.LastIndexOf("# records=", StringComparison.Ordinal);
                if (trailer < 0)
                {
                    progress.Clear();
                    await Console.Error.WriteLineAsync("visibility: export: the server's answer ended early (no trailer); nothing more written");
                    return ExitCodes.Error;
                }

                var counts = text[trailer..].Trim().Split(' ');
                records += long.Parse(counts[1]["records=".Length..], CultureInfo.InvariantCulture);
                dropped += long.Parse(counts[2]["dropped=".Length..], CultureInfo.InvariantCulture);
                await sink.WriteAsync(Encoding.UTF8.GetBytes(text[..trailer]));
                progress.Advance(pieceEnd, records);
            }
        }
        finally
        {
            progress.Clear();
        }

        await sink.FlushAsync();
        if (target is not null)
        {
            await sink.DisposeAsync();
            File.Move(target, output!, overwrite: true);
        }

        await Console.Error.WriteLineAsync(
            $"visibility: exported {records:N0} {content} records ({start:u} → {end:u}){(output is null ? "" : $" to {output}")} in {progress.Elapsed.TotalSeconds:0.0} s" +
            (dropped > 0 ? $"; {dropped:N0} left out beyond {Visibility.Query.Export.Streams.ExportRecordSource.MaxPerInterval:N0} per piece (use more --pieces)" : ""));
        return ExitCodes.Ok;
    }

    /// <summary>The pieces of the range: about <paramref name="count"/> of them; for summaries whole intervals (the last may be short).</summary>
    private static List<(DateTimeOffset Start, DateTimeOffset End)> Pieces(string content, DateTimeOffset start, DateTimeOffset end, string interval, int count)
    {
        var step = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, (end - start).Ticks / count));
        if (content == "summaries")
        {
            var span = Visibility.Query.Export.Streams.ExportSinkDefinition.ParseDuration(interval)
                ?? throw new UsageException($"--interval '{interval}' is not a duration (e.g. 5m, 1h)");
            if (span < TimeSpan.FromSeconds(1))
            {
                throw new UsageException("--interval must be at least 1s");
            }

            step = TimeSpan.FromTicks(Math.Max(1, (long)Math.Ceiling((double)step.Ticks / span.Ticks)) * span.Ticks);
        }

        var pieces = new List<(DateTimeOffset, DateTimeOffset)>();
        for (var at = start; at < end; at += step)
        {
            pieces.Add((at, at + step < end ? at + step : end));
        }

        return pieces;
    }

    /// <summary>
    /// One progress line: the bar, how far through the range, the records written with their rate, and the time left
    /// at the pace so far. A findings export writes few records (each finding once) from a lot of traffic, so its
    /// rate is often well below one a second: shown with the decimals that make it non-zero.
    /// </summary>
    public static string Line(double fraction, DateTimeOffset at, long records, TimeSpan elapsed)
    {
        var seconds = Math.Max(elapsed.TotalSeconds, 0.001);
        var left = fraction > 0 ? TimeSpan.FromSeconds(seconds * (1 - fraction) / fraction) : TimeSpan.Zero;
        return string.Create(CultureInfo.InvariantCulture,
            $"[{new string('#', (int)(fraction * 30)).PadRight(30, '.')}] {fraction * 100,3:0}%  up to {at:u}  {records:N0} records  {Rate(records / seconds)}/s  {(fraction < 1 ? $"{left.TotalSeconds:0} s left" : "done")}");
    }

    /// <summary>A rate with as many decimals as it needs to show its first two digits (at most two): 1,234 · 12.3 · 0.42.</summary>
    public static string Rate(double perSecond) => perSecond switch
    {
        >= 100 or <= 0 => perSecond.ToString("N0", CultureInfo.InvariantCulture),
        >= 10 => perSecond.ToString("0.0", CultureInfo.InvariantCulture),
        _ => perSecond.ToString("0.00", CultureInfo.InvariantCulture),
    };

    /// <summary>A bar redrawn in place on a terminal; on a pipe or file, a line every tenth of the way.</summary>
    private sealed class Progress(int pieces)
    {
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private readonly bool terminal = !Console.IsErrorRedirected;
        private int done;
        private int lastTenth;

        public TimeSpan Elapsed => clock.Elapsed;

        public void Advance(DateTimeOffset at, long records)
        {
            done++;
            var fraction = (double)done / pieces;
            var text = Line(fraction, at, records, clock.Elapsed);
            if (terminal)
            {
                Console.Error.Write("\r" + text);
            }
            else if ((int)(fraction * 10) > lastTenth || done == pieces)
            {
                lastTenth = (int)(fraction * 10);
                Console.Error.WriteLine(text);
            }
        }

        public void Clear()
        {
            if (terminal && done > 0)
            {
                Console.Error.Write("\r" + new string(' ', 100) + "\r");
            }
        }
    }
}
