using System.CommandLine;
using System.CommandLine.Invocation;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;
using Visibility.Web.Hosting;

namespace Visibility.Web.Commands;

/// <summary>
/// The command line, on System.CommandLine: each verb is defined once (its options, their help and checks), and
/// the library derives help (<c>--help</c>, <c>-h</c>), <c>--version</c>, completion (the <c>[suggest]</c> directive
/// behind <c>visibility completion bash</c>) and parse errors from the definitions. Without a verb the program
/// serves. Exit codes: <see cref="ExitCodes"/>.
/// </summary>
public static class Cli
{
    /// <summary>No response files: an argument starting with @ (a name, a filter value) is taken as it is.</summary>
    private static readonly ParserConfiguration Parsing = new() { ResponseFileTokenReplacer = null };

    /// <summary>The whole command tree.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand(
            "Visibility: a labelled map of who talks to whom, from connection records. Without a command: serve.\n" +
            "Configuration: appsettings.json and Visibility__<Section>__<Key> environment variables (README.md).\n" +
            "Exit codes: 0 done, 1 failed, 2 usage or configuration mistake, 3 and 4 as the verb says (README.md, \"Command line\").");
        var demo = new Option<bool>("--demo") { Description = "serve: also generate demo traffic", Hidden = true };
        root.Options.Add(demo);
        root.SetAction((parse, _) => ServeCommand.RunAsync(ingestOnly: false, parse.GetValue(demo)));

        root.Subcommands.Add(ServeCommand.CreateServe());
        root.Subcommands.Add(ServeCommand.CreateIngest());
        root.Subcommands.Add(MigrateCommand.Create());
        root.Subcommands.Add(VerifyStoreCommand.Create());
        root.Subcommands.Add(DevBrokerCommand.Create());
        root.Subcommands.Add(QueryCommand.Create("graph"));
        root.Subcommands.Add(QueryCommand.Create("findings"));
        root.Subcommands.Add(QueryCommand.Create("flows"));
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(PolicyCommand.Create());
        root.Subcommands.Add(KeysCommand.Create());
        root.Subcommands.Add(CompletionCommand.Create());

        // `visibility help` prints what --help prints.
        var help = new Command("help", "this text") { Hidden = true };
        help.SetAction(_ => WriteHelp(root, Console.Out));
        root.Subcommands.Add(help);
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var root = Build();
        var parse = root.Parse(args, Parsing);
        if (parse.Action is ParseErrorAction)
        {
            return await UsageErrorAsync(parse, Problems(parse));
        }

        // No default exception handler (the catches below map exceptions to exit codes), and no signal handling:
        // serve and ingest stop through the host on SIGINT/SIGTERM, with their shutdown grace.
        var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        try
        {
            return await parse.InvokeAsync(invocation);
        }
        catch (UsageException ex)
        {
            return await UsageErrorAsync(parse, [ex.Message]);
        }
        catch (SettingsException ex)
        {
            await Console.Error.WriteLineAsync($"visibility: {ex.Message}");
            return ExitCodes.Usage;
        }
        catch (ChdbException ex)
        {
            await Console.Error.WriteLineAsync($"visibility: {ex.Message}");
            return ExitCodes.Error;
        }
        catch (StoreException ex)
        {
            await Console.Error.WriteLineAsync($"visibility: {ex.Message}");
            return ExitCodes.Error;
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"visibility: {string.Join("; ", ex.Failures)}");
            return ExitCodes.Error;
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is OptionsValidationException))
        {
            // Several option sections failed their start-up validation at once.
            var failures = ex.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures);
            await Console.Error.WriteLineAsync($"visibility: {string.Join("; ", failures)}");
            return ExitCodes.Error;
        }
        finally
        {
            ChdbEngine.Shutdown(TimeSpan.FromSeconds(10));
        }
    }

    /// <summary>The verb's full name as typed, e.g. <c>visibility policy draft</c>.</summary>
    public static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (Symbol? symbol = command; symbol is Command c; symbol = c.Parents.FirstOrDefault())
        {
            names.Insert(0, c is RootCommand ? "visibility" : c.Name);
        }

        return string.Join(' ', names);
    }

    /// <summary>The verb's generated help (what <c>visibility &lt;verb&gt; --help</c> prints), written to <paramref name="writer"/>.</summary>
    public static void WriteHelp(Command command, TextWriter writer)
    {
        var path = new List<string>();
        Command root = command;
        for (Symbol? symbol = command; symbol is Command c; symbol = c.Parents.FirstOrDefault())
        {
            root = c;
            if (c is not RootCommand)
            {
                path.Insert(0, c.Name);
            }
        }

        root.Parse([.. path, "--help"], Parsing).Invoke(new InvocationConfiguration { Output = writer });
    }

    /// <summary>What is wrong with the command line, one line each; unknown words are named, with the nearest known one.</summary>
    private static List<string> Problems(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var problems = new List<string>();
        foreach (var token in parse.UnmatchedTokens)
        {
            if (token.StartsWith('-'))
            {
                var name = token.Split('=', 2)[0];
                var known = command.Options.Where(o => !o.Hidden).SelectMany(o => o.Aliases.Append(o.Name)).ToList();
                problems.Add($"unknown option '{name}'{Suggest(name, known)}");
            }
            else if (command.Subcommands.Count > 0 && problems.Count == 0)
            {
                // The rest of the line belongs to a verb that does not exist: nothing more to say about it.
                problems.Add($"unknown command '{token}'{Suggest(token, command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}");
                return problems;
            }
            else
            {
                problems.Add($"unexpected argument '{token}'");
            }
        }

        problems.AddRange(parse.Errors.Where(e => !e.Message.Contains("Unrecognized command or argument", StringComparison.Ordinal)).Select(e => e.Message));
        return problems;
    }

    private static string Suggest(string word, IEnumerable<string> known) =>
        Nearest.Of(word, known, maxDistance: 3) is { } nearest ? $" (did you mean '{nearest}'?)" : "";

    /// <summary>Prints the problems and the verb's usage on standard error; exit code 2.</summary>
    private static async Task<int> UsageErrorAsync(ParseResult parse, IEnumerable<string> problems)
    {
        var command = parse.CommandResult.Command;
        var path = CommandPath(command);
        foreach (var problem in problems)
        {
            await Console.Error.WriteLineAsync($"{path}: {problem}");
        }

        await Console.Error.WriteLineAsync();
        WriteHelp(command, Console.Error);
        return ExitCodes.Usage;
    }
}

/// <summary>A command-line mistake found by a verb itself; reported with the verb's usage and exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message)
{
    public UsageException() : this("usage error") { }

    public UsageException(string message, Exception inner) : this(message) => _ = inner;
}

/// <summary>
/// A configuration mistake that stops the start before anything runs (an unknown key, no Kafka cluster and no embedded
/// broker asked for): reported alone, exit code 2.
/// </summary>
public sealed class SettingsException(string message) : Exception(message)
{
    public SettingsException() : this("configuration error") { }

    public SettingsException(string message, Exception inner) : this(message) => _ = inner;
}
