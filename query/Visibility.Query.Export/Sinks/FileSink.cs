namespace Visibility.Query.Export.Sinks;

/// <summary>
/// Records as lines appended to a file (each body and <c>\n</c>; with the <c>json</c> format, JSON lines), rotated by
/// size and optionally by age (see <see cref="FileSinkOptions"/>). An existing file is appended to, so a restart goes on
/// in the same file. Confirmation is <c>fsync</c>: once per <see cref="SendAsync"/> and before each rotation.
/// A failed write or <c>fsync</c> closes the file and throws; the items stay. The next send reopens the path, cuts off
/// whatever follows the last confirmed line (a partial line, or lines whose write-back may have failed) and writes
/// every unconfirmed item again, so a line is never lost, split or written twice. The sink owns its file: nothing
/// else should write to it.
/// </summary>
public sealed class FileSink : IExportSink
{
    private const int ChunkBytes = 256 * 1024;
    private const byte NewLine = (byte)'\n';

    private readonly FileSinkOptions options;
    private readonly TimeProvider clock;
    private readonly string path;
    private readonly byte[] chunk = new byte[ChunkBytes];

    // Items taken and not yet confirmed, in order. The first `written` of them are complete lines in the current file,
    // which ends at `writtenLength` after them; the file is fsynced up to `confirmedLength`.
    private readonly List<ExportItem> pending = [];
    private int written;
    private long writtenLength;
    private long confirmedLength;
    private FileStream? file;
    private DateTimeOffset openedAt;

    // Set by a failure until the next open, which cuts the file back to `confirmedBefore` (its confirmed length).
    private bool failed;
    private long confirmedBefore;

    public FileSink(FileSinkOptions options, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.options = options;
        this.clock = clock ?? TimeProvider.System;
        path = options.Within is { } within ? within.Resolve(options.Path) : System.IO.Path.GetFullPath(options.Path);
        Destination = "file://" + path;
    }

    public string Destination { get; }

    public int Pending => pending.Count;

    /// <summary>Files rotated away (renamed to <c>.1</c>).</summary>
    public long Rotations { get; private set; }

    /// <summary>Records written and fsynced.</summary>
    public long Confirmed { get; private set; }

    /// <summary>Sends that failed (a write, an fsync, opening or rotating).</summary>
    public long Failures { get; private set; }

