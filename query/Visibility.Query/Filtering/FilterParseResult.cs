using System.Diagnostics.CodeAnalysis;

namespace Visibility.Query.Filtering;

/// <summary>Why a filter was refused: the 1-based character position and what was expected there.</summary>
public sealed record FilterError(int Position, string Reason)
{
    /// <summary><c>position 14: expected a value after '=', found end of input</c></summary>
    public string Message => $"position {Position}: {Reason}";

    public override string ToString() => Message;
}

/// <summary>A parsed filter or the first error in it; parsing never throws.</summary>
public sealed record FilterParseResult(FilterExpression? Filter, FilterError? Error)
{
    [MemberNotNullWhen(true, nameof(Filter))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsSuccess => Error is null && Filter is not null;
}
