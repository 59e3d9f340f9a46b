using System.Text;
using Visibility.Query.Export.Sinks;

namespace Visibility.Tests.Export;

public sealed class FileSinkTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("visibility-filesink-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Options_Defaults_AreValid()
    {
        var options = new FileSinkOptions("/var/lib/visibility/export.jsonl");
        options.Validate();
        Assert.Equal(100L * 1024 * 1024, options.MaxBytes);
        Assert.Equal(5, options.MaxFiles);
        Assert.Null(options.RotateEvery);
    }

    [Theory]
    [InlineData("", 1_000_000, 5, null, "path is empty")]
    [InlineData("/tmp/", 1_000_000, 5, null, "names a directory")]
    [InlineData("x.log", 10, 5, null, "MaxBytes is 10")]
    [InlineData("x.log", 1_000_000, 0, null, "MaxFiles is 0")]
    [InlineData("x.log", 1_000_000, 5, 0.5, "RotateEvery is 00:00:00.5")]
    public void Options_Invalid_ThrowArgumentExceptionNamingTheSetting(string path, long maxBytes, int maxFiles, double? rotateSeconds, string expected)
    {
        var options = new FileSinkOptions(path) { MaxBytes = maxBytes, MaxFiles = maxFiles, RotateEvery = rotateSeconds is { } s ? TimeSpan.FromSeconds(s) : null };
        var error = Assert.Throws<ArgumentException>(() => new FileSink(options));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_WritesOneLinePerItemInOrder_ByteExact_InANewDirectory()
    {
        var path = Path.Combine(directory, "nested", "deeper", "export.jsonl");
        var items = SinkItems.Findings(2_000);
        await using (var sink = new FileSink(new FileSinkOptions(path)))
        {
            Assert.Equal("file://" + path, sink.Destination);
            foreach (var batch in items.Chunk(300))
            {
                await sink.SendAsync(batch, CancellationToken.None);
            }

            Assert.True(await sink.WaitConfirmedAsync(TimeSpan.FromSeconds(1), CancellationToken.None));
            Assert.Equal(0, sink.Pending);
            Assert.Equal(2_000, sink.Confirmed);
            Assert.Equal(0, sink.Rotations);
        }

        var expected = items.SelectMany(item => item.Body.ToArray().Append((byte)'\n')).ToArray();
        Assert.Equal(expected, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Reopen_AppendsToTheExistingFile()
    {
        var path = Path.Combine(directory, "export.jsonl");
        var items = SinkItems.Findings(200);
        await using (var first = new FileSink(new FileSinkOptions(path)))
        {
            await first.SendAsync(items[..120], CancellationToken.None);
        }

        await using (var second = new FileSink(new FileSinkOptions(path)))
        {
            await second.SendAsync(items[120..], CancellationToken.None);
            Assert.True(await second.WaitConfirmedAsync(TimeSpan.Zero, CancellationToken.None));
        }

        Assert.Equal(items.Select(SinkItems.Line), await File.ReadAllLinesAsync(path));
    }

    /// <summary>Rotation before a record would pass MaxBytes: every file ends on a whole line, none past the limit, none lost.</summary>
    [Fact]
    public async Task Rotation_AtMaxBytes_EveryRecordOnceInWholeLines_AtMostMaxFilesKept()
    {
        var path = Path.Combine(directory, "export.jsonl");
        var options = new FileSinkOptions(path) { MaxBytes = 64 * 1024, MaxFiles = 3 };
        var items = SinkItems.Findings(3_000);
        var totalBytes = items.Sum(item => item.Body.Length + 1);
        Assert.True(totalBytes > 6 * options.MaxBytes, "the test needs more rotations than files kept");
        await using var sink = new FileSink(options);

        // First only as much as the kept files hold: nothing deleted yet, so every record is there.
        var fits = 0;
        for (var bytes = 0L; bytes + items[fits].Body.Length + 1 <= 3 * options.MaxBytes * 9 / 10; fits++)
        {
            bytes += items[fits].Body.Length + 1;
        }

        foreach (var batch in items[..fits].Chunk(97))
        {
            await sink.SendAsync(batch, CancellationToken.None);
        }

        var files = KeptFiles(path, options.MaxFiles);
        Assert.InRange(files.Count, 3, 4);
        Assert.Equal(files.Count - 1, sink.Rotations);
        Assert.Equal(items[..fits].Select(SinkItems.Line), await ReadLinesAsync(files, options.MaxBytes));

        // Then the rest: the oldest files go, what is kept is the newest records, contiguous and in order.
        foreach (var batch in items[fits..].Chunk(1_000))
        {
            await sink.SendAsync(batch, CancellationToken.None);
        }

        Assert.True(await sink.WaitConfirmedAsync(TimeSpan.Zero, CancellationToken.None));
        files = KeptFiles(path, options.MaxFiles);
        Assert.Equal(4, files.Count);
        Assert.False(File.Exists(path + ".4"));
        Assert.Equal(4, Directory.GetFiles(directory).Length);
        var kept = await ReadLinesAsync(files, options.MaxBytes);
        Assert.True(kept.Count > fits / 2);
        Assert.Equal(items[^kept.Count..].Select(SinkItems.Line), kept);
        Assert.Equal(3_000, sink.Confirmed);
    }

    [Fact]
    public async Task RotateEvery_AnOldFileIsRotatedOnTheNextSend()
    {
        var path = Path.Combine(directory, "export.jsonl");
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var items = SinkItems.Findings(30);
        await using var sink = new FileSink(new FileSinkOptions(path) { RotateEvery = TimeSpan.FromHours(1) }, clock);
        await sink.SendAsync(items[..10], CancellationToken.None);
        clock.Now += TimeSpan.FromMinutes(59);
        await sink.SendAsync(items[10..20], CancellationToken.None);
        Assert.Equal(0, sink.Rotations);
        clock.Now += TimeSpan.FromMinutes(1);
        await sink.SendAsync(items[20..], CancellationToken.None);
        Assert.Equal(1, sink.Rotations);
        Assert.Equal(items[..20].Select(SinkItems.Line), await File.ReadAllLinesAsync(path + ".1"));
        Assert.Equal(items[20..].Select(SinkItems.Line), await File.ReadAllLinesAsync(path));
    }

    /// <summary>The path leads to /dev/full (ENOSPC on every write, even for root): the error says so; once fixed, nothing is lost.</summary>
    [Fact]
    public async Task WriteFailure_DiskFull_ThrowsClearly_RetryAfterTheFaultContinuesWithoutLossOrRepeat()
    {
        var path = Path.Combine(directory, "export.jsonl");
        File.CreateSymbolicLink(path, "/dev/full");
        var items = SinkItems.Findings(15);
        await using var sink = new FileSink(new FileSinkOptions(path));

        var error = await Assert.ThrowsAsync<IOException>(() => sink.SendAsync(items[..10], CancellationToken.None));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("No space left on device", error.Message, StringComparison.Ordinal);
        Assert.Equal(10, sink.Pending);
        Assert.False(await sink.WaitConfirmedAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.Equal(1, sink.Failures);

        File.Delete(path);
        await sink.SendAsync(items[10..], CancellationToken.None);
        Assert.True(await sink.WaitConfirmedAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.Equal(items.Select(SinkItems.Line), await File.ReadAllLinesAsync(path));
    }

    /// <summary>
    /// A real disk-full in the middle of a batch (a 512 KiB tmpfs, mostly taken by another file): the partial line is
    /// cut off on retry, and once space is freed every record is in the file exactly once.
    /// </summary>
    [Fact]
    public async Task WriteFailure_DiskFullMidBatch_PartialLineCutOff_EveryRecordOnceAfterSpaceIsFreed()
    {
        var mount = Path.Combine(directory, "small");
        Directory.CreateDirectory(mount);
        var (code, _, stderr) = await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", mount]);
        Assert.True(code == 0, $"this test mounts a small tmpfs and needs root: {stderr}");
        try
        {
            var filler = Path.Combine(mount, "filler");
            await File.WriteAllBytesAsync(filler, new byte[384 * 1024]);
            var path = Path.Combine(mount, "export.jsonl");
            // About 300 KiB of records: more than the 128 KiB left, less than the 512 KiB once the filler is gone.
            var all = SinkItems.Findings(3_000);
            var count = 0;
            for (var bytes = 0; bytes < 300 * 1024; count++)
            {
                bytes += all[count].Body.Length + 1;
            }

            var items = all[..count];
            await using var sink = new FileSink(new FileSinkOptions(path));
            var failures = 0;
            foreach (var batch in items.Chunk(100))
            {
                try
                {
                    await sink.SendAsync(batch, CancellationToken.None);
                }
                catch (IOException e)
                {
                    Assert.Contains("No space left on device", e.Message, StringComparison.Ordinal);
                    failures++;
                }
            }

            Assert.True(failures > 0, "the tmpfs did not fill up");
            Assert.True(sink.Pending > 0);
            var expected = items.SelectMany(item => item.Body.ToArray().Append((byte)'\n')).ToArray();
            var onDisk = await File.ReadAllBytesAsync(path);
            Assert.True(expected.AsSpan().StartsWith(onDisk), "what reached the disk is not a prefix of the records");
            Assert.NotEqual((byte)'\n', onDisk[^1]);

            File.Delete(filler);
            await sink.SendAsync([], CancellationToken.None);
            Assert.True(await sink.WaitConfirmedAsync(TimeSpan.Zero, CancellationToken.None));
            Assert.Equal(expected, await File.ReadAllBytesAsync(path));
            Assert.Equal(count, sink.Confirmed);
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", [mount]);
        }
    }

    /// <summary>The current file and its rotated ones, oldest first.</summary>
    private static List<string> KeptFiles(string path, int maxFiles) =>
        Enumerable.Range(1, maxFiles).Reverse().Select(n => $"{path}.{n}").Append(path).Where(File.Exists).ToList();

    /// <summary>Every file's lines in order, checking each file is within the limit and ends on a whole line.</summary>
    private static async Task<List<string>> ReadLinesAsync(List<string> files, long maxBytes)
    {
        var lines = new List<string>();
        foreach (var file in files)
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.InRange(bytes.LongLength, 1, maxBytes);
            Assert.Equal((byte)'\n', bytes[^1]);
            lines.AddRange(Encoding.UTF8.GetString(bytes).Split('\n')[..^1]);
        }

        return lines;
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
