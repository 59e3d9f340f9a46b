using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Visibility.Web.Hosting;
using Visibility.Flows.Store;

namespace Visibility.Web.Commands;

/// <summary>
/// <c>verify-store</c>: opens the configured store (not while another process has an embedded one open) and reports,
/// per Kafka partition, rows, duplicates and rows beyond the recorded progress. Exit 0 when every record is stored
/// at most once, 3 otherwise.
/// </summary>
public static class VerifyStoreCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var json = CliOptions.Flag("--json", "the report as JSON");
        var command = new Command("verify-store",
            $"per Kafka partition: rows, duplicates and rows beyond the recorded progress, from the configured store (exit {ExitCodes.Differs} unless every record is stored exactly once)")
            .With(json);
        command.SetAction((parse, _) => RunAsync(parse.GetValue(json)));
        return command;
    }

    private static async Task<int> RunAsync(bool asJson)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        ConfigurationCheck.ThrowOnUnknownKeys(builder.Configuration);
        // Standard output carries the report alone; warnings and errors go to standard error.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).AddUtcConsoleTimestamps();
        builder.Logging.AddFilter((_, level) => level >= LogLevel.Warning);
        builder.Services.AddFlowStore(builder.Configuration);
        using var host = builder.Build();
        await host.Services.GetRequiredService<IFlowCatalog>().InitializeAsync(CancellationToken.None);
        var layout = host.Services.GetRequiredService<IOptions<StoreOptions>>().Value.Layout;
        var result = await StoreCheck.RunAsync(host.Services.GetRequiredService<IFlowReader>(), layout, CancellationToken.None);
        if (asJson)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                rows = result.Rows,
                duplicates = result.Duplicates,
                beyondProgress = result.BeyondProgress,
                exactlyOnce = result.ExactlyOnce,
                partitions = result.Partitions,
                raw = result.Raw,
                rollups = result.Rollups,
                rollupsMatch = result.RollupsMatch,
            }, Json));
        }
        else
        {
            Console.WriteLine($"{"topic/partition",-24} {"rows",12} {"duplicates",10} {"offsets",25} {"progress",12} {"beyond",8}");
            foreach (var p in result.Partitions)
            {
                Console.WriteLine($"{p.Topic + "/" + p.Partition,-24} {p.Rows,12} {p.Duplicates,10} {p.MinOffset + ".." + p.MaxOffset,25} {p.Progress?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",12} {p.BeyondProgress,8}");
            }

            Console.WriteLine($"rows {result.Rows}, duplicates {result.Duplicates}, beyond progress {result.BeyondProgress}: " +
                (result.ExactlyOnce ? "every record stored once" : "NOT exactly once"));
            foreach (var r in result.Rollups.Where(r => r.Closed != result.Raw.Closed || r.Bytes != result.Raw.Bytes))
            {
                Console.WriteLine($"rollup {r.Table}: {r.Closed} connections closed and {r.Bytes} bytes; the raw rows sum to {result.Raw.Closed} and {result.Raw.Bytes}");
            }
        }

        return result.ExactlyOnce ? ExitCodes.Ok : ExitCodes.Differs;
    }
}
