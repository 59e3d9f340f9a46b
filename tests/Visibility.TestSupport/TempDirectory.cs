namespace Visibility.TestSupport;

/// <summary>
/// A directory of the test's own below the system's temporary directory, deleted with everything in it on
/// dispose unless <c>VISIBILITY_KEEP_TEST_DATA</c> is set (to look at what a failed test left).
/// </summary>
public sealed class TempDirectory : IDisposable
{
    /// <summary>
    /// Names a fresh directory; with <paramref name="create"/> it is made now, otherwise it is left for the code
    /// under test to make (a data directory the program creates itself).
    /// </summary>
    public TempDirectory(string prefix, bool create = false)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        if (create)
        {
            Directory.CreateDirectory(Path);
        }
    }

    public string Path { get; }

    public void Dispose()
    {
        if (Directory.Exists(Path) && Environment.GetEnvironmentVariable("VISIBILITY_KEEP_TEST_DATA") is null)
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
