using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Confluent.Kafka;

namespace Visibility.EndToEnd.Tests;

/// <summary>
/// Real kernel records into a real <c>visibility serve</c>: hosts dev (app=api, env=dev), prod (app=api, env=prod) and
/// db (app=db, env=prod, listening on <see cref="DbPort"/>) in network namespaces behind a gateway whose ulogd2 writes
/// NFCT and NFLOG JSON (<see cref="Ulogd2Gateway"/>); a dev broker (<see cref="IngestRig"/>) and the service reading
/// it, with the three hosts as workloads api-dev, api-prod and db. What ulogd2 wrote is shipped as a gateway's log
/// shipper would: NFCT lines to the ingest topic, NFLOG lines to <see cref="PacketsTopic"/> (format ulogd2-nflog)
/// when the rig has one. Needs root (<see cref="NetworkLab"/>). Disposed in reverse: the producer, the service, the
/// broker, ulogd2, the namespaces, then the data.
/// </summary>
internal sealed class KernelGatewayRig : IAsyncDisposable
{
    public const int DbPort = 5432;

    private readonly TempDirectory data;
    private NetworkLab? lab;
    private Ulogd2Gateway? ulogd;
    private IngestRig? ingest;
    private VisibilityProcess? service;
    private IProducer<Null, string>? producer;
    private int connectionsShipped;
    private int packetsShipped;

    private KernelGatewayRig(string dataDirectory) => data = new TempDirectory(dataDirectory);

    public NetworkLab Lab => lab ?? throw NotStarted();

    public Ulogd2Gateway Ulogd => ulogd ?? throw NotStarted();

    public IngestRig Ingest => ingest ?? throw NotStarted();

    public VisibilityProcess Service => service ?? throw NotStarted();

    /// <summary>The topic NFLOG lines are shipped to, read as ulogd2-nflog; null when the rig ships connections only.</summary>
    public string? PacketsTopic { get; private set; }

    /// <summary>
    /// Makes the namespaces, starts ulogd2 in the gateway, db's listener (answering <paramref name="reply"/> bytes),
    /// the broker (topic <paramref name="name"/>-…, <paramref name="partitions"/> partitions, plus the NFLOG topic
    /// when <paramref name="shipPackets"/>) and the service, and declares the workloads.
    /// </summary>
    public static async Task<KernelGatewayRig> StartAsync(string dataDirectory, string name, int partitions, int reply, bool shipPackets)
    {
        var rig = new KernelGatewayRig(dataDirectory);
        try
        {
            await rig.StartAsync(name, partitions, reply, shipPackets);
            return rig;
        }
        catch
        {
            await rig.DisposeAsync();
            throw;
        }
    }

    public string Address(string host) => Lab.Address(host);

    /// <summary>ulogd2's DESTROY records (<c>ct.event</c> 4) so far: each connection the gateway forgot, with its final counters.</summary>
    public IEnumerable<JsonElement> Destroyed() =>
        Ulogd2Gateway.Lines(Ulogd.ConnectionsFile).Select(l => JsonDocument.Parse(l).RootElement).Where(r => r.GetProperty("ct.event").GetInt32() == 4);

    /// <summary>
    /// After <paramref name="settle"/> (the last FIN/ACK exchanges reach the gateway), ends the gateway's connections and
    /// waits up to 15 s until <paramref name="ended"/> holds (<paramref name="what"/> names it when it does not).
    /// </summary>
    public async Task EndConnectionsAsync(TimeSpan settle, Func<bool> ended, string what)
    {
        await Task.Delay(settle);
        Ulogd.EndConnections();
        await Eventually.TrueAsync(ended, TimeSpan.FromSeconds(15), what,
            () => string.Join('\n', Ulogd2Gateway.Lines(Ulogd.ConnectionsFile)), TimeSpan.FromMilliseconds(100));
    }

    /// <summary>Ships the lines ulogd2 wrote since the last call and waits until the service committed the ingest topic to its end.</summary>
    public async Task ShipAsync()
    {
        producer ??= new ProducerBuilder<Null, string>(new ProducerConfig { BootstrapServers = Ingest.Bootstrap }).Build();
        connectionsShipped = Send(Ulogd.ConnectionsFile, Ingest.Topic, connectionsShipped);
        if (PacketsTopic is not null)
        {
            packetsShipped = Send(Ulogd.PacketsFile, PacketsTopic, packetsShipped);
        }

        producer.Flush(TimeSpan.FromSeconds(10));
        await Ingest.WaitCommittedToEndAsync(Service, TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            producer?.Dispose();
            if (service is not null)
            {
                await service.DisposeAsync();
            }

            if (ingest is not null)
            {
                await ingest.DisposeAsync();
            }

            if (ulogd is not null)
            {
                await ulogd.DisposeAsync();
            }

            lab?.Dispose();
        }
        finally
        {
            data.Dispose();
        }
    }

    private static InvalidOperationException NotStarted() => new("the rig has not been started");

    private static object Workload(string name, string address, string app, string env) =>
        new { name, addresses = new[] { address }, labels = new Dictionary<string, string> { ["app"] = app, ["env"] = env } };

    private async Task StartAsync(string name, int partitions, int reply, bool shipPackets)
    {
        lab = NetworkLab.Create("dev", "prod", "db");
        ulogd = await Ulogd2Gateway.StartAsync(lab, Path.Combine(data.Path, "ulogd"));
        lab.Listen("db", DbPort, reply: reply);
        ingest = new IngestRig(name, partitions);
        var environment = new Dictionary<string, string>(ingest.Environment(), StringComparer.Ordinal);
        if (shipPackets)
        {
            PacketsTopic = ingest.Topic + "-nflog";
            ingest.CreateTopic(PacketsTopic, 1);
            environment[$"Visibility__Kafka__Topics__{PacketsTopic}"] = "ulogd2-nflog";
        }

        service = VisibilityProcess.Start(Path.Combine(data.Path, "store"), environment: environment);
        await service.WaitReadyAsync(TimeSpan.FromSeconds(90));
        using var put = await service.Http.PutAsJsonAsync("/api/v1/workloads", new[]
        {
            Workload("api-dev", lab.Address("dev"), "api", "dev"),
            Workload("api-prod", lab.Address("prod"), "api", "prod"),
            Workload("db", lab.Address("db"), "db", "prod"),
        });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
    }

    private int Send(string file, string topic, int sent)
    {
        var lines = Ulogd2Gateway.Lines(file);
        foreach (var line in lines.Skip(sent))
        {
            producer!.Produce(topic, new Message<Null, string> { Value = line });
        }

        return lines.Count;
    }
}
