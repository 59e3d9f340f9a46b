using Visibility.Query.Export.Sinks;
using Visibility.Query.Export.Streams;

namespace Visibility.Query.Export.Runtime;

/// <summary><c>Visibility:Export</c>: the sinks records stream to, and how delivery retries.</summary>
public sealed class ExportOptions
{
    public const string Section = "Visibility:Export";

    /// <summary>The shortest lease: renewal (a quarter) must fit a claim and its settle wait (1 s) before the margin (an eighth).</summary>
    public static readonly TimeSpan MinLeaseDuration = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan MaxLeaseDuration = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Whether this process may stream to the sinks. Among the processes sharing a store, only the one holding the
    /// store's export lease does; the others take over when it stops or its lease runs out.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// How long the export lease lasts without renewal: the holder renews every quarter of it and stops sending an
    /// eighth before it runs out; after a crash another process takes over within about this long (a clean stop
    /// releases it at once).
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>syslog HOSTNAME (default: this machine's name).</summary>
    public string HostName { get; set; } = "";

    /// <summary>
    /// The folder file sinks write under; their paths are relative to it. Empty: <c>export</c> inside the store's
    /// data directory (<c>Visibility:Store:Path</c>).
    /// </summary>
    public string Directory { get; set; } = "";

    /// <summary>The folder syslog sinks' <c>caFile</c> names are read from. Empty: no CA files (the system's roots only).</summary>
    public string CaDirectory { get; set; } = "";

    /// <summary>
    /// The network destinations (<c>host:port</c>: syslog receivers, Kafka brokers) that sinks defined through the API
    /// by a caller who is not an admin may send to. Empty: such callers may define file sinks and Kafka sinks on
    /// ingest's own brokers only.
    /// </summary>
    public List<string> AllowedDestinations { get; set; } = [];

    /// <summary>Sinks by name.</summary>
    public Dictionary<string, ExportSinkDefinition> Sinks { get; set; } = new(StringComparer.Ordinal);

    public int BatchSize { get; set; } = 2_000;

    public TimeSpan ConfirmTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Where sinks may send: the folders and the allow-list above, and ingest's topics (never exported to).</summary>
    /// <exception cref="ArgumentException">A folder or an allow-list entry is not usable (the message names it).</exception>
    public ExportDestinations Destinations(string storePath, IReadOnlyCollection<string> ingestTopics)
    {
        var files = string.IsNullOrWhiteSpace(Directory) ? Path.Combine(storePath, "export") : Directory;
        return new ExportDestinations(
            new ExportDirectory(files),
            string.IsNullOrWhiteSpace(CaDirectory) ? null : new ExportDirectory(CaDirectory, "the CA folder", readOnly: true),
            AllowedDestinations,
            ingestTopics);
    }

    /// <summary>Every problem of every configured sink (configured sinks are trusted: no allow-list), each naming the sink and the field.</summary>
    public IEnumerable<string> Problems(string storePath, IReadOnlyCollection<string> ingestTopics)
    {
        ExportDestinations destinations;
        try
        {
            destinations = Destinations(storePath, ingestTopics);
        }
        catch (ArgumentException ex)
        {
            return [$"{Section}: {ex.Message}"];
        }

        return Sinks.SelectMany(kv => ExportSinkDefinition.IsName(kv.Key)
            ? kv.Value.Validate().Concat(destinations.Check(kv.Value, trusted: true)).Select(p => $"{Section}:Sinks:{kv.Key}: {p}")
            : [$"{Section}:Sinks: '{kv.Key}' is not a sink name (letters, digits, '-', '_'; at most 64)"])
        .Concat(BatchSize is < 1 or > 10_000 ? [$"{Section}:BatchSize must be between 1 and 10000"] : [])
        .Concat(LeaseDuration < MinLeaseDuration || LeaseDuration > MaxLeaseDuration
            ? [$"{Section}:LeaseDuration must be between {MinLeaseDuration.TotalSeconds:0} s and {MaxLeaseDuration.TotalMinutes:0} min"]
            : []);
    }
}
