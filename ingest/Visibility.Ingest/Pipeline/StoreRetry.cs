using Microsoft.Extensions.Logging;
using Visibility.Flows.Store;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Runs a store operation until it succeeds, with exponential backoff up to 10 s, until the shutdown grace fires. A
/// streak of failures marks the store unavailable (<c>/readyz</c>, <c>visibility_store_available</c>) until an
/// attempt succeeds; its first failure is logged as an error, each retry with the streak's length.
/// </summary>
public sealed class StoreRetry(BatchChannel queue, WriterMetrics metrics, ILogger logger)
{
    public async Task<bool> RunAsync(string operation, int rows, Func<Task> attempt, CancellationToken grace)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        var failures = 0;
        var since = DateTimeOffset.MinValue;
        while (true)
        {
            try
            {
                await attempt();
                if (failures > 0)
                {
                    metrics.StoreRecovered();
                    logger.LogInformation("Store {Operation} succeeded after {Failures} failed attempt(s) over {Seconds:F1} s; the store is available again",
                        operation, failures, (DateTimeOffset.UtcNow - since).TotalSeconds);
                }

                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                failures++;
                since = failures == 1 ? DateTimeOffset.UtcNow : since;
                metrics.CountStoreError(operation);
                metrics.CountInsertRetry();
                metrics.StoreFailed(failures == 1, new StoreFailure(operation, ex.Message, since, failures));

                // The store's own errors say what happened; anything else gets its stack trace.
                var detail = ex is StoreException or Flows.Store.Chdb.ChdbException ? null : ex;
                if (failures == 1)
                {
                    logger.LogError(detail, "Store {Operation} of {Rows} rows failed: {Reason}. Retrying with backoff; reading pauses while batches wait ({Buffered} records held)",
                        operation, rows, ex.Message, queue.Buffered);
                }
                else
                {
                    logger.LogError(detail, "Store {Operation} of {Rows} rows failed again ({Failures} attempts in {Seconds:F0} s; next in {Delay}): {Reason}",
                        operation, rows, failures, (DateTimeOffset.UtcNow - since).TotalSeconds, delay, ex.Message);
                }

                try
                {
                    await Task.Delay(delay, grace);
                }
                catch (OperationCanceledException)
                {
                    return false;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }
}
