namespace Visibility.Ingest.Kafka;

/// <summary>
/// The bootstrap servers clients of this process use: the configured cluster, or the development broker once it
/// has started. Readers wait until it is known.
/// </summary>
public sealed class KafkaEndpoint
{
    private readonly TaskCompletionSource<string> bootstrap = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set(string bootstrapServers) => bootstrap.TrySetResult(bootstrapServers);

    public Task<string> GetAsync(CancellationToken cancellationToken) => bootstrap.Task.WaitAsync(cancellationToken);
}
