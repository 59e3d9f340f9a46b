using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// The built program's command line as a user meets it: help everywhere, the version, <c>--opt=value</c>, usage
/// errors with exit code 2 and the verb's usage, shell completion, and the refusal to start without a Kafka cluster.
/// </summary>
public sealed partial class CommandLineEndToEndTests : IDisposable
{
    private readonly TempDirectory data = new("cli");

    public void Dispose() => data.Dispose();

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_ListsEveryVerb_AndStartsNothing(string flag)
    {
        var (code, stdout, stderr) = await RunAsync(flag);
        Assert.True(code == 0, stderr);
        Assert.Contains("visibility [command] [options]", stdout, StringComparison.Ordinal);
        Assert.Contains("--version", stdout, StringComparison.Ordinal);
        foreach (var verb in new[] { "serve", "ingest", "migrate", "verify-store", "dev-broker", "graph", "findings", "flows", "export", "policy", "keys", "completion" })
        {
            Assert.Matches($@"(?m)^\s+{Regex.Escape(verb)}\b", stdout);
        }

        Assert.DoesNotContain("Now listening", stdout, StringComparison.Ordinal);
        Assert.Empty(stderr);
    }

    [Fact]
    public async Task VerbHelp_IsGeneratedFromTheDefinitions()
    {
        var (code, stdout, stderr) = await RunAsync("graph", "--help");
        Assert.True(code == 0, stderr);
        Assert.Contains("visibility graph [options]", stdout, StringComparison.Ordinal);
        foreach (var option in new[] { "--last <DURATION>", "--from <TIME>", "--to <TIME>", "--filter <FILTER>", "--limit <N>", "--group-by <KEYS>", "--json", "--url <URL>", "-h, --help" })
        {
            Assert.Contains(option, stdout, StringComparison.Ordinal);
        }

        (code, stdout, stderr) = await RunAsync("policy", "draft", "--help");
        Assert.True(code == 0, stderr);
        Assert.Contains("visibility policy draft [options]", stdout, StringComparison.Ordinal);
        foreach (var option in new[] { "--include-flagged", "--format <FORMAT>", "--out <FILE>", "--name <NAME>", "--group-by <KEYS>" })
        {
            Assert.Contains(option, stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task EveryVerbsHelp_ListsEveryOptionItAccepts()
    {
        // The verbs and their options as the parser knows them, asked through the completion directive; each verb's
        // --help must show every one of them.
        var verbs = await VerbsAsync([]);
        Assert.Contains(["policy", "draft"], verbs);
        Assert.Contains(["keys", "create"], verbs);
        Assert.True(verbs.Count >= 15, string.Join(", ", verbs.Select(v => string.Join(' ', v))));
        foreach (var verb in verbs)
        {
            var name = string.Join(' ', verb);
            var options = (await SuggestAsync([.. verb, "-"])).Where(o => o.StartsWith("--", StringComparison.Ordinal)).ToList();
            Assert.Contains("--help", options);
            var (code, stdout, stderr) = await RunAsync([.. verb, "--help"]);
            Assert.True(code == 0, $"{name} --help: {stderr}");
            Assert.Contains($"visibility {name}", stdout, StringComparison.Ordinal);
            foreach (var option in options)
            {
                Assert.True(Regex.IsMatch(stdout, $@"(^|[\s,]){Regex.Escape(option)}(\s|$)", RegexOptions.Multiline), $"{name} --help does not list {option}:\n{stdout}");
            }
        }
    }

    [Fact]
    public async Task Version_IsTheInformationalVersion_WithTheCommit()
    {
        var (code, stdout, stderr) = await RunAsync("--version");
        Assert.True(code == 0, stderr);
        var version = stdout.Trim();
        Assert.Equal(FileVersionInfo.GetVersionInfo(VisibilityProcess.DllPath).ProductVersion, version);
        Assert.Matches(@"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\+([0-9a-f]{40}|unknown)$", version);
        var commit = version[(version.IndexOf('+', StringComparison.Ordinal) + 1)..];
        var (gitCode, _, _) = await ProcessRunner.RunAsync("git", ["-C", Repository.Root, "rev-parse", "--git-dir"]);
        if (gitCode == 0)
        {
            // Built from this checkout: a commit of its history (HEAD itself, unless something was committed since the build).
            var (ancestor, _, stderr2) = await ProcessRunner.RunAsync("git", ["-C", Repository.Root, "merge-base", "--is-ancestor", commit, "HEAD"]);
            Assert.True(ancestor == 0, $"{commit} is not in the history of HEAD: {stderr2}");
        }
    }

    [Fact]
    public async Task UnknownVerb_ExitsTwo_WithTheUsage()
    {
        var (code, stdout, stderr) = await RunAsync("grpah", "--last", "1h");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.StartsWith("visibility: unknown command 'grpah' (did you mean 'graph'?)", stderr, StringComparison.Ordinal);
        Assert.Contains("visibility [command] [options]", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownFlag_ExitsTwo_WithTheVerbsUsage()
    {
        var (code, stdout, stderr) = await RunAsync("graph", "--group=app");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.StartsWith("visibility graph: unknown option '--group' (did you mean '--group-by'?)", stderr, StringComparison.Ordinal);
        Assert.Contains("visibility graph [options]", stderr, StringComparison.Ordinal);

        // A value that is not one: the same exit code and the verb's usage.
        (code, _, stderr) = await RunAsync("dev-broker", "--port", "ninety");
        Assert.Equal(2, code);
        Assert.Contains("visibility dev-broker: --port needs a number from 0 to 65535, not 'ninety'", stderr, StringComparison.Ordinal);
        Assert.Contains("visibility dev-broker [options]", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await RunAsync("policy", "simulate", "--last=1h");
        Assert.Equal(2, code);
        Assert.Contains("'--ruleset' is required", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Graph_WithEqualsValues_AgainstARunningServe()
    {
        await using var service = VisibilityProcess.Start(data.Path);
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));

        // The embedded broker says at start what it keeps and what it drops.
        Assert.Contains("keeps at most 5 MiB (or 100,000 batches) per partition and drops older records", service.Output, StringComparison.Ordinal);

        var (code, stdout, stderr) = await RunAsync($"graph", $"--url={service.BaseUrl}", "--last=15m", "--group-by=app,env", "--json");
        Assert.True(code == 0, stderr);
        var graph = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(JsonValueKind.Array, graph.GetProperty("nodes").ValueKind);
        Assert.Equal(JsonValueKind.Array, graph.GetProperty("edges").ValueKind);

        // The same options with a space, and a bad filter: the API's answer, exit 1.
        (code, _, stderr) = await RunAsync("graph", "--url", service.BaseUrl, "--last", "15m", "--filter", "src.env in (dev");
        Assert.Equal(1, code);
        Assert.Contains("400 filter: position", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ingest")]
    [InlineData("serve")]
    public async Task WithoutBrokers_IngestAndServe_ExitTwo_NamingTheSettings(string verb)
    {
        var (code, stdout, stderr) = await RunAsync([verb], new Dictionary<string, string>
        {
            ["Visibility__Store__Path"] = Path.Combine(data.Path, "store"),
            ["Visibility__Kafka__BootstrapServers"] = "",
            ["Visibility__Http__Urls"] = $"http://127.0.0.1:{FreePorts.Tcp()}",
            ["Visibility__Auth__Disabled"] = "true",
        });
        Assert.Equal(2, code);
        Assert.Contains($"visibility: {verb} needs a Kafka cluster: set Visibility__Kafka__BootstrapServers=", stderr, StringComparison.Ordinal);
        Assert.Contains("Visibility__Kafka__Embedded=true", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Development Kafka broker", stdout + stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(data.Path, "store")), "nothing was opened");
    }

    [Fact]
    public async Task Completion_ForBash_CompletesVerbsAndOptions()
    {
        var (code, script, stderr) = await RunAsync("completion", "bash");
        Assert.True(code == 0, stderr);
        Assert.Contains("complete -o default -F _visibility_complete visibility", script, StringComparison.Ordinal);

        // The script in a real bash, with `visibility` on the PATH as the .NET tool puts it.
        var bin = Path.Combine(data.Path, "bin");
        Directory.CreateDirectory(bin);
        var wrapper = Path.Combine(bin, "visibility");
        await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\nexec dotnet '{VisibilityProcess.DllPath}' \"$@\"\n");
        await File.WriteAllTextAsync(Path.Combine(data.Path, "completion.bash"), script);
        var probe = $$"""
            chmod +x '{{wrapper}}'
            export PATH='{{bin}}':"$PATH"
            source '{{Path.Combine(data.Path, "completion.bash")}}'
            complete_line() { COMP_LINE="$1"; COMP_POINT=${#1}; read -ra COMP_WORDS <<< "$1"; [[ "$1" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _visibility_complete; echo "${COMPREPLY[*]}"; }
            complete_line "visibility gr"
            complete_line "visibility policy d"
            complete_line "visibility findings --min-severity h"
            """;
        (code, var stdout, stderr) = await ProcessRunner.RunAsync("bash", ["-c", probe], timeout: TimeSpan.FromSeconds(60));
        Assert.True(code == 0, stderr);
        Assert.Equal(["graph", "diff draft", "high"], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>Every verb (leaf command) below <paramref name="path"/>, as completion lists them.</summary>
    private static async Task<List<string[]>> VerbsAsync(string[] path)
    {
        var words = (await SuggestAsync([.. path, ""])).Where(w => !w.StartsWith('-') && !w.StartsWith('/')).ToList();
        if (path.Length > 0 && !words.Except(["bash"]).Any())
        {
            return [path];
        }

        var verbs = new List<string[]>();
        foreach (var word in words.Where(w => w != "bash"))
        {
            verbs.AddRange(await VerbsAsync([.. path, word]));
        }

        return verbs;
    }

    /// <summary>What completion offers after <paramref name="words"/> (the last one being completed).</summary>
    private static async Task<List<string>> SuggestAsync(string[] words)
    {
        var line = "visibility " + string.Join(' ', words);
        var (code, stdout, stderr) = await RunAsync($"[suggest:{line.Length}]", line);
        Assert.True(code == 0, stderr);
        return [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args) => VisibilityProcess.RunCommandAsync(args);

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] args, IReadOnlyDictionary<string, string> environment) =>
        VisibilityProcess.RunCommandAsync(args, environment);
}
