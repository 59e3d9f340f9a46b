using System.Collections;
using System.Runtime.CompilerServices;

namespace Visibility.Query.Filtering;

/// <summary>Which end of a flow a field reads.</summary>
public enum FieldSide
{
    /// <summary>The source end: <c>src.env</c>.</summary>
    Src,

    /// <summary>The destination end: <c>dst.env</c>.</summary>
    Dst,

    /// <summary>
    /// Either end, written without a side (<c>env = prod</c>): <c>=</c> and <c>in</c> hold when the source or the
    /// destination matches; <c>!=</c> and <c>not in</c> are their negations, so they hold when neither end matches.
    /// </summary>
    Either,

    /// <summary>A field of the flow itself: <c>proto</c>, <c>finding</c>, and <c>port</c> (the destination port).</summary>
    None,
}

public enum FilterOperator
{
    Equal,
    NotEqual,
    In,
    NotIn,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// <summary>
/// A field as written: <c>src.env</c> is (<see cref="FieldSide.Src"/>, <c>env</c>), <c>env</c> is
/// (<see cref="FieldSide.Either"/>, <c>env</c>), <c>port</c> is (<see cref="FieldSide.None"/>, <c>port</c>).
/// </summary>
public sealed record FilterField(FieldSide Side, string Key)
{
    public override string ToString() => Side switch
    {
        FieldSide.Src => "src." + Key,
        FieldSide.Dst => "dst." + Key,
        _ => Key,
    };
}

/// <summary>
/// A parsed filter: immutable, compared by value, and printed (<see cref="ToString"/>) in a canonical form that
/// parses back to an equal expression.
/// </summary>
public abstract record FilterExpression
{
    public sealed override string ToString() => FilterFormatter.Format(this);
}

/// <summary>The empty filter: every flow.</summary>
public sealed record MatchAllFilter : FilterExpression
{
    public static MatchAllFilter Instance { get; } = new();
}

/// <summary>All operands hold. The parser flattens <c>a and (b and c)</c> into one node of three operands.</summary>
public sealed record AndFilter(ValueList<FilterExpression> Operands) : FilterExpression;

/// <summary>Any operand holds. Flattened like <see cref="AndFilter"/>.</summary>
public sealed record OrFilter(ValueList<FilterExpression> Operands) : FilterExpression;

public sealed record NotFilter(FilterExpression Operand) : FilterExpression;

/// <summary>
/// <c>field op value</c> or <c>field [not] in (values)</c>. Values are in the normal form the parser gives them
/// (protocol, kind and finding names in lower case, numbers without leading zeros, addresses as .NET prints them).
/// </summary>
public sealed record ComparisonFilter(FilterField Field, FilterOperator Operator, ValueList<string> Values) : FilterExpression;

/// <summary>Builds <see cref="ValueList{T}"/> from collection expressions: <c>new AndFilter([a, b])</c>.</summary>
public static class ValueList
{
    public static ValueList<T> Create<T>(ReadOnlySpan<T> items) => new(items.ToArray());
}

/// <summary>An immutable list compared by its items, so the records holding it compare by value.</summary>
[CollectionBuilder(typeof(ValueList), nameof(ValueList.Create))]
public sealed class ValueList<T> : IReadOnlyList<T>, IEquatable<ValueList<T>>
{
    private readonly T[] items;

    public ValueList(IEnumerable<T> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        this.items = [.. items];
    }

    public int Count => items.Length;

    public T this[int index] => items[index];

    public bool Equals(ValueList<T>? other) =>
        other is not null && (ReferenceEquals(this, other) || items.AsSpan().SequenceEqual(other.items, EqualityComparer<T>.Default));

    public override bool Equals(object? obj) => Equals(obj as ValueList<T>);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var item in items)
        {
            hash.Add(item);
        }

        return hash.ToHashCode();
    }

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => items.GetEnumerator();
}
