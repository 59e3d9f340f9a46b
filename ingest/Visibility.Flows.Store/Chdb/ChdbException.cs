namespace Visibility.Flows.Store.Chdb;

/// <summary>An error reported by the embedded ClickHouse engine; the message is ClickHouse's own text.</summary>
public sealed class ChdbException : Exception
{
    public ChdbException(string message) : base(message) { }

    public ChdbException(string message, Exception inner) : base(message, inner) { }

    public ChdbException() { }
}
