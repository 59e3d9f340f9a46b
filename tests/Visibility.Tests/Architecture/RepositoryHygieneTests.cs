using System.Diagnostics;

namespace Visibility.Tests.Architecture;

/// <summary>
/// What the repository holds: no large blobs beside the documented samples, and source files small enough to have
/// one job (500 lines for product code; 300 for the ingest stages, which every ingest feature touches).
/// </summary>
public sealed class RepositoryHygieneTests
{
    private const long MaxFileBytes = 1024 * 1024;
    private const int MaxSourceLines = 500;
    private const int MaxStageLines = 300;

    [Fact]
    public void TrackedFiles_AreUnderOneMegabyte_ExceptSamples()
    {
        var large = TrackedFiles()
            .Where(f => !f.StartsWith("tests/Visibility.Tests/Samples/", StringComparison.Ordinal))
            .Where(f => new FileInfo(Path.Combine(Root, f)).Length > MaxFileBytes)
            .ToList();
        Assert.True(large.Count == 0, $"tracked files over 1 MB: {string.Join(", ", large)}");
    }

    [Fact]
    public void ProductSources_StayUnder500Lines_AndIngestStagesUnder300()
    {
        var tooLong = TrackedFiles()
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) && (f.StartsWith("ingest/", StringComparison.Ordinal)
                || f.StartsWith("query/", StringComparison.Ordinal) || f.StartsWith("web/", StringComparison.Ordinal)))
            .Select(f => (File: f, Lines: File.ReadLines(Path.Combine(Root, f)).Count()))
            .Where(f => f.Lines > (f.File.StartsWith("ingest/Visibility.Ingest/Pipeline/", StringComparison.Ordinal) ? MaxStageLines : MaxSourceLines))
            .Select(f => $"{f.File} ({f.Lines} lines)")
            .ToList();
        Assert.True(tooLong.Count == 0, $"split these by job: {string.Join(", ", tooLong)}");
    }

    private static string Root => Repository.Root;

    private static List<string> TrackedFiles()
    {
        var git = new ProcessStartInfo("git", ["-C", Root, "ls-files", "-z"]) { RedirectStandardOutput = true };
        using var process = Process.Start(git)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        var files = output.Split('\0', StringSplitOptions.RemoveEmptyEntries).Where(f => File.Exists(Path.Combine(Root, f))).ToList();
        Assert.NotEmpty(files);
        return files;
    }
}
