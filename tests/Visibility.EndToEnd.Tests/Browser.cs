using Microsoft.Playwright;

namespace Visibility.EndToEnd.Tests;

/// <summary>Debian's chromium under Playwright, with no browser download and no stray network look-ups.</summary>
internal static class Browser
{
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>Where screenshots go: <c>artifacts/browser-tests/</c> at the repository root (kept out of git).</summary>
    public static string ArtifactsDirectory
    {
        get
        {
            var dir = Environment.GetEnvironmentVariable("VISIBILITY_TEST_ARTIFACTS")
                ?? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(VisibilityProcess.DllPath)!, "..", "..", "..", "..", "artifacts", "browser-tests"));
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    public static Task<IBrowser> LaunchAsync(IPlaywright playwright)
    {
        if (!File.Exists(Chromium))
        {
            throw new InvalidOperationException($"{Chromium} is missing: `make deps` installs Debian's chromium");
        }

        return playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            ],
        });
    }
}
