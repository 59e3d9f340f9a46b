namespace Visibility.Query.Export.Sinks;

/// <summary>
/// Where a <see cref="FileSink"/> writes and when it rotates. The current file is <see cref="Path"/>; rotated files
/// are <c>Path.1</c> (newest) to <c>Path.MaxFiles</c> (oldest), so at most <see cref="MaxFiles"/> + 1 files exist.
/// </summary>
public sealed record FileSinkOptions(string Path)
{
    public const long DefaultMaxBytes = 100L * 1024 * 1024;

    public const int DefaultMaxFiles = 5;

    /// <summary>The current file is rotated before a record would take it past this size (a single larger record gets a file of its own).</summary>
    public long MaxBytes { get; init; } = DefaultMaxBytes;

    /// <summary>Rotated files kept besides the current one; the oldest beyond this is deleted.</summary>
    public int MaxFiles { get; init; } = DefaultMaxFiles;

    /// <summary>
    /// The folder the file must lie in (the service always sets it): <see cref="Path"/> is then relative to it, and
    /// every open checks it again (<see cref="ExportDirectory"/>). Null only for callers that chose the path themselves.
    /// </summary>
    public ExportDirectory? Within { get; init; }

    /// <summary>Also rotate a non-empty current file once it is this old (null: by size only). Checked when records are sent.</summary>
    public TimeSpan? RotateEvery { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> saying which setting is wrong and why.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            throw new ArgumentException("The export file path is empty: set it to the file records are appended to.", nameof(Path));
        }

        if (Path.EndsWith('/') || (Within is null && Directory.Exists(Path)))
        {
            throw new ArgumentException($"The export file path '{Path}' names a directory: give a file name inside it.", nameof(Path));
        }

        if (MaxBytes < 1024)
        {
            throw new ArgumentException($"MaxBytes is {MaxBytes}: it must be at least 1024 bytes (default {DefaultMaxBytes}).", nameof(MaxBytes));
        }

        if (MaxFiles is < 1 or > 1000)
        {
            throw new ArgumentException($"MaxFiles is {MaxFiles}: keep between 1 and 1000 rotated files (default {DefaultMaxFiles}).", nameof(MaxFiles));
        }

        if (RotateEvery is { } every && every < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentException($"RotateEvery is {every}: it must be at least one second, or null to rotate by size only.", nameof(RotateEvery));
        }
    }
}
