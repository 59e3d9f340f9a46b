using System.Diagnostics;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// The ingest trace, from the <see cref="ActivitySource"/> <c>Visibility.Ingest</c>: each batch is one trace whose
/// root, <c>ingest.batch</c>, runs from its first record to its Kafka commit, with the children <c>ingest.read</c>
/// (polling, decoding, enriching and encoding its records until it is due), <c>ingest.store</c> (the insert with its
/// retries, the dead letters and the recorded progress; the store's own <c>store.*</c> spans below it) and
/// <c>ingest.commit</c> (the offsets committed). Batches that queued up while an insert ran are stored together: the
/// group's store and commit spans are children of its first traced batch and link to the others. The batch carries its
/// spans from the consume thread to the writer's. While no tracer listens to the source, nothing is started and
/// nothing allocated: the pipeline asks once per batch, never per record.
/// </summary>
public static class IngestTelemetry
{
    /// <summary>The name of the ingest <see cref="ActivitySource"/>.</summary>
    public const string SourceName = "Visibility.Ingest";

    /// <summary>A batch from its first record to its commit: the trace's root.</summary>
    public const string Batch = "ingest.batch";

    /// <summary>Reading the batch's records (Kafka polls, decoding, enrichment, encoding) until the batch is due.</summary>
    public const string Read = "ingest.read";

    /// <summary>Storing the group the batch went in: insert (with retries), dead letters, progress.</summary>
    public const string Store = "ingest.store";

    /// <summary>Committing the group's offsets once stored.</summary>
    public const string Commit = "ingest.commit";

    internal static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts a batch's trace and its read span, leaving the calling thread's current span as it was.</summary>
    internal static (Activity? Batch, Activity? Read) StartBatch()
    {
        if (!Source.HasListeners())
        {
            return default;
        }

        // Every batch is a trace of its own, whatever the consume thread's context.
        var previous = Activity.Current;
        Activity.Current = null;
        var batch = Source.StartActivity(Batch, ActivityKind.Consumer);
        var read = batch is null ? null : Source.StartActivity(Read);
        Activity.Current = previous;
        return (batch, read);
    }

    /// <summary>
    /// Starts the span <paramref name="name"/> of a group of batches stored together: a child of the first batch that
    /// has a trace, linking to the others. It becomes the current span, so the store's spans are its children.
    /// </summary>
    internal static Activity? StartGroup(string name, List<FlowBatch> group, int rows)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        Activity? parent = null;
        List<ActivityLink>? links = null;
        foreach (var batch in group)
        {
            if (batch.Trace is not { } trace)
            {
                continue;
            }

            if (parent is null)
            {
                parent = trace;
            }
            else
            {
                (links ??= []).Add(new ActivityLink(trace.Context));
            }
        }

        if (parent is null)
        {
            return null;
        }

        var activity = Source.StartActivity(name, ActivityKind.Internal, parent.Context, links: links);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("visibility.batches", group.Count);
            activity.SetTag("visibility.rows", rows);
        }

        return activity;
    }

    /// <summary>Stops <paramref name="activity"/> without changing the calling thread's current span (it may have been started on another thread).</summary>
    internal static void Stop(Activity activity)
    {
        var previous = Activity.Current;
        activity.Stop();
        Activity.Current = previous;
    }
}
