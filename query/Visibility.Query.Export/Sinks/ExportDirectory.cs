using System.Runtime.InteropServices;
using System.Text;

namespace Visibility.Query.Export.Sinks;

/// <summary>
/// The one folder file sinks write under (<c>Visibility:Export:Directory</c>), and the same confinement for the
/// folder CA files are read from. A requested path is taken relative to the folder (an absolute one must already lie
/// inside it), normalised, and refused when it leaves the folder, names the folder itself, crosses a symbolic link,
/// names something that exists and is not a regular file (a folder, device, pipe or socket), or a file with other
/// hard links. The folder itself is the operator's: a link in its own path is trusted. Checked when a sink is
/// defined and again each time a file is opened, so a link planted in between is still refused.
/// </summary>
public sealed partial class ExportDirectory
{
    /// <summary>Longer requested paths are refused outright (Linux's own limit is 4,096 bytes).</summary>
    public const int MaxPathLength = 1024;

    private const int NameMaxBytes = 255;

    /// <param name="root">The folder.</param>
    /// <param name="name">How messages name it (<c>the export directory</c>, <c>the CA folder</c>).</param>
    /// <param name="readOnly">
    /// Only read from (CA files): links are followed as long as the file they end at lies inside the folder as the
    /// kernel resolves it — Kubernetes mounts a Secret's files as links into a hidden folder beside them — and hard
    /// links do not matter.
    /// </param>
    public ExportDirectory(string root, string name = "the export directory", bool readOnly = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root).TrimEnd('/');
        if (Root.Length == 0)
        {
            throw new ArgumentException($"{name} cannot be the file system's root: name a folder of its own.", nameof(root));
        }

