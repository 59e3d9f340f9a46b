namespace Visibility.Query.Export.Streams;

/// <summary>
/// Whether this process may still act for the store's export: hand records to a destination and record checkpoints.
/// Several processes share a store, and only the holder of its export lease streams (<c>ExportLease</c>); a stream
/// checks the fence before each batch it sends and each checkpoint it writes, and stops when it is closed.
/// </summary>
public interface IExportFence
{
    /// <summary>Records may be sent: the lease runs for longer than its safety margin.</summary>
    bool MaySend { get; }

    /// <summary>A checkpoint may be written: the lease has not run out, so no other process can have taken over yet.</summary>
    bool MayRecord { get; }
}
