using BenchmarkDotNet.Running;
using Visibility.Benchmarks.EndToEnd;

// `e2e` runs the end-to-end throughput harness, `query` the query-latency harness, `map` the map-at-size harness,
// `export` the SIEM export harness, `storage` the storage-per-row harness; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "query")
{
    return await Visibility.Benchmarks.QueryLatency.QueryHarness.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "map")
{
    return await Visibility.Benchmarks.MapLayout.MapLayoutHarness.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "export-stream")
{
    return await Visibility.Benchmarks.Export.ExportStreamHarness.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "export")
{
    return await Visibility.Benchmarks.Export.ExportHarness.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "storage")
{
    return await Visibility.Benchmarks.Storage.StorageHarness.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "e2e")
{
    return await ThroughputHarness.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(ThroughputHarness).Assembly).Run(args);
return 0;
