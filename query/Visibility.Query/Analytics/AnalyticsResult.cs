using System.Diagnostics.CodeAnalysis;

namespace Visibility.Query.Analytics;

/// <summary>
/// A value, or a message saying what was wrong with the user's input. Bad input (a malformed selector, a hop
/// count out of range) is an expected outcome here, so it is returned rather than thrown.
/// </summary>
public sealed class AnalyticsResult<T>
    where T : class
{
    internal AnalyticsResult(T? value, string? error)
    {
        Value = value;
        Error = error;
    }

    public T? Value { get; }

    public string? Error { get; }

    [MemberNotNullWhen(true, nameof(Value))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsValid => Error is null;
}

/// <summary>Builds <see cref="AnalyticsResult{T}"/> values.</summary>
public static class AnalyticsResult
{
    public static AnalyticsResult<T> Ok<T>(T value)
        where T : class => new(value, null);

    public static AnalyticsResult<T> Invalid<T>(string error)
        where T : class => new(null, error);
}
