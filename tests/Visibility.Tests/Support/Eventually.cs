namespace Visibility.Tests.Support;

/// <summary>Waits for a condition with a deadline; no fixed sleeps.</summary>
public static class Eventually
{
    public static async Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = await probe();
        while (!done(last))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not happen within {timeout}; last value: {last}");
            }

            await Task.Delay(50);
            last = await probe();
        }

        return last;
    }

    /// <summary>Waits until <paramref name="condition"/> holds.</summary>
    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        WaitAsync(() => Task.FromResult(condition()), static done => done, timeout, what);
}
