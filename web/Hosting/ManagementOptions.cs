using System.ComponentModel.DataAnnotations;

namespace Visibility.Web.Hosting;

/// <summary><c>Visibility:Management</c>: the listener for probes and scrapes, and what readiness tolerates.</summary>
public sealed class ManagementOptions
{
    public const string Section = "Visibility:Management";

    public const string DefaultUrls = "http://127.0.0.1:5081";

    /// <summary>Where <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c> listen, without a credential (<c>;</c>-separated URLs).</summary>
    public string Urls { get; set; } = DefaultUrls;

    /// <summary>
    /// Records ingest may be behind its partitions' ends (librdkafka's consumer lag, summed) and still count as caught
    /// up; above it <c>/readyz</c> reports the ingest check Degraded (still 200: the API answers, with older data).
    /// </summary>
    [Range(0, long.MaxValue)]
    public long MaxReadyLag { get; set; } = 100_000;
}
