using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Visibility.Web.Hosting;

/// <summary><c>Visibility:Management</c>: the listener for probes and scrapes, and what readiness tolerates.</summary>
public sealed partial class ManagementOptions : IValidatableObject
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

    /// <summary>Each URL is plain http with a host and a port (<c>http://0.0.0.0:5081</c>, <c>http://[::]:5081</c>, <c>http://*:5081</c>).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // Empty is the default (ManagementEndpoint.Urls).
        var urls = Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var url in urls.Where(u => !HttpUrl().IsMatch(u)))
        {
            yield return new ValidationResult($"{Section}:Urls: '{url}' is not http://HOST:PORT (the management listener is plain HTTP, such as {DefaultUrls})", [nameof(Urls)]);
        }
    }

    [GeneratedRegex(@"^http://(\[[0-9A-Fa-f:.]+\]|[^/:\[\]]+):[0-9]{1,5}/?$")]
    private static partial Regex HttpUrl();
}