        Name = name;
        ReadOnly = readOnly;
    }

    /// <summary>The folder, absolute and normalised, without a trailing separator.</summary>
    public string Root { get; }

    /// <summary>How messages name the folder.</summary>
    public string Name { get; }

    /// <summary>Read from only: links inside it are followed while they stay inside it.</summary>
    public bool ReadOnly { get; }

    /// <summary>
    /// The absolute path a requested one stands for, when it is allowed; otherwise false and an error that names the
    /// requested path and why (nothing about what lies outside the folder).
    /// </summary>
    public bool TryResolve(string? requested, out string fullPath, out string error)
    {
        fullPath = "";
        if (string.IsNullOrWhiteSpace(requested))
        {
            error = $"is empty: give a file name inside {Name}";
            return false;
        }

        if (requested.Length > MaxPathLength)
        {
            error = $"is longer than {MaxPathLength} characters";
            return false;
        }

        if (requested.Any(char.IsControl))
        {
            error = "contains control characters";
            return false;
        }

        if (requested.EndsWith('/') || requested.EndsWith("/.", StringComparison.Ordinal) || requested is "." or "..")
        {
            error = "names a folder: give a file name inside it";
            return false;
        }

        var candidate = Path.GetFullPath(Path.IsPathRooted(requested) ? requested : Path.Combine(Root, requested));
        if (!IsInside(candidate))
        {
            error = $"leaves {Name}: give a path relative to it, without '..' above it";
            return false;
        }

        var relative = candidate[(Root.Length + 1)..];
        var names = relative.Split('/');
        if (names.Any(n => Encoding.UTF8.GetByteCount(n) > NameMaxBytes))
        {
            error = $"has a name longer than {NameMaxBytes} bytes";
            return false;
        }

        if ((ReadOnly ? CheckResolved(candidate) : CheckOnDisk(names)) is { } problem)
        {
            error = problem;
            return false;
        }

        fullPath = candidate;
        error = "";
        return true;
    }

    /// <summary>Resolves a path that must be allowed; throws <see cref="IOException"/> naming the problem otherwise.</summary>
    public string Resolve(string requested) =>
        TryResolve(requested, out var full, out var error) ? full : throw new IOException($"'{requested}' {error}.");

    /// <summary>
    /// Creates the folders between the root and a resolved file (the root too, when missing), refusing links met on
    /// the way; nothing is created outside the root.
    /// </summary>
    public void CreateParents(string fullPath)
    {
        if (!IsInside(fullPath))
        {
            throw new IOException($"'{fullPath}' is outside {Name}.");
        }

        Directory.CreateDirectory(Root);
        var names = fullPath[(Root.Length + 1)..].Split('/');
        var current = Root;
        foreach (var name in names[..^1])
        {
            current = current + "/" + name;
            switch (Stat(current))
            {
                case FileKind.Missing:
                    Directory.CreateDirectory(current);
                    break;
                case FileKind.Directory:
                    break;
                default:
                    throw new IOException($"'{current[(Root.Length + 1)..]}' is not a folder (a link or a file) inside {Name}.");
            }
        }
    }

    private bool IsInside(string fullPath) =>
        fullPath.Length > Root.Length + 1 && fullPath.StartsWith(Root, StringComparison.Ordinal) && fullPath[Root.Length] == '/';

    /// <summary>Walks the path below the root as it is on disk: every existing folder a real folder, the file a regular one.</summary>
    private string? CheckOnDisk(string[] names)
    {
        var current = Root;
        for (var i = 0; i < names.Length; i++)
        {
            current = current + "/" + names[i];
            var last = i == names.Length - 1;
            var kind = Stat(current, out var links);
            switch (kind)
            {
                case FileKind.Missing:
                    return null;
                case FileKind.Link:
                    return "crosses a symbolic link";
                case FileKind.Directory when !last:
                    continue;
                case FileKind.Regular when last:
                    return links > 1 ? "names a file with other hard links" : null;
                case FileKind.Regular:
                    return "goes through a file as if it were a folder";
                default:
                    return "names something that is not a regular file (a folder, device, pipe or socket)";
            }
        }

        return null;
    }

    /// <summary>
    /// For a folder only read from: what the path names once every link is followed (libc realpath) must be a regular
    /// file inside the folder's own real path; a name that does not exist (yet) is left to the reader.
    /// </summary>
    private string? CheckResolved(string candidate)
    {
        if (Stat(candidate) == FileKind.Missing)
        {
            return null;
        }

        var real = RealPath(candidate);
        var realRoot = RealPath(Root);
        if (real is null || realRoot is null || !real.StartsWith(realRoot + "/", StringComparison.Ordinal))
        {
            return $"leaves {Name} through a link";
        }

        return Stat(real) == FileKind.Regular ? null : "names something that is not a regular file (a folder, device, pipe or socket)";
    }

    /// <summary>The path with every link followed, as the kernel resolves it (libc realpath); null when it cannot be resolved.</summary>
    public static string? RealPath(string path)
    {
        var resolved = NativeRealPath(path, IntPtr.Zero);
        if (resolved == IntPtr.Zero)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            NativeFree(resolved);
        }
    }

    private enum FileKind
    {
        Missing,
        Regular,
        Directory,
        Link,
        Other,
    }

    private static FileKind Stat(string path) => Stat(path, out _);

    /// <summary>
    /// The kind of what a path names without following a final link (statx with AT_SYMLINK_NOFOLLOW: .NET's file APIs
    /// do not tell a device or a pipe from a regular file). Its buffer layout is the kernel's, the same on every
    /// architecture.
    /// </summary>
    private static FileKind Stat(string path, out uint links)
    {
        Span<byte> buffer = stackalloc byte[256];
        links = 0;
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType | StatxNlink, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno is ENOENT or ENOTDIR
                ? FileKind.Missing
                : throw new IOException($"Cannot inspect '{path}': {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        links = BitConverter.ToUInt32(buffer[16..20]);
        return (BitConverter.ToUInt16(buffer[28..30]) & SIfmt) switch
        {
            SIfreg => FileKind.Regular,
            SIfdir => FileKind.Directory,
            SIflnk => FileKind.Link,
            _ => FileKind.Other,
        };
    }

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const uint StatxNlink = 0x4;
    private const int ENOENT = 2;
    private const int ENOTDIR = 20;
    private const int SIfmt = 0xF000;
    private const int SIfreg = 0x8000;
    private const int SIfdir = 0x4000;
    private const int SIflnk = 0xA000;

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr NativeRealPath(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void NativeFree(IntPtr pointer);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, Span<byte> buffer);
}
