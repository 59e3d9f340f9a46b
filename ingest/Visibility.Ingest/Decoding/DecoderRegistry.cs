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
        ConntrackTextDecoder.FormatName,
        ConntrackXmlDecoder.FormatName,
        CanonicalJsonDecoder.FormatName,
        AwsVpcFlowLogDecoder.FormatName,
        HubbleJsonDecoder.FormatName,
        AutoDetectDecoder.FormatName,
    ];

    /// <summary>A decoder for <paramref name="format"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">The format is unknown, or the AWS field order is not usable.</exception>
    public static IFlowDecoder Create(string format, DecoderSettings settings)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(settings);
        var name = format.Trim();
        if (Is(name, Ulogd2JsonDecoder.FormatName))
        {
            return new Ulogd2JsonDecoder();
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
            return new HubbleJsonDecoder(settings.Kubernetes);
        }

        if (Is(name, AutoDetectDecoder.FormatName))
        {
            return new AutoDetectDecoder(settings);
        }

        throw new ArgumentException($"Unknown flow format '{format}'; known formats: {string.Join(", ", Formats)}", nameof(format));
    }

    private static bool Is(string name, string format) => string.Equals(name, format, StringComparison.OrdinalIgnoreCase);
}
