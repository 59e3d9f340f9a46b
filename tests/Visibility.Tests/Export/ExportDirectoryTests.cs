using CsCheck;
using Visibility.Query.Export.Sinks;
using Xunit.Abstractions;

namespace Visibility.Tests.Export;

/// <summary>
/// File sinks write only under the export directory. The folder used here holds the traps a caller could aim at:
/// a link out of it (<c>out</c> → /etc), a link inside that climbs out (<c>sub/up</c> → ../..), a link to a file
/// (<c>alias</c>), a pipe, a folder, a file with a second hard link, and a regular file.
/// </summary>
public sealed class ExportDirectoryTests : IDisposable
{
    private readonly ITestOutputHelper output;
    private readonly string parent = Directory.CreateTempSubdirectory("visibility-exportdir-").FullName;
    private readonly string root;
    private readonly ExportDirectory directory;

    public ExportDirectoryTests(ITestOutputHelper output)
    {
        this.output = output;
        root = Path.Combine(parent, "export");
        Directory.CreateDirectory(Path.Combine(root, "sub", "deeper"));
        File.WriteAllText(Path.Combine(parent, "secret"), "outside");
        File.WriteAllText(Path.Combine(root, "file.log"), "inside\n");
        File.CreateSymbolicLink(Path.Combine(root, "out"), "/etc");
        File.CreateSymbolicLink(Path.Combine(root, "sub", "up"), "../..");
        File.CreateSymbolicLink(Path.Combine(root, "alias"), Path.Combine(parent, "secret"));
        Run("mkfifo", Path.Combine(root, "pipe"));
        Run("ln", Path.Combine(parent, "secret"), Path.Combine(root, "hard"));
        directory = new ExportDirectory(root);
    }

    public void Dispose() => Directory.Delete(parent, recursive: true);

    [Theory]
    [InlineData("findings.jsonl", "findings.jsonl")]
    [InlineData("sub/deeper/findings.cef", "sub/deeper/findings.cef")]
    [InlineData("new/folders/here.log", "new/folders/here.log")]
    [InlineData("./a/../b.log", "b.log")]
    [InlineData("file.log", "file.log")]
    [InlineData("sub//x.log", "sub/x.log")]
    [InlineData("été/データ.log", "été/データ.log")]
    public void Resolve_PathsInside_AreRelativeToTheFolder(string requested, string expected)
    {
        Assert.True(directory.TryResolve(requested, out var full, out var error), error);
        Assert.Equal(Path.Combine(root, expected), full);
    }

    [Fact]
    public void Resolve_AbsolutePathInside_IsAccepted()
    {
        Assert.True(directory.TryResolve(Path.Combine(root, "sub", "a.log"), out var full, out var error), error);
        Assert.Equal(Path.Combine(root, "sub", "a.log"), full);
    }

