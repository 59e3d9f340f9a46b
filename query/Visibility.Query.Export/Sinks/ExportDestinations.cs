using System.Globalization;
using Visibility.Query.Export.Streams;

namespace Visibility.Query.Export.Sinks;

/// <summary>
/// Where sinks may send, as the operator configured it: files only under <see cref="Files"/>, CA files only from
/// <see cref="CaFiles"/>, and — for sinks defined through the API by a caller who is not an admin — network
/// destinations (syslog host and port, Kafka brokers) only from an allow-list. A refused network destination always
/// gets <see cref="NotAllowed"/>, the same text whatever it was, so the refusal cannot be used to probe hosts and
/// ports; the check runs before any connection is made. Kafka sinks never write to the topics ingest reads or
/// dead-letters to.
/// </summary>
public sealed class ExportDestinations
{
    public const string NotAllowed =
        "the destination is not one the operator allows for sinks defined through the API (Visibility:Export:AllowedDestinations); ask an admin";

    private readonly HashSet<string> allowed;
    private readonly HashSet<string> ingestTopics;

    public ExportDestinations(ExportDirectory files, ExportDirectory? caFiles, IEnumerable<string> allowedDestinations, IEnumerable<string> ingestTopics)
    {
        ArgumentNullException.ThrowIfNull(files);
        Files = files;
        CaFiles = caFiles;
        allowed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in allowedDestinations)
        {
            allowed.Add(TryParseEndpoint(entry, out var endpoint, out var error) ? endpoint : throw new ArgumentException(error));
        }

        this.ingestTopics = new HashSet<string>(ingestTopics, StringComparer.Ordinal);
    }

    /// <summary>The folder file sinks write under.</summary>
    public ExportDirectory Files { get; }

    /// <summary>The folder CA files are read from; null: syslog over TLS trusts the system's roots only.</summary>
    public ExportDirectory? CaFiles { get; }

    /// <summary>
    /// The problems of a definition's destination, each naming its field. <paramref name="trusted"/>: defined by the
    /// operator's configuration or by an admin, to whom the network allow-list does not apply.
    /// </summary>
    public IReadOnlyList<string> Check(ExportSinkDefinition definition, bool trusted)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var problems = new List<string>();
        switch (definition.Type)
        {
            case "file":
                if (!string.IsNullOrWhiteSpace(definition.Path) && !Files.TryResolve(definition.Path, out _, out var pathError))
                {
                    problems.Add($"path '{definition.Path}' {pathError}");
                }

                break;
            case "syslog":
                if (!trusted && !Allowed(definition.Host, definition.Port ?? (definition.Protocol == "tls" ? 6514 : 514)))
                {
                    problems.Add(NotAllowed);
                }

                if (definition.CaFile is { Length: > 0 } ca)
                {
                    if (CaFiles is null)
                    {
                        problems.Add("caFile needs a folder of CA files set by the operator (Visibility:Export:CaDirectory)");
                    }
                    else if (!CaFiles.TryResolve(ca, out var caPath, out var caError))
                    {
                        problems.Add($"caFile '{ca}' {caError}");
                    }
                    else if (!File.Exists(caPath))
                    {
                        problems.Add($"caFile '{ca}' is not in the CA folder");
                    }
                }

                break;
            case "kafka":
                if (!trusted && definition.BootstrapServers.Length > 0
                    && !definition.BootstrapServers.Split(',', StringSplitOptions.TrimEntries).All(b => TryParseEndpoint(b, out var broker, out _) && allowed.Contains(broker)))
                {
                    problems.Add(NotAllowed);
                }

                if (ingestTopics.Contains(definition.Topic))
                {
                    problems.Add($"topic '{definition.Topic}' is one ingest reads or dead-letters to: export to a topic of its own");
                }

                break;
        }

        return problems;
    }

    /// <summary>The absolute path of a file sink's file (checked: throws <see cref="IOException"/> when refused).</summary>
    public string FilePath(ExportSinkDefinition definition) => Files.Resolve(definition.Path);

    /// <summary>The absolute path of a syslog sink's CA file, null when it names none (throws <see cref="IOException"/> when refused).</summary>
    public string? CaFile(ExportSinkDefinition definition) =>
        string.IsNullOrEmpty(definition.CaFile) ? null
            : CaFiles?.Resolve(definition.CaFile) ?? throw new IOException("caFile needs a folder of CA files set by the operator (Visibility:Export:CaDirectory)");

    private bool Allowed(string host, int port) =>
        TryParseEndpoint(string.Create(CultureInfo.InvariantCulture, $"{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}:{port}"), out var endpoint, out _)
        && allowed.Contains(endpoint);

    /// <summary>
    /// <c>host:port</c> (an IPv6 address in brackets) in one spelling: the host in lower case without brackets'
    /// contents changed, the port as a number 1–65535.
    /// </summary>
    public static bool TryParseEndpoint(string? text, out string endpoint, out string error)
    {
        endpoint = "";
        var value = text?.Trim() ?? "";
        var colon = value.LastIndexOf(':');
        var host = colon > 0 ? value[..colon] : "";
        if (host.StartsWith('[') != host.EndsWith(']') || (!host.StartsWith('[') && host.Contains(':', StringComparison.Ordinal)))
        {
            host = "";
        }

        if (host.Length == 0 || host.Length > 255 || host.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or '@')
            || !int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            error = $"'{text}' is not host:port (an IPv6 address in brackets, a port between 1 and 65535)";
            return false;
        }

        endpoint = string.Create(CultureInfo.InvariantCulture, $"{host.ToLowerInvariant()}:{port}");
        error = "";
        return true;
    }
}
