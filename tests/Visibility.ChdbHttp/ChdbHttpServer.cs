using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Visibility.Flows.Store.Chdb;

namespace Visibility.ChdbHttp;

/// <summary>How to run the endpoint.</summary>
public sealed class ChdbHttpOptions
{
    /// <summary>The engine's data directory. A process has one; an engine already open on it is shared.</summary>
    public required string DataPath { get; init; }

    /// <summary>The loopback port; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>Engine connections serving requests concurrently (an insert holds one until its data is in).</summary>
    public int Connections { get; init; } = 4;

    /// <summary>When set, requests must authenticate as this user with <see cref="Password"/>, as on a server.</summary>
    public string? User { get; init; }

    public string? Password { get; init; }

    /// <summary>Where libchdb.so is; null: the project's default.</summary>
    public string? LibraryPath { get; init; }

    /// <summary>When set, one line per request (method, URL keys, status; never a password).</summary>
    public TextWriter? RequestLog { get; init; }
}

/// <summary>One request as the endpoint saw it, for tests that check what the driver sends.</summary>
public sealed record RecordedRequest(
    string Method, string Path, string User, IReadOnlyDictionary<string, string> Url, string? ContentEncoding, long BodyBytes,
    string? Sql, string? InsertFormat, int Status);

/// <summary>
/// A ClickHouse HTTP endpoint on 127.0.0.1 backed by the embedded engine: <c>/ping</c>, queries from the URL
/// and/or the body, <c>param_*</c> bound parameters, <c>database</c>, <c>default_format</c>, settings, inserts
/// with their data in the body, compressed requests and responses, and errors as ClickHouse reports them.
/// For tests only: sessions are not kept, and there is no access control beyond one optional user.
/// </summary>
public sealed class ChdbHttpServer : IAsyncDisposable
{
    private const int KeptRequests = 2000;
    private readonly WebApplication app;
    private readonly ConcurrentQueue<RecordedRequest> requests;

    private ChdbHttpServer(WebApplication app, int port, ChdbHttpOptions options, ConcurrentQueue<RecordedRequest> requests)
    {
        this.app = app;
        this.requests = requests;
        Port = port;
        User = options.User;
        Password = options.Password;
    }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}/");

    private string? User { get; }

    private string? Password { get; }

    /// <summary>A ClickHouse.Driver connection string for this endpoint.</summary>
    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port};Protocol=http" + (User is null ? "" : $";Username={User};Password={Password}");

    /// <summary>The most recent requests, oldest first.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. requests];

    public static async Task<ChdbHttpServer> StartAsync(ChdbHttpOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Connections, 1);
        var engine = ChdbEngine.Open(options.DataPath, options.LibraryPath);
        var connections = Enumerable.Range(0, options.Connections).Select(_ => engine.Connect()).ToList();
        var timezone = (await connections[0].QueryTextAsync("SELECT timezone()", cancellationToken: cancellationToken)).Trim();

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, options.Port);

            // Insert bodies are batches of rows; the server does not cap them either.
            kestrel.Limits.MaxRequestBodySize = null;
        });
        var requests = new ConcurrentQueue<RecordedRequest>();
        var handler = new ChdbHttpHandler(connections, timezone, options, request =>
        {
            requests.Enqueue(request);
            while (requests.Count > KeptRequests)
            {
                requests.TryDequeue(out _);
            }
        });
        var app = builder.Build();
        app.Run(handler.HandleAsync);
        await app.StartAsync(cancellationToken);

        var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new ChdbHttpServer(app, new Uri(address).Port, options, requests);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
