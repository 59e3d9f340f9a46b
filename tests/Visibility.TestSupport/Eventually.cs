namespace Visibility.TestSupport;

/// <summary>
/// Waits for a condition with a deadline instead of a fixed sleep: a test is as fast as the system it drives,
/// and when time runs out it fails saying what did not happen, with the last value seen and any detail (such
/// as a process's output) that explains why.
/// </summary>
public static class Eventually
{
    /// <summary>How often a condition is polled unless the caller says otherwise.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Polls <paramref name="probe"/> until <paramref name="done"/> holds for its value and returns that value;
    /// throws <see cref="TimeoutException"/> naming <paramref name="what"/> when <paramref name="timeout"/> passes.
    /// A probe that throws ends the wait with its exception (a process that exited, say).
    /// </summary>
    public static async Task<T> WaitAsync<T>(
        Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what, Func<string>? detail = null, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = await probe();
        while (!done(last))
        {
            if (DateTime.UtcNow > deadline)
            {
                var more = detail is null ? "" : "\n" + detail();
                throw new TimeoutException($"{what} did not happen within {timeout}; last value: {Describe(last)}{more}");
            }

            await Task.Delay(interval ?? DefaultInterval);
            last = await probe();
        }

        return last;
    }

    /// <summary>A value as the failure shows it: a sequence by its items (an array's own text names only its type).</summary>
    private static string Describe(object? value) => value switch
    {
        null => "null",
        string text => text,
        System.Collections.IEnumerable items => "[" + string.Join(",", items.Cast<object?>()) + "]",
        _ => value.ToString() ?? "",
    };

    /// <summary>
    /// Polls like <see cref="WaitAsync{T}"/> but returns the last value when time runs out, for a caller that
    /// asserts on it and says more than a timeout could.
    /// </summary>
    public static async Task<T> LastAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = await probe();
        while (!done(last) && DateTime.UtcNow <= deadline)
        {
            await Task.Delay(interval ?? DefaultInterval);
            last = await probe();
        }

        return last;
    }

    /// <summary>Waits until <paramref name="condition"/> holds.</summary>
    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what, Func<string>? detail = null, TimeSpan? interval = null) =>
        WaitAsync(() => Task.FromResult(condition()), static done => done, timeout, what, detail, interval);

    /// <summary>Waits until <paramref name="condition"/> holds.</summary>
    public static Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<string>? detail = null, TimeSpan? interval = null) =>
        WaitAsync(condition, static done => done, timeout, what, detail, interval);
}
