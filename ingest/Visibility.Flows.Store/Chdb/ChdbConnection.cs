using System.Runtime.InteropServices;
using System.Text;

namespace Visibility.Flows.Store.Chdb;

/// <summary>
/// One chDB connection. Calls on a connection are serialized by the engine, so this class serializes them
/// too (a waiting caller does not block a thread); separate connections on the same path run concurrently.
/// An open insert stream blocks its connection, so writers should use a connection of their own.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Connections live as long as the engine, which lives as long as the process (closing the last one shuts chDB down).")]
public sealed class ChdbConnection
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly IntPtr handlePointer;
    private bool closed;

    internal ChdbConnection(IntPtr handlePointer)
    {
        this.handlePointer = handlePointer;
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the call in progress, then closes the connection; later calls
    /// fail. Returns false when the connection was busy and was left open.
    /// </summary>
    internal bool Close(TimeSpan timeout)
    {
        if (!gate.Wait(timeout))
        {
            return false;
        }

        if (!closed)
        {
            closed = true;
            ChdbNative.CloseConnection(handlePointer);
        }

        // The gate stays taken: nothing may use a closed connection.
        return true;
    }

    private IntPtr Handle => Marshal.ReadIntPtr(handlePointer);

    /// <summary>Runs a statement and discards its output.</summary>
    public Task ExecuteAsync(string sql, CancellationToken cancellationToken = default, params ReadOnlySpan<QueryParameter> parameters)
    {
        var copy = parameters.ToArray();
        return QueryAsync(sql, "Null", static _ => 0, copy, cancellationToken);
    }

    /// <summary>Runs a query and returns its output as text in <paramref name="format"/>.</summary>
    public Task<string> QueryTextAsync(string sql, string format = "TabSeparated", IReadOnlyList<QueryParameter>? parameters = null, CancellationToken cancellationToken = default)
        => QueryAsync(sql, format, static bytes => Encoding.UTF8.GetString(bytes), parameters, cancellationToken);

    /// <summary>
    /// Runs a query with server-side bound parameters (<c>{name:Type}</c> placeholders; values are never
    /// spliced into the SQL) and hands the engine's output buffer to <paramref name="read"/> without a copy.
    /// </summary>
    public async Task<T> QueryAsync<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter>? parameters = null, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            return Query(sql, format, read, parameters ?? []);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Inserts <paramref name="data"/>, encoded in <paramref name="format"/>, through the stream-insert API
    /// (never inline in the query text). Returns the rows written.
    /// </summary>
    public Task<ulong> InsertAsync(string insertSql, string format, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        => InsertAsync(insertSql, format, [data], cancellationToken);

    /// <summary>
    /// Inserts the concatenation of <paramref name="chunks"/> as one insert (one part per table partition), each
    /// chunk appended to the stream as it is. Returns the rows written.
    /// </summary>
    public async Task<ulong> InsertAsync(string insertSql, string format, IReadOnlyList<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            return Insert(insertSql, format, chunks);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Parameter values are read in ClickHouse's escaped text form (as over HTTP): a backslash, tab or line feed in a
    /// value must be escaped to arrive as itself.
    /// </summary>
    internal static string EscapeParameter(string value) =>
        value.AsSpan().IndexOfAny('\\', '\t', '\n') < 0
            ? value
            : value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private unsafe T Query<T>(string sql, string format, ReadSpan<T> read, IReadOnlyList<QueryParameter> parameters)
    {
        var sqlBytes = Encoding.UTF8.GetBytes(sql);
        var formatBytes = Encoding.UTF8.GetBytes(format);
        var count = parameters.Count;
        var names = new byte[count][];
        var values = new byte[count][];
        var handles = new GCHandle[count * 2];
        var namePtrs = new IntPtr[count];
        var valuePtrs = new IntPtr[count];
        var nameLengths = new nuint[count];
        var valueLengths = new nuint[count];
        try
        {
            for (var i = 0; i < count; i++)
            {
                names[i] = Encoding.UTF8.GetBytes(parameters[i].Name);
                values[i] = Encoding.UTF8.GetBytes(EscapeParameter(parameters[i].Value));
                handles[2 * i] = GCHandle.Alloc(names[i], GCHandleType.Pinned);
                handles[(2 * i) + 1] = GCHandle.Alloc(values[i], GCHandleType.Pinned);
                namePtrs[i] = handles[2 * i].AddrOfPinnedObject();
                valuePtrs[i] = handles[(2 * i) + 1].AddrOfPinnedObject();
                nameLengths[i] = (nuint)names[i].Length;
                valueLengths[i] = (nuint)values[i].Length;
            }

            IntPtr result;
            fixed (byte* q = sqlBytes)
            fixed (byte* f = formatBytes)
            fixed (IntPtr* n = namePtrs)
            fixed (IntPtr* v = valuePtrs)
            fixed (nuint* nl = nameLengths)
            fixed (nuint* vl = valueLengths)
            {
                result = ChdbNative.QueryWithParams(Handle, q, (nuint)sqlBytes.Length, f, (nuint)formatBytes.Length, n, nl, v, vl, (nuint)count);
            }

            if (result == IntPtr.Zero)
            {
                throw new ChdbException("The embedded ClickHouse engine returned no result.");
            }

            try
            {
                ThrowIfError(ChdbNative.ResultError(result));
                var length = checked((int)ChdbNative.ResultLength(result));
                var buffer = ChdbNative.ResultBuffer(result);
                var span = length == 0 || buffer == IntPtr.Zero ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>((void*)buffer, length);
                return read(span);
            }
            finally
            {
                ChdbNative.DestroyResult(result);
            }
        }
        finally
        {
            foreach (var handle in handles)
            {
                if (handle.IsAllocated)
                {
                    handle.Free();
                }
            }
        }
    }

    private unsafe ulong Insert(string insertSql, string format, IReadOnlyList<ReadOnlyMemory<byte>> chunks)
    {
        var sqlBytes = Encoding.UTF8.GetBytes(insertSql);
        var formatBytes = Encoding.UTF8.GetBytes(format);
        IntPtr stream;
        fixed (byte* q = sqlBytes)
        fixed (byte* f = formatBytes)
        {
            stream = ChdbNative.StreamInsert(Handle, q, (nuint)sqlBytes.Length, f, (nuint)formatBytes.Length);
        }

        try
        {
            ThrowIfError(ChdbNative.StreamInsertError(stream));
            foreach (var chunk in chunks)
            {
                fixed (byte* d = chunk.Span)
                {
                    if (ChdbNative.StreamAppend(stream, d, (nuint)chunk.Length) != 0)
                    {
                        ThrowIfError(ChdbNative.StreamInsertError(stream));
                        throw new ChdbException("The embedded ClickHouse engine refused the inserted data.");
                    }
                }
            }

            var result = ChdbNative.StreamDone(stream);
            try
            {
                if (result != IntPtr.Zero)
                {
                    ThrowIfError(ChdbNative.ResultError(result));
                }

                ThrowIfError(ChdbNative.StreamInsertError(stream));
                return result == IntPtr.Zero ? 0 : ChdbNative.ResultRowsWritten(result);
            }
            finally
            {
                if (result != IntPtr.Zero)
                {
                    ChdbNative.DestroyResult(result);
                }
            }
        }
        finally
        {
            ChdbNative.DestroyInsertStream(stream);
        }
    }

    private static void ThrowIfError(IntPtr error)
    {
        if (error == IntPtr.Zero)
        {
            return;
        }

        var message = Marshal.PtrToStringUTF8(error);
        if (!string.IsNullOrEmpty(message))
        {
            throw new ChdbException(message.Trim());
        }
    }
}

/// <summary>Reads an engine output buffer in place; the span is valid only during the call.</summary>
public delegate T ReadSpan<out T>(ReadOnlySpan<byte> output);

/// <summary>A value bound to a <c>{name:Type}</c> placeholder, in ClickHouse's text form for that type.</summary>
public readonly record struct QueryParameter(string Name, string Value);
