namespace Visibility.TestSupport;

/// <summary>The checkout the tests run from: the folder holding Visibility.sln above the test binaries.</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Visibility.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no Visibility.sln above {AppContext.BaseDirectory}");
    }
}
