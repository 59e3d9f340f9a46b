using Visibility.Web.Commands;

// visibility [command] [options]: serve (the default), ingest, graph, policy, ... `visibility --help` lists them.
return await Cli.RunAsync(args);