    public Task SendAsync(IReadOnlyList<ExportItem> items, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        pending.AddRange(items);
        try
        {
            WritePending(cancellationToken);
            return Task.CompletedTask;
        }
        catch (OperationCanceledException e)
        {
            // Stopped between chunks: what was written is complete lines, and stays pending until a later send fsyncs it.
            return Task.FromCanceled(e.CancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            Failures++;
            CloseAfterFailure();
            return Task.FromException(new IOException(
                $"Export file {path}: {e.Message} {pending.Count - written} record(s) are not written and {written} not yet confirmed; " +
                "they stay with the sink and the next send writes them.", e));
        }
    }

    public Task<bool> WaitConfirmedAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        Task.FromResult(pending.Count == 0);

    public ValueTask DisposeAsync()
    {
        file?.Dispose();
        file = null;
        return ValueTask.CompletedTask;
    }

    private void WritePending(CancellationToken cancellationToken)
    {
        if (pending.Count == 0)
        {
            return;
        }

        var current = file ?? Open();
        var now = clock.GetUtcNow();
        var chunked = 0;
        var chunkItems = 0;
        while (written + chunkItems < pending.Count)
        {
            var body = pending[written + chunkItems].Body.Span;
            var length = writtenLength + chunked;
            var tooOld = options.RotateEvery is { } every && now - openedAt >= every;
            if (length > 0 && (length + body.Length + 1 > options.MaxBytes || tooOld))
            {
                WriteChunk(current, ref chunked, ref chunkItems);
                Sync(current);
                current = Rotate(now);
                continue;
            }

            if (chunked + body.Length + 1 > ChunkBytes)
            {
                if (chunked > 0)
                {
                    WriteChunk(current, ref chunked, ref chunkItems);
                    cancellationToken.ThrowIfCancellationRequested();
                    continue;
                }

                // Larger than a chunk: written on its own, as two writes; a failure between them leaves a partial line
                // past `writtenLength`, which the retry cuts off.
                current.Write(body);
                current.Write([NewLine]);
                writtenLength += body.Length + 1;
                written++;
                continue;
            }

            body.CopyTo(chunk.AsSpan(chunked));
            chunk[chunked + body.Length] = NewLine;
            chunked += body.Length + 1;
            chunkItems++;
        }

        WriteChunk(current, ref chunked, ref chunkItems);
        Sync(current);
    }

    private void WriteChunk(FileStream current, ref int chunked, ref int chunkItems)
    {
        if (chunked == 0)
        {
            return;
        }

        current.Write(chunk, 0, chunked);
        writtenLength += chunked;
        written += chunkItems;
        chunked = 0;
        chunkItems = 0;
    }

    /// <summary>fsyncs the current file: everything written to it is confirmed.</summary>
    private void Sync(FileStream current)
    {
        current.Flush(flushToDisk: true);
        pending.RemoveRange(0, written);
        Confirmed += written;
        written = 0;
        confirmedLength = writtenLength;
    }

    /// <summary>
    /// Opens the path for appending. After a failure, everything past the last confirmed line goes and the unconfirmed
    /// items are written again: a descriptor opened after a failed write-back may not see that error, so only an fsync
    /// that succeeded proves a line is on disk. A file shorter than that is not the one the sink wrote (replaced or cut
    /// by someone else): the unconfirmed items are appended to it.
    /// </summary>
    private FileStream Open()
    {
        if (options.Within is { } within)
        {
            // Again at every open: a link or a device put in place since the sink was defined is refused here.
            within.Resolve(path);
            within.CreateParents(path);
        }
        else if (System.IO.Path.GetDirectoryName(path) is { } directory)
        {
            Directory.CreateDirectory(directory);
        }

        var existed = File.Exists(path);
        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            BufferSize = 0,
        });
        try
        {
            written = 0;
            writtenLength = confirmedLength = 0;
            if (stream.CanSeek)
            {
                if (failed && stream.Length >= confirmedBefore)
                {
                    stream.SetLength(confirmedBefore);
                }

                stream.Position = stream.Length;
                writtenLength = confirmedLength = stream.Length;
            }

            openedAt = existed && stream.Length > 0 ? Min(File.GetCreationTimeUtc(path), clock.GetUtcNow()) : clock.GetUtcNow();
            failed = false;
            file = stream;
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Closes the current file, shifts <c>.1</c> → <c>.2</c> … (dropping the oldest) and renames it <c>.1</c>; opens a new one.</summary>
    private FileStream Rotate(DateTimeOffset now)
    {
        file!.Dispose();
        file = null;
        File.Delete($"{path}.{options.MaxFiles}");
        for (var n = options.MaxFiles - 1; n >= 1; n--)
        {
            if (File.Exists($"{path}.{n}"))
            {
                File.Move($"{path}.{n}", $"{path}.{n + 1}", overwrite: true);
            }
        }

        File.Move(path, path + ".1", overwrite: true);
        writtenLength = confirmedLength = 0;
        Rotations++;
        var opened = Open();
        openedAt = now;
        return opened;
    }

    private void CloseAfterFailure()
    {
        failed = true;
        confirmedBefore = confirmedLength;
        try
        {
            file?.Dispose();
        }
        catch (IOException)
        {
            // Closing flushes nothing (the stream has no buffer); an error here repeats the one being reported.
        }

        file = null;
    }

    private static DateTimeOffset Min(DateTime utc, DateTimeOffset other)
    {
        var value = new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc));
        return value < other ? value : other;
    }
}