    [Theory]
    [InlineData("/etc/passwd", "leaves the export directory")]
    [InlineData("../secret", "leaves the export directory")]
    [InlineData("sub/../../secret", "leaves the export directory")]
    [InlineData("..", "names a folder")]
    [InlineData(".", "names a folder")]
    [InlineData("sub/", "names a folder")]
    [InlineData("sub", "not a regular file")]
    [InlineData("out/passwd", "crosses a symbolic link")]
    [InlineData("sub/up/secret", "crosses a symbolic link")]
    [InlineData("alias", "crosses a symbolic link")]
    [InlineData("pipe", "not a regular file")]
    [InlineData("hard", "other hard links")]
    [InlineData("file.log/x", "through a file")]
    [InlineData("a\0b", "control characters")]
    [InlineData("a\nb", "control characters")]
    [InlineData("", "is empty")]
    public void Resolve_PathsThatLeaveOrTrap_AreRefusedWithTheReason(string requested, string expected)
    {
        Assert.False(directory.TryResolve(requested, out var full, out var error));
        Assert.Equal("", full);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_TheFolderItselfOrLongNames_AreRefused()
    {
        Assert.False(directory.TryResolve(root, out _, out _));
        Assert.False(directory.TryResolve(new string('a', 256), out _, out var nameError));
        Assert.Contains("longer than 255 bytes", nameError, StringComparison.Ordinal);
        Assert.False(directory.TryResolve(string.Join('/', Enumerable.Repeat("abcdefgh", 120)), out _, out var pathError));
        Assert.Contains("longer than 1024", pathError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FileSink_LinkPlantedAfterTheSinkWasMade_IsRefusedAtOpen_AndNothingIsWrittenOutside()
    {
        var sink = new FileSink(new FileSinkOptions("later/findings.jsonl") { Within = directory });
        await using (sink)
        {
            File.CreateSymbolicLink(Path.Combine(root, "later"), parent);
            var error = await Assert.ThrowsAsync<IOException>(() => sink.SendAsync(SinkItems.Findings(3), CancellationToken.None));
            Assert.Contains("crosses a symbolic link", error.Message, StringComparison.Ordinal);
            Assert.Equal(3, sink.Pending);
        }

        Assert.False(File.Exists(Path.Combine(parent, "findings.jsonl")));
        Assert.Equal("outside", await File.ReadAllTextAsync(Path.Combine(parent, "secret")));
    }

    [Fact]
    public async Task FileSink_Within_CreatesFoldersInsideOnly_AndWrites()
    {
        await using (var sink = new FileSink(new FileSinkOptions("new/a/b.jsonl") { Within = directory }))
        {
            await sink.SendAsync(SinkItems.Findings(2), CancellationToken.None);
            Assert.Equal(2, sink.Confirmed);
        }

        Assert.Equal(2, File.ReadAllLines(Path.Combine(root, "new", "a", "b.jsonl")).Length);
    }

    [Fact]
    public void New_TheFileSystemRoot_IsRefused() =>
        Assert.Throws<ArgumentException>(() => new ExportDirectory("/"));

    /// <summary>
    /// 10,000 generated paths — traversal, absolute, through the links, unicode look-alikes of dots and slashes, NUL
    /// and other controls, very long — none resolves to a place outside the folder as the kernel sees it (libc
    /// realpath of the part that exists, which the folder's checks do not use for it), and none that resolves names
    /// anything but a regular file or a name still free.
    /// </summary>
    [Fact]
    public void Property_GeneratedPaths_NeverResolveOutsideTheFolder()
    {
        var realRoot = ExportDirectory.RealPath(root)!;
        string[] segments =
        [
            "..", ".", "", "out", "sub", "up", "deeper", "alias", "pipe", "hard", "file.log", "secret", "etc", "passwd", "new",
            "．．", "\u2025", "%2e%2e", "..%2f", "\\..\\", "..\u2215", "\u0000", "\n", "é", "データ", "~", "$HOME", " ", "...",
            new string('x', 200), new string('y', 300), root, parent, "/",
        ];
        var gen = Gen.Select(
            Gen.OneOf(Gen.Const(""), Gen.Const("/"), Gen.Const(root + "/"), Gen.Const(parent + "/"), Gen.Const("/etc/"), Gen.Const("../")),
            Gen.Frequency((2, Gen.OneOf(segments)), (2, Gen.String[Gen.Char['a', 'z'], 1, 8]), (1, Gen.String[Gen.Char, 0, 12])).Array[1, 8],
            Gen.OneOf("/", "/", "//", "/./"),
            (prefix, parts, separator) => prefix + string.Join(separator, parts));
        long cases = 0, accepted = 0;
        gen.Sample(
            requested =>
            {
                cases++;
                if (!directory.TryResolve(requested, out var full, out _))
                {
                    return;
                }

                accepted++;
                Assert.StartsWith(root + "/", full, StringComparison.Ordinal);
                var existing = full;
                while (!Path.Exists(existing) && existing.Length > root.Length)
                {
                    existing = Path.GetDirectoryName(existing)!;
                }

                var real = ExportDirectory.RealPath(existing);
                Assert.True(real is not null && (real == realRoot || real.StartsWith(realRoot + "/", StringComparison.Ordinal)), $"'{requested}' resolved to {full}, which is {real}");
                Assert.False(Directory.Exists(full), $"'{requested}' resolved to the folder {full}");
                Assert.True(existing != full || new FileInfo(full).LinkTarget is null, $"'{requested}' resolved to the link {full}");
            },
            iter: 10_000,
            threads: 1);
        Assert.Equal(10_000, cases);
        Assert.True(accepted > 500, $"only {accepted} paths were accepted: the generator does not reach the inside");
        output.WriteLine($"{cases} paths, {accepted} accepted, all inside {root}");
    }

    private static void Run(string program, params string[] args)
    {
        var (exitCode, _, stderr) = ProcessRunner.RunAsync(program, args).GetAwaiter().GetResult();
        Assert.True(exitCode == 0, $"{program}: {stderr}");
    }
}
