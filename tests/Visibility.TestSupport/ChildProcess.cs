using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Visibility.TestSupport;

/// <summary>
/// A long-running child process a test starts and watches (the program under test, a store endpoint, a broker):
/// its output lines are kept as they arrive, waits fail at once with that output when it exits, and disposing it
/// kills it with its whole tree.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly ConcurrentQueue<string> output = new();
    private readonly int keepLines;
    private bool disposed;

    private ChildProcess(Process process, string name, int keepLines)
    {
        this.process = process;
        this.keepLines = keepLines;
        Name = name;
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>What failure messages call the process.</summary>
    public string Name { get; }

    public int Id => process.Id;

    public bool HasExited => process.HasExited;

    public int ExitCode => process.ExitCode;

    /// <summary>The output lines kept so far, standard output and error interleaved as they arrived.</summary>
    public IReadOnlyList<string> Lines => [.. output];

    public string Output => string.Join('\n', output);

    /// <summary>The most memory the process has had resident (VmHWM), in bytes.</summary>
    public long PeakResidentBytes => StatusBytes("VmHWM:");

    /// <summary>The memory the process has resident now (VmRSS), in bytes.</summary>
    public long ResidentBytes => StatusBytes("VmRSS:");

    /// <summary>The start information for <paramref name="command"/> (program, then its arguments).</summary>
    public static ProcessStartInfo Command(IEnumerable<string> command, string? directory = null)
    {
        var parts = command.ToList();
        var info = new ProcessStartInfo(parts[0]);
        foreach (var arg in parts.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        if (directory is not null)
        {
            info.WorkingDirectory = directory;
        }

        return info;
    }

    /// <summary>
    /// Starts <paramref name="info"/>, keeping all its output or, with <paramref name="keepLines"/>, the latest lines;
    /// <paramref name="name"/> (the program's file name unless given) is what failure messages call it.
    /// </summary>
    public static ChildProcess Start(ProcessStartInfo info, string? name = null, int keepLines = int.MaxValue)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        name ??= info.FileName;
        return new ChildProcess(Process.Start(info) ?? throw new InvalidOperationException($"could not start {name}"), name, keepLines);
    }

    /// <summary>Throws with the output when the process has exited: for probes that should stop waiting then.</summary>
    public void ThrowIfExited()
    {
        if (process.HasExited)
        {
            throw new InvalidOperationException($"{Name} exited with {process.ExitCode}:\n{Output}");
        }
    }

    /// <summary>
    /// Polls <paramref name="probe"/> until <paramref name="done"/> holds for its value, as <see cref="Eventually"/>
    /// does; fails with the output if the process has exited without it, or time runs out.
    /// </summary>
    public Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what, TimeSpan? interval = null) =>
        Eventually.WaitAsync(
            async () =>
            {
                var value = await probe();
                if (!done(value))
                {
                    ThrowIfExited();
                }

                return value;
            },
            done, timeout, $"{Name}: {what}", () => Output, interval ?? TimeSpan.FromMilliseconds(100));

    /// <summary>Waits for an output line matching <paramref name="pattern"/> and returns the match.</summary>
    public Task<Match> WaitForLineAsync(Regex pattern, TimeSpan timeout) =>
        WaitAsync(() => Task.FromResult(FirstMatch(pattern)), static m => m.Success, timeout, $"a line /{pattern}/");

    /// <summary>Stops the process the way an operator does (SIGTERM) and waits for it to exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
    }

    /// <summary>Kills the process tree without warning (SIGKILL), as a crash or the OOM killer would.</summary>
    public async Task KillAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Waits for the process to exit, its output read to the end, and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        process.WaitForExit();
        return process.ExitCode;
    }

    /// <summary>Kills and releases the process; a second call (after a test killed it on purpose) does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        await KillAsync();
        process.Dispose();
    }

    private Match FirstMatch(Regex pattern)
    {
        foreach (var line in output)
        {
            var match = pattern.Match(line);
            if (match.Success)
            {
                return match;
            }
        }

        return Match.Empty;
    }

    private long StatusBytes(string field)
    {
        var line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        output.Enqueue(line);
        while (output.Count > keepLines)
        {
            output.TryDequeue(out _);
        }
    }
}
