using Visibility.Ingest.Enrichment;

namespace Visibility.Ingest.Decoding;

/// <summary>What the decoders take from configuration.</summary>
public sealed class DecoderSettings
{
    public const string Section = "Visibility:Decoding";

    /// <summary>
    /// The AWS VPC flow log format: field names in order (<c>srcaddr</c> or <c>${srcaddr}</c>); empty for the
    /// default version 2 format. A header line in the stream replaces it.
    /// </summary>
    public IList<string> AwsFieldOrder { get; } = [];

    /// <summary>
    /// How long a refused 5-tuple may be quiet and its next packet still be a retransmission of the same attempt
    /// (<c>ulogd2-nflog</c> records, Hubble drops); see <see cref="AttemptTracker"/>.
    /// </summary>
    public TimeSpan AttemptWindow { get; set; } = AttemptTracker.DefaultWindow;

    /// <summary>What start-up says when <see cref="AttemptWindow"/> is not positive.</summary>
    public const string AttemptWindowProblem =
        Section + ":AttemptWindow must be a positive duration (default 00:01:00): how long a refused 5-tuple may be quiet " +
        "and its next packet still be a retransmission of the same attempt";

    /// <summary>
    /// Words that, found in an NFLOG record's <c>oob.prefix</c> (case-insensitive), mark a rule that refused the
    /// packet; empty for <see cref="NflogPrefixes.DefaultBlockedWords"/>. Checked before <see cref="NflogAllowedWords"/>.
    /// </summary>
    public IList<string> NflogBlockedWords { get; } = [];

    /// <summary>
    /// Words that mark a rule that accepted the packet; empty for <see cref="NflogPrefixes.DefaultAllowedWords"/>.
    /// A prefix with neither is read as refusing.
    /// </summary>
    public IList<string> NflogAllowedWords { get; } = [];

    /// <summary>How Kubernetes labels carried by Hubble flows become the project's labels.</summary>
    public KubernetesProfileOptions Kubernetes { get; set; } = new();
}

/// <summary>The flow formats by their configuration names.</summary>
public static class DecoderRegistry
{
    /// <summary>Every format <see cref="Create"/> knows, <c>auto</c> last.</summary>
    public static IReadOnlyList<string> Formats { get; } =
    [
        Ulogd2JsonDecoder.FormatName,
        Ulogd2NflogDecoder.FormatName,
        ConntrackTextDecoder.FormatName,
        ConntrackXmlDecoder.FormatName,
        CanonicalJsonDecoder.FormatName,
        AwsVpcFlowLogDecoder.FormatName,
        HubbleJsonDecoder.FormatName,
        AutoDetectDecoder.FormatName,
    ];

    /// <summary>A decoder for <paramref name="format"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">The format is unknown, the AWS field order is not usable, or the attempt window is not positive.</exception>
    public static IFlowDecoder Create(string format, DecoderSettings settings)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(settings);
        var name = format.Trim();
        if (Is(name, Ulogd2JsonDecoder.FormatName))
        {
            return new Ulogd2JsonDecoder();
        }

        if (Is(name, Ulogd2NflogDecoder.FormatName))
        {
            return new Ulogd2NflogDecoder(new NflogPrefixes(settings.NflogBlockedWords, settings.NflogAllowedWords), new AttemptTracker(settings.AttemptWindow));
        }

        if (Is(name, ConntrackTextDecoder.FormatName))
        {
            return new ConntrackTextDecoder();
        }

        if (Is(name, ConntrackXmlDecoder.FormatName))
        {
            return new ConntrackXmlDecoder();
        }

        if (Is(name, CanonicalJsonDecoder.FormatName))
        {
            return new CanonicalJsonDecoder();
        }

        if (Is(name, AwsVpcFlowLogDecoder.FormatName))
        {
            return new AwsVpcFlowLogDecoder(settings.AwsFieldOrder);
        }

        if (Is(name, HubbleJsonDecoder.FormatName))
        {
            return new HubbleJsonDecoder(settings.Kubernetes, new AttemptTracker(settings.AttemptWindow));
        }

        if (Is(name, AutoDetectDecoder.FormatName))
        {
            return new AutoDetectDecoder(settings);
        }

        throw new ArgumentException($"Unknown flow format '{format}'; known formats: {string.Join(", ", Formats)}", nameof(format));
    }

    private static bool Is(string name, string format) => string.Equals(name, format, StringComparison.OrdinalIgnoreCase);
}
