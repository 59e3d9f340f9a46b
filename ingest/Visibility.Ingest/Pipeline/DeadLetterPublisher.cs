using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Visibility.Ingest.Pipeline;

/// <summary>
/// Delivers the records the pipeline refused to the dead-letter topic, as they were read, with the reason, the
/// format and where they came from as headers. A delivery that fails is counted and logged; it never stops ingest.
/// </summary>
public sealed class DeadLetterPublisher(IProducer<byte[]?, byte[]?> producer, string topic, SourceMetrics metrics, ILogger logger)
{
    public void Publish(in DeadLetter letter, Message<byte[]?, byte[]?> message)
    {
        var headers = new Headers
        {
            { "visibility-reason", Encoding.UTF8.GetBytes(letter.Reason) },
            { "visibility-format", Encoding.UTF8.GetBytes(letter.Format) },
            { "visibility-source", Encoding.UTF8.GetBytes($"{letter.Source.Topic}/{letter.Source.Partition}/{letter.Offset}") },
        };
        try
        {
            producer.Produce(topic, new Message<byte[]?, byte[]?> { Key = message.Key, Value = message.Value, Headers = headers },
                report =>
                {
                    if (report.Error.IsError)
                    {
                        metrics.CountDeadLetterError();
                        logger.LogError("Dead-letter delivery failed: {Reason}", report.Error.Reason);
                    }
                });
        }
        catch (ProduceException<byte[]?, byte[]?> ex)
        {
            metrics.CountDeadLetterError();
            logger.LogError("Dead-letter produce failed: {Reason}", ex.Error.Reason);
        }
    }

    /// <summary>Waits (at most 10 s) for the dead letters produced so far to be delivered.</summary>
    public void Flush()
    {
        if (producer.Flush(TimeSpan.FromSeconds(10)) > 0)
        {
            logger.LogWarning("Dead-letter records still in flight; the batch's progress is recorded regardless");
        }
    }
}
