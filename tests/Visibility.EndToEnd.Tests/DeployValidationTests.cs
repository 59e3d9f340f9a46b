using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// infra/deploy (Dockerfile, health probe, compose, ClickHouse configuration, Kubernetes manifests) passes
/// infra/deploy/validate.sh, and the script checked every such file rather than passing on an empty run.
/// </summary>
public sealed partial class DeployValidationTests
{
    [Fact]
    public async Task ValidateScript_ChecksEveryDeployFile_AndPasses()
    {
        var root = RepositoryRoot();
        var deploy = Path.Combine(root, "infra", "deploy");

        // The first run on a machine installs its tools (Debian packages, npm packages): minutes, not seconds.
        var (exitCode, stdout, stderr) = await RunAsync("bash", [Path.Combine(deploy, "validate.sh")], deploy, TimeSpan.FromMinutes(10));

        Assert.True(exitCode == 0, $"validate.sh exited {exitCode}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        var summary = SummaryLine().Match(stdout);
        Assert.True(summary.Success, $"no summary line in:\n{stdout}");
        var validated = ValidatedLine().Matches(stdout).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(validated.Count, int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

        // Every deployment file in the repository was among them (validate.sh itself and its tools aside).
        var (_, listing, _) = await RunAsync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], deploy, TimeSpan.FromSeconds(30));
        var expected = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(f => !f.StartsWith("tools/", StringComparison.Ordinal) && f != "validate.sh")
            .Where(f => DeployFile().IsMatch(f))
            .ToList();
        Assert.Contains("compose.yaml", expected);
        Assert.Contains("k8s/kustomization.yaml", expected);
        Assert.Contains("Dockerfile", expected);
        var missed = expected.Where(f => !validated.Contains(f)).ToList();
        Assert.True(missed.Count == 0, $"validate.sh did not check: {string.Join(", ", missed)}");
        Assert.Contains("../../.dockerignore", validated);
        Assert.True(validated.Count >= 14, $"only {validated.Count} files validated:\n{stdout}");
    }

    private static string RepositoryRoot()
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

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, string[] args, string directory, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = directory };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish within {timeout}; stdout:\n{await stdout}\nstderr:\n{await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    [GeneratedRegex(@"^validate: (\d+) files OK$", RegexOptions.Multiline)]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"^validated: (\S+) \(", RegexOptions.Multiline)]
    private static partial Regex ValidatedLine();

    [GeneratedRegex(@"(\.ya?ml|\.xml|\.conf|\.env|\.example|\.sh|(^|/)Dockerfile)$")]
    private static partial Regex DeployFile();
}
