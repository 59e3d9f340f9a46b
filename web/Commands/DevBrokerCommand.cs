using System.CommandLine;
using System.Runtime.InteropServices;
using Visibility.Ingest.Kafka;

namespace Visibility.Web.Commands;

/// <summary><c>visibility dev-broker</c>: the development Kafka broker (librdkafka's mock cluster) as its own process, until stopped.</summary>
public static class DevBrokerCommand
{
    public static Command Create()
    {
        var port = CliOptions.Number("--port", "the bootstrap port on 127.0.0.1", 0, 65535, 9092);
        var topic = new Option<string>("--topic") { Description = "the topic to create", HelpName = "TOPIC", DefaultValueFactory = _ => "flows" };
        var partitions = CliOptions.Number("--partitions", "the topic's partitions", 1, 1024, 8);
        var command = new Command("dev-broker",
            "the development Kafka broker (librdkafka's mock cluster) until stopped; it keeps 5 MiB per partition and drops older records")
            .With(port, topic, partitions);
        command.SetAction((parse, _) => RunAsync(parse.GetValue(port), parse.GetValue(topic)!, parse.GetValue(partitions)));
        return command;
    }

    private static async Task<int> RunAsync(int port, string topic, int partitions)
    {
        if (string.IsNullOrWhiteSpace(topic))
        {
            throw new UsageException("--topic needs a name");
        }

        await using var broker = DevBroker.Start(port);
        broker.CreateTopic(topic, partitions);
        Console.WriteLine($"dev-broker: listening on {broker.BootstrapServers}, topic '{topic}' with {partitions} partition(s). " +
            $"{DevBroker.RetentionNote} Ctrl+C stops.");
        var stop = new TaskCompletionSource();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.TrySetResult();
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        await stop.Task;
        return ExitCodes.Ok;
    }
}
