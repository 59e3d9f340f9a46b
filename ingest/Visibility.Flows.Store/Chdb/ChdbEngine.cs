using System.Runtime.InteropServices;

namespace Visibility.Flows.Store.Chdb;

/// <summary>
/// The embedded engine of this process. chDB allows one data directory per process, and one process per
/// data directory: this class enforces both with clear errors (a lock file in the directory, and a check
/// on the path), keeps one connection open for the life of the process (closing the last one shuts the
/// engine down), and hands out further connections that run concurrently.
/// </summary>
public sealed class ChdbEngine
{
    private const string LockFileName = ".visibility.lock";
    private static readonly Lock Gate = new();
    private static ChdbEngine? current;

    // Held open for the life of the process: the lock on the data directory is released when it closes.
    private readonly FileStream lockFile;
    private readonly ChdbConnection primary;
    private readonly List<ChdbConnection> connections = [];

    private ChdbEngine(string path, string? configFile, FileStream lockFile)
    {
        Path = path;
        ConfigFile = configFile;
        this.lockFile = lockFile;
        primary = new ChdbConnection(ConnectRaw(path, configFile));
    }

    /// <summary>The absolute data directory.</summary>
    public string Path { get; }

    /// <summary>The ClickHouse configuration file the engine was started with (absolute), or null.</summary>
    public string? ConfigFile { get; }

    /// <summary>The connection opened with the engine; it stays open for the life of the process.</summary>
    public ChdbConnection Primary => primary;

    /// <summary>
    /// Opens the engine on <paramref name="path"/>, or returns the one already open on it.
    /// <paramref name="configFile"/> is a ClickHouse server configuration file (<c>--config-file</c>: clusters in
    /// <c>remote_servers</c>, macros, settings); it applies to the whole engine, so it can only be given by the first
    /// open of the process (a later open without one gets the engine as it was started).
    /// Throws <see cref="ChdbException"/> when another process holds the directory, or when this process
    /// already opened a different one or opened it with another configuration file.
    /// </summary>
    public static ChdbEngine Open(string path, string? libraryPath = null, string? configFile = null)
    {
        var full = System.IO.Path.GetFullPath(path);
        var config = string.IsNullOrEmpty(configFile) ? null : System.IO.Path.GetFullPath(configFile);
        lock (Gate)
        {
            if (current is not null)
            {
                if (current.Path != full)
                {
                    throw new ChdbException(
                        $"This process already uses the data directory '{current.Path}'; the embedded engine " +
                        $"allows one data directory per process, so '{full}' cannot be opened as well.");
                }

                if (config is not null && config != current.ConfigFile)
                {
                    throw new ChdbException(
                        $"The embedded engine of this process was started with the configuration file " +
                        $"'{current.ConfigFile ?? "(none)"}'; it cannot be reopened with '{config}'.");
                }

                return current;
            }

            if (config is not null && !File.Exists(config))
            {
                throw new ChdbException($"The ClickHouse configuration file '{config}' does not exist.");
            }

            ChdbLibrary.Use(libraryPath);
            Directory.CreateDirectory(full);
            var lockStream = AcquireDirectoryLock(full);
            try
            {
                // chDB's own signal handlers turn the first managed exception into a hang; they must be
                // off before the engine starts.
                ChdbNative.SetSignalHandlersEnabled(0);
                current = new ChdbEngine(full, config, lockStream);
                return current;
            }
            catch
            {
                lockStream.Dispose();
                throw;
            }
        }
    }

    /// <summary>A further connection on the same data directory; it runs concurrently with the others.</summary>
    public ChdbConnection Connect()
    {
        var connection = new ChdbConnection(ConnectRaw(Path, ConfigFile));
        lock (Gate)
        {
            connections.Add(connection);
        }

        return connection;
    }

    /// <summary>
    /// Shuts the engine of this process down in order before the process exits: closing the last connection stops
    /// chDB's background work (merges, mutations), which otherwise races the process's exit and can crash it.
    /// Connections busy beyond <paramref name="timeout"/> are left to the exit. Idempotent.
    /// </summary>
    public static void Shutdown(TimeSpan timeout)
    {
        ChdbEngine? engine;
        lock (Gate)
        {
            engine = current;
        }

        if (engine is null)
        {
            return;
        }

        List<ChdbConnection> open;
        lock (Gate)
        {
            open = [.. engine.connections];
        }

        var allClosed = open.Aggregate(true, (ok, c) => c.Close(timeout) && ok);
        if (allClosed)
        {
            engine.primary.Close(timeout);
        }
    }

    private static FileStream AcquireDirectoryLock(string directory)
    {
        var lockPath = System.IO.Path.Combine(directory, LockFileName);
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock) on Unix, released when the process dies.
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new ChdbException(
                $"The data directory '{directory}' is in use by another process. One process owns a data " +
                "directory at a time: stop the other process or set Visibility__Store__Path to another directory.",
                ex);
        }
    }

    private static IntPtr ConnectRaw(string path, string? configFile)
    {
        string[] args = configFile is null
            ? ["visibility", "--path=" + path]
            : ["visibility", "--path=" + path, "--config-file=" + configFile];
        var argv = new IntPtr[args.Length];
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                argv[i] = Marshal.StringToCoTaskMemUTF8(args[i]);
            }

            var handle = ChdbNative.Connect(argv.Length, argv);
            if (handle == IntPtr.Zero || Marshal.ReadIntPtr(handle) == IntPtr.Zero)
            {
                throw new ChdbException($"The embedded ClickHouse engine could not open '{path}'.");
            }

            return handle;
        }
        finally
        {
            foreach (var arg in argv)
            {
                Marshal.FreeCoTaskMem(arg);
            }
        }
    }
}
