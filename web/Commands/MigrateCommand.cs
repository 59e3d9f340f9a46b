using System.CommandLine;
using Microsoft.Extensions.Options;
using Visibility.Flows.Store;
using Visibility.Web.Hosting;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>migrate</c>: brings the configured store's schema to this release's version, one run at a time (the migration
/// lock in the store; a second run waits, naming the holder, then finds the work done). <c>--check</c> only reports.
/// Exit 0 when the schema is current afterwards; with <c>--check</c>, 3 when migrations are pending; 1 when the store
/// has versions this release does not know or cannot be reached.
/// </summary>
public static class MigrateCommand
{
    public static Command Create()
    {
        var check = CliOptions.Flag("--check", $"only report the pending migrations (exit {ExitCodes.Differs} when some are)");
        var command = new Command("migrate",
            "apply the store's pending schema migrations (under a lock in the store: run it once per upgrade, before the workers; serve and ingest on a server store wait for it)")
            .With(check);
        command.SetAction((parse, _) => RunAsync(parse.GetValue(check)));
        return command;
    }

    private static async Task<int> RunAsync(bool checkOnly)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        ConfigurationCheck.ThrowOnUnknownKeys(builder.Configuration);

        // Progress (each migration, its time, a backfill's rows) goes to standard error; the outcome to standard output.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).AddUtcConsoleTimestamps();
        builder.Logging.AddFilter((category, level) => level >= (category == typeof(MigrateCommand).FullName ? LogLevel.Information : LogLevel.Warning));
        builder.Services.AddFlowStore(builder.Configuration);
        using var host = builder.Build();
        host.Services.GetRequiredService<IStartupValidator>().Validate();
        var options = host.Services.GetRequiredService<IOptions<StoreOptions>>().Value;
        var store = host.Services.GetRequiredService<IFlowStore>();
        await store.OpenAsync(CancellationToken.None);
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MigrateCommand).FullName!);
        var migrator = SchemaMigrator.For(store, options, logger);

        if (checkOnly)
        {
            var status = await migrator.StatusAsync(CancellationToken.None);
            if (status.Ahead)
            {
                Console.WriteLine($"schema at version {status.Version}, with migrations this release does not know: {string.Join(", ", status.Unknown)}");
                return ExitCodes.Error;
            }

            if (status.Current)
            {
                Console.WriteLine($"schema current at version {status.Version}");
                return ExitCodes.Ok;
            }

            Console.WriteLine($"schema {(status.Bootstrapped ? $"at version {status.Version}" : "not created")}; pending: {status.PendingText}");
            return ExitCodes.Differs;
        }

        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        var result = await migrator.MigrateAsync(StoreLease.ProcessHolder("migrate"), stop.Token);
        Console.WriteLine(result switch
        {
            { Applied: > 0 } => $"applied {result.Applied} migrations; schema at version {result.Version}",
            { WaitedFor: { } holder } => $"schema current at version {result.Version}: {holder} applied the migrations while this run waited",
            _ => $"schema current at version {result.Version}: nothing to apply",
        });
        return ExitCodes.Ok;
    }
}
