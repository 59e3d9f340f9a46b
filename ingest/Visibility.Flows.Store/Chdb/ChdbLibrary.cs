using System.Reflection;
using System.Runtime.InteropServices;

namespace Visibility.Flows.Store.Chdb;

/// <summary>
/// Finds libchdb.so. It is not in the repository: infra/chdb/fetch-chdb.sh puts it in a cache
/// (<c>$VISIBILITY_CACHE</c> or <c>~/.cache/visibility</c>), and the build runs that script when it is missing.
/// </summary>
public static class ChdbLibrary
{
    public const string Version = "26.7.3-stable.1";
    private static readonly Lock Gate = new();
    private static string? resolvedPath;
    private static bool resolverInstalled;

    /// <summary>The path that will be (or was) loaded: an explicit path, <c>VISIBILITY_CHDB_LIBRARY</c>, or the cache.</summary>
    public static string DefaultPath()
    {
        var explicitPath = Environment.GetEnvironmentVariable("VISIBILITY_CHDB_LIBRARY");
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return explicitPath;
        }

        var cache = Environment.GetEnvironmentVariable("VISIBILITY_CACHE");
        if (string.IsNullOrEmpty(cache))
        {
            cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "visibility");
        }

        return Path.Combine(cache, "chdb", Version, "libchdb.so");
    }

    /// <summary>Points the P/Invoke binding at <paramref name="path"/> (or the default); the first call wins.</summary>
    public static string Use(string? path = null)
    {
        lock (Gate)
        {
            if (resolvedPath is not null)
            {
                return resolvedPath;
            }

            var candidate = string.IsNullOrEmpty(path) ? DefaultPath() : path;
            if (!File.Exists(candidate))
            {
                throw new ChdbException(
                    $"The embedded ClickHouse engine was not found at '{candidate}'. " +
                    "Run infra/chdb/fetch-chdb.sh (make does this) or set VISIBILITY_CHDB_LIBRARY.");
            }

            resolvedPath = candidate;
            if (!resolverInstalled)
            {
                NativeLibrary.SetDllImportResolver(typeof(ChdbLibrary).Assembly, Resolve);
                resolverInstalled = true;
            }

            return resolvedPath;
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != ChdbNative.Library || resolvedPath is null)
        {
            return IntPtr.Zero;
        }

        return NativeLibrary.Load(resolvedPath);
    }
}
