namespace Visibility.Flows.Store;

/// <summary>
/// The store could not do what was asked: the server refused it (the message carries ClickHouse's own text),
/// could not be reached, or is misconfigured. Callers retry writes; at start it is a one-line reason to stop.
/// </summary>
public sealed class StoreException : Exception
{
    public StoreException(string message) : base(message) { }

    public StoreException(string message, Exception inner) : base(message, inner) { }

    public StoreException() { }
}
