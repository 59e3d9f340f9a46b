using System.Runtime.InteropServices;

namespace Visibility.Flows.Store.Chdb;

/// <summary>
/// P/Invoke surface of libchdb (chdb.h, chDB 26.7). Only the calls this project uses.
/// Handles are opaque pointers; <see cref="ChdbEngine"/> and <see cref="ChdbConnection"/> own them.
/// </summary>
internal static partial class ChdbNative
{
    public const string Library = "chdb";

    [LibraryImport(Library, EntryPoint = "chdb_set_signal_handlers_enabled")]
    public static partial void SetSignalHandlersEnabled(int enabled);

    [LibraryImport(Library, EntryPoint = "chdb_version")]
    public static partial IntPtr Version();

    /// <summary>Returns a pointer to a connection handle (chdb_connection*), or null.</summary>
    [LibraryImport(Library, EntryPoint = "chdb_connect")]
    public static partial IntPtr Connect(int argc, IntPtr[] argv);

    [LibraryImport(Library, EntryPoint = "chdb_close_conn")]
    public static partial void CloseConnection(IntPtr connectionPointer);

    [LibraryImport(Library, EntryPoint = "chdb_query_with_params_n")]
    public static unsafe partial IntPtr QueryWithParams(
        IntPtr connection, byte* query, nuint queryLength, byte* format, nuint formatLength,
        IntPtr* names, nuint* nameLengths, IntPtr* values, nuint* valueLengths, nuint count);

    [LibraryImport(Library, EntryPoint = "chdb_destroy_query_result")]
    public static partial void DestroyResult(IntPtr result);

    [LibraryImport(Library, EntryPoint = "chdb_result_buffer")]
    public static partial IntPtr ResultBuffer(IntPtr result);

    [LibraryImport(Library, EntryPoint = "chdb_result_length")]
    public static partial nuint ResultLength(IntPtr result);

    [LibraryImport(Library, EntryPoint = "chdb_result_error")]
    public static partial IntPtr ResultError(IntPtr result);

    [LibraryImport(Library, EntryPoint = "chdb_result_rows_written")]
    public static partial ulong ResultRowsWritten(IntPtr result);

    [LibraryImport(Library, EntryPoint = "chdb_stream_insert_n")]
    public static unsafe partial IntPtr StreamInsert(IntPtr connection, byte* query, nuint queryLength, byte* format, nuint formatLength);

    [LibraryImport(Library, EntryPoint = "chdb_stream_append")]
    public static unsafe partial int StreamAppend(IntPtr stream, byte* data, nuint length);

    [LibraryImport(Library, EntryPoint = "chdb_stream_done")]
    public static partial IntPtr StreamDone(IntPtr stream);

    [LibraryImport(Library, EntryPoint = "chdb_stream_insert_error")]
    public static partial IntPtr StreamInsertError(IntPtr stream);

    [LibraryImport(Library, EntryPoint = "chdb_destroy_insert_stream")]
    public static partial void DestroyInsertStream(IntPtr stream);
}
