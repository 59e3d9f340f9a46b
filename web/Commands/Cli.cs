using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Ingest.Kafka;
using Visibility.Web.Hosting;

namespace Visibility.Web.Commands;

/// <summary>The command line: one verb, then its flags; configuration comes from appsettings and the environment.</summary>
public static class Cli
{
    private static readonly string Usage = $"""
        usage: visibility <command> [options]

        commands:
          serve [--demo]        API, UI and ingest workers in one process (--demo: also generate demo traffic)
          ingest                ingest workers only (run several to scale out; they share one consumer group)
          verify-store [--json] per Kafka partition: rows, duplicates, rows beyond the recorded progress
                                (exit 3 unless every record is stored exactly once)
          dev-broker [--port 9092] [--topic flows] [--partitions 8]
                                the development Kafka broker (librdkafka's mock cluster) until stopped
          graph [--group-by app,env] [range] [--filter F] [--limit N] [--json]
                                the dependency graph from a running `serve` (--url, default http://127.0.0.1:5080)
          findings [--min-severity high] [range] [--filter F] [--limit N] [--json]
                                cross-environment flows, unknown/internet sources into protected envs, new edges
          flows [range] [--filter F] [--limit N] [--all] [--json | --csv]
                                raw flows, newest first (--all: every page)
                                range: --last 1h (default) or --from T [--to T] (RFC 3339 or Unix seconds)
                                filter: e.g. 'src.env = dev and dst.env = prod and port in (5432, 6432)'
          {ExportCommand.Usage}
          {PolicyCommand.Usage}
          {KeysCommand.Usage}

        configuration: appsettings.json and Visibility__<Section>__<Key> environment variables (README.md)
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var command = args.Length == 0 || args[0].StartsWith('-') ? "serve" : args[0];
        var rest = args.Length == 0 || args[0].StartsWith('-') ? args : args[1..];
        try
        {
            switch (command)
            {
                case "serve":
                    return await ServeCommand.RunAsync(rest, ingestOnly: false);
                case "ingest":
                    return await ServeCommand.RunAsync(rest, ingestOnly: true);
                case "dev-broker":
                    return await DevBrokerAsync(rest);
                case "verify-store":
                    return await VerifyStoreCommand.RunAsync(rest);
                case "graph" or "findings" or "flows":
                    return await QueryCommand.RunAsync(command, rest);
                case "export":
                    return await ExportCommand.RunAsync(rest);
                case "policy":
                    return await PolicyCommand.RunAsync(rest);
                case "keys":
                    return await KeysCommand.RunAsync(rest);
                case "help" or "--help" or "-h":
                    Console.WriteLine(Usage);
                    return 0;
                default:
                    await Console.Error.WriteLineAsync($"visibility: unknown command '{command}'\n\n{Usage}");
                    return 2;
            }
        }
        catch (UsageException ex)
        {
            await Console.Error.WriteLineAsync($"visibility: {ex.Message}\n\n{Usage}");
            return 2;
        }
        catch (ChdbException ex)
        {
            await Console.Error.WriteLineAsync($"visibility: {ex.Message}");
            return 1;
        }
        catch (StoreException ex)
        {
            await Console.Error.WriteLineAsync($"visibility: {ex.Message}");
            return 1;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"visibility: {string.Join("; ", ex.Failures)}");
            return 1;
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is OptionsValidationException))
        {
            // Several option sections failed their start-up validation at once.
            var failures = ex.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures);
            await Console.Error.WriteLineAsync($"visibility: {string.Join("; ", failures)}");
            return 1;
        }
        finally
        {
            ChdbEngine.Shutdown(TimeSpan.FromSeconds(10));
        }
    }

    private static async Task<int> DevBrokerAsync(string[] args)
    {
        var port = 9092;
        var topic = "flows";
        var partitions = 8;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--port":
                    port = IntArgument(args, ref i, 0, 65535);
                    break;
                case "--topic":
                    topic = StringArgument(args, ref i);
                    break;
                case "--partitions":
                    partitions = IntArgument(args, ref i, 1, 1024);
                    break;
                default:
                    throw new UsageException($"dev-broker does not know '{args[i]}'");
            }
        }

        await using var broker = DevBroker.Start(port);
        broker.CreateTopic(topic, partitions);
        Console.WriteLine($"dev-broker: listening on {broker.BootstrapServers}, topic '{topic}' with {partitions} partition(s). " +
            "Retention is 5 MiB per partition: keep consumers running while producing. Ctrl+C stops.");
        var stop = new TaskCompletionSource();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.TrySetResult();
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        await stop.Task;
        return 0;
    }

    internal static int IntArgument(string[] args, ref int i, int min, int max)
    {
        var name = args[i];
        if (++i >= args.Length || !int.TryParse(args[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new UsageException($"{name} needs a number from {min} to {max}");
        }

        return value;
    }

    internal static string StringArgument(string[] args, ref int i)
    {
        var name = args[i];
        if (++i >= args.Length || string.IsNullOrWhiteSpace(args[i]))
        {
            throw new UsageException($"{name} needs a value");
        }

        return args[i];
    }
}

/// <summary>A command-line mistake; reported with the usage text and exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message)
{
    public UsageException() : this("usage error") { }

    public UsageException(string message, Exception inner) : this(message) => _ = inner;
}
