using System.Globalization;
using System.Runtime.InteropServices;
using Visibility.ChdbHttp;

// A ClickHouse HTTP endpoint on 127.0.0.1 backed by chDB, for end-to-end tests that need the store in its own
// process. Runs until SIGINT/SIGTERM.
//   Visibility.ChdbHttp --path DIR [--port 8123] [--connections 4] [--user U --password P] [--log]
string? path = null;
var port = 8123;
var connections = 4;
string? user = null;
string? password = null;
var log = false;
for (var i = 0; i < args.Length; i++)
{
    string Next() => ++i < args.Length ? args[i] : throw new ArgumentException($"{args[i - 1]} needs a value");
    switch (args[i])
    {
        case "--path":
            path = Next();
            break;
        case "--port":
            port = int.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "--connections":
            connections = int.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "--user":
            user = Next();
            break;
        case "--password":
            password = Next();
            break;
        case "--log":
            log = true;
            break;
        default:
            await Console.Error.WriteLineAsync($"chdb-http: unknown argument '{args[i]}'\nusage: Visibility.ChdbHttp --path DIR [--port 8123] [--connections 4] [--user U --password P] [--log]");
            return 2;
    }
}

if (path is null)
{
    await Console.Error.WriteLineAsync("chdb-http: --path DIR is required (the engine's data directory)");
    return 2;
}

await using var server = await ChdbHttpServer.StartAsync(new ChdbHttpOptions
{
    DataPath = path,
    Port = port,
    Connections = connections,
    User = user,
    Password = password,
    RequestLog = log ? Console.Out : null,
});
Console.WriteLine($"chdb-http: listening on {server.Url} (data {Path.GetFullPath(path)})");

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
