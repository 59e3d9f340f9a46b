namespace Visibility.Ingest.Pipeline;

/// <summary>
/// A Prometheus-style histogram with fixed upper bounds: lock-free observations, cumulative counts on read.
/// </summary>
public sealed class Histogram
{
    private readonly long[] counts;
    private long sumMicros;

    public Histogram(params double[] upperBounds)
    {
        ArgumentOutOfRangeException.ThrowIfZero(upperBounds.Length);
        UpperBounds = upperBounds;
        counts = new long[upperBounds.Length + 1];
    }

    public IReadOnlyList<double> UpperBounds { get; }

    /// <summary>The sum of observations (kept to a millionth).</summary>
    public double Sum => Interlocked.Read(ref sumMicros) / 1e6;

    public void Observe(double value)
    {
        var i = 0;
        while (i < UpperBounds.Count && value > UpperBounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref counts[i]);
        Interlocked.Add(ref sumMicros, (long)(value * 1e6));
    }

    /// <summary>Cumulative counts per upper bound, the last one for +Inf.</summary>
    public long[] Cumulative()
    {
        var result = new long[counts.Length];
        long running = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            running += Interlocked.Read(ref counts[i]);
            result[i] = running;
        }

        return result;
    }
}
