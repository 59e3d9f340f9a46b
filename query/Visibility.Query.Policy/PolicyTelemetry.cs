using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Visibility.Query.Policy;

/// <summary>
/// The policy meter (<c>Visibility.Policy</c>): how long drafts and simulations take, the rules drafted and the flows
/// simulations judged. One observation per request.
/// </summary>
public static class PolicyTelemetry
{
    public const string MeterName = "Visibility.Policy";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Histogram<double> Seconds = Meter.CreateHistogram(
        "visibility_policy_operation_seconds", unit: null, description: "Seconds a policy draft or simulation took (reading the traffic included), by operation.", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });

    private static readonly Counter<long> Rules = Meter.CreateCounter<long>(
        "visibility_policy_drafted_rules_total", unit: null, description: "Allow rules proposed by policy drafts.");

    private static readonly Counter<long> Flows = Meter.CreateCounter<long>(
        "visibility_policy_simulated_flows_total", unit: null, description: "Flows policy simulations judged, by verdict (allowed, blocked).");

    internal static void Drafted(long started, int rules)
    {
        Seconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("operation", "draft"));
        Rules.Add(rules);
    }

    internal static void Simulated(long started, long allowed, long blocked)
    {
        Seconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("operation", "simulate"));
        Flows.Add(allowed, new KeyValuePair<string, object?>("verdict", "allowed"));
        Flows.Add(blocked, new KeyValuePair<string, object?>("verdict", "blocked"));
    }
}
