using System.Diagnostics;
using System.Globalization;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// A tmpfs of a chosen size mounted on a directory of the test's own (needs root), resizable while in use and
/// unmounted on dispose, whatever happened in between. A small one is a disk that fills up.
/// </summary>
public sealed class Tmpfs : IDisposable
{
    private bool mounted;

    public Tmpfs(string path, long bytes)
    {
        Assert.True(Environment.UserName == "root", "mounting a tmpfs needs root");
        Path = path;
        Directory.CreateDirectory(path);
        Run("mount", "-t", "tmpfs", "-o", $"size={Kilobytes(bytes)}k,mode=0755", "tmpfs", path);
        mounted = true;
    }

    public string Path { get; }

    /// <summary>Bytes in use on the file system (what its files occupy, in whole pages).</summary>
    public long UsedBytes
    {
        get
        {
            var drive = new DriveInfo(Path);
            return drive.TotalSize - drive.TotalFreeSpace;
        }
    }

    public long SizeBytes => new DriveInfo(Path).TotalSize;

    /// <summary>Grows or shrinks the file system in place (<c>mount -o remount,size=</c>); files stay.</summary>
    public void Resize(long bytes) => Run("mount", "-o", $"remount,size={Kilobytes(bytes)}k", Path);

    public void Dispose()
    {
        if (!mounted)
        {
            return;
        }

        // A process that still has files open there (one the test failed to stop) keeps it busy: detach it then.
        if (!TryRun("umount", Path))
        {
            Run("umount", "-l", Path);
        }

        mounted = false;
    }

    private static string Kilobytes(long bytes) => ((bytes + 1023) / 1024).ToString(CultureInfo.InvariantCulture);

    private static void Run(string file, params string[] args)
    {
        if (!TryRun(file, args, out var error))
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {error}");
        }
    }

    private static bool TryRun(string file, params string[] args) => TryRun(file, args, out _);

    private static bool TryRun(string file, string[] args, out string error)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0;
    }
}
