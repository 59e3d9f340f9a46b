namespace Visibility.EndToEnd.Tests;

/// <summary>A data directory of the test's own, deleted afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix) =>
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");

    public string Path { get; }

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            if (Environment.GetEnvironmentVariable("VISIBILITY_KEEP_TEST_DATA") is null) { Directory.Delete(Path, recursive: true); }
        }
    }
}
