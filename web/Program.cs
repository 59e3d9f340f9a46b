using Visibility.Web.Commands;

// visibility <command>: serve (default) | ingest | dev-broker. See README.md.
return await Cli.RunAsync(args);
