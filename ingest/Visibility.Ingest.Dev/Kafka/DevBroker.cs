using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Visibility.Ingest.Kafka;

/// <summary>
/// The development and test broker: librdkafka's mock cluster, a real Kafka-protocol broker over TCP, hosted
/// in this process. The mock listens on a random loopback port, so a small TCP forwarder gives it a fixed
/// bootstrap address (127.0.0.1:9092 by default); clients learn the broker's own address from metadata.
/// Retention is fixed by librdkafka at 5 MiB (or 100,000 batches) per partition: older data is dropped
/// silently, so keep consumers running while producing, or use many partitions.
/// </summary>
public sealed class DevBroker : IAsyncDisposable
{
    private readonly IntPtr handle;
    private readonly IntPtr cluster;
    private readonly TcpListener listener;
    private readonly IPEndPoint target;
    private readonly CancellationTokenSource stopping = new();
    private readonly Task acceptLoop;
    private readonly ILogger? logger;
    private int disposed;

    private DevBroker(IntPtr handle, IntPtr cluster, TcpListener listener, IPEndPoint target, ILogger? logger)
    {
        this.handle = handle;
        this.cluster = cluster;
        this.listener = listener;
        this.target = target;
        this.logger = logger;
        BootstrapServers = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        MockBootstrapServers = $"{target.Address}:{target.Port}";
        acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>What the broker keeps and drops, for start logs and readiness detail (librdkafka's fixed mock retention).</summary>
    public const string RetentionNote =
        "It keeps at most 5 MiB (or 100,000 batches) per partition and drops older records without telling consumers: " +
        "for development and tests only; keep consumers running while producing.";

    /// <summary>The fixed bootstrap address (the forwarder).</summary>
    public string BootstrapServers { get; }

    /// <summary>The mock broker's own address, as advertised in metadata.</summary>
    public string MockBootstrapServers { get; }

    /// <summary>
    /// Starts a one-broker mock cluster and its forwarder on <paramref name="port"/> (0: any free port).
    /// Throws <see cref="IOException"/> naming the port when it is taken.
    /// </summary>
    public static DevBroker Start(int port = 9092, ILogger? logger = null)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
        }
        catch (SocketException ex)
        {
            throw new IOException($"The development broker cannot listen on 127.0.0.1:{port}: {ex.Message}. " +
                "Is another broker (or visibility dev-broker) running? Set Visibility__Kafka__BootstrapServers to use it.", ex);
        }

        var errors = new byte[512];
        var conf = RdKafkaNative.ConfNew();
        RdKafkaNative.ConfSet(conf, "log_level", "3", errors, (nuint)errors.Length);
        var rk = RdKafkaNative.New(RdKafkaNative.ProducerType, conf, errors, (nuint)errors.Length);
        if (rk == IntPtr.Zero)
        {
            listener.Stop();
            throw new InvalidOperationException("librdkafka handle for the mock cluster: " + Text(errors));
        }

        var mc = RdKafkaNative.MockClusterNew(rk, 1);
        if (mc == IntPtr.Zero)
        {
            RdKafkaNative.Destroy(rk);
            listener.Stop();
            throw new InvalidOperationException("librdkafka could not create its mock cluster.");
        }

        // The first group join otherwise waits 3 s for more members.
        RdKafkaNative.MockGroupInitialRebalanceDelayMs(mc, 100);
        RdKafkaNative.MockSetControllerId(mc, 1);
        var bootstraps = Marshal.PtrToStringUTF8(RdKafkaNative.MockClusterBootstraps(mc)) ?? "";
        var first = bootstraps.Split(',')[0];
        var colon = first.LastIndexOf(':');
        var target = new IPEndPoint(IPAddress.Parse(first[..colon]), int.Parse(first[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        var broker = new DevBroker(rk, mc, listener, target, logger);
        logger?.LogInformation("Development Kafka broker on {Bootstrap} (mock broker at {Mock})", broker.BootstrapServers, broker.MockBootstrapServers);
        return broker;
    }

    /// <summary>
    /// How long a new group's first rebalance waits for more members (100 ms from <see cref="Start"/>, which suits one
    /// consumer; a member joining after it makes the mock rebalance a running group, which waits a session timeout).
    /// </summary>
    public void SetInitialRebalanceDelay(TimeSpan delay) =>
        RdKafkaNative.MockGroupInitialRebalanceDelayMs(cluster, (int)delay.TotalMilliseconds);

    /// <summary>Creates a topic with <paramref name="partitions"/> partitions; an existing topic is left as it is.</summary>
    public void CreateTopic(string topic, int partitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        var error = RdKafkaNative.MockTopicCreate(cluster, topic, partitions, 1);
        // 36: TOPIC_ALREADY_EXISTS.
        if (error != 0 && error != 36)
        {
            throw new InvalidOperationException(
                $"Creating topic '{topic}' failed: {Marshal.PtrToStringUTF8(RdKafkaNative.ErrorToString(error))}");
        }
    }

    /// <summary>
    /// Takes the mock broker down (its client connections close and new ones are refused) or brings it back up, as an
    /// outage would; the data it holds stays. For fault-injection tests.
    /// </summary>
    public void SetAvailable(bool up)
    {
        // The one broker of the cluster Start creates has id 1.
        var error = up ? RdKafkaNative.MockBrokerSetUp(cluster, 1) : RdKafkaNative.MockBrokerSetDown(cluster, 1);
        if (error != 0)
        {
            throw new InvalidOperationException(
                $"Setting the mock broker {(up ? "up" : "down")} failed: {Marshal.PtrToStringUTF8(RdKafkaNative.ErrorToString(error))}");
        }
    }

    /// <summary>
    /// The next <paramref name="count"/> requests of a Kafka API (by its key: 8 is OffsetCommit) fail with
    /// <paramref name="error"/> (a Kafka protocol error code). For fault-injection tests.
    /// </summary>
    public void FailNextRequests(short apiKey, int count, int error) =>
        RdKafkaNative.MockPushRequestErrors(cluster, apiKey, (nuint)count, Enumerable.Repeat(error, count).ToArray());

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        await stopping.CancelAsync();
        listener.Stop();
        try
        {
            await acceptLoop;
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        RdKafkaNative.MockClusterDestroy(cluster);
        RdKafkaNative.Destroy(handle);
        stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => ForwardAsync(client));
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        using var upstream = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using (client)
        {
            try
            {
                client.NoDelay = true;
                upstream.NoDelay = true;
                await upstream.ConnectAsync(target, stopping.Token);
                await using var a = new NetworkStream(client, ownsSocket: false);
                await using var b = new NetworkStream(upstream, ownsSocket: false);
                var one = a.CopyToAsync(b, stopping.Token);
                var two = b.CopyToAsync(a, stopping.Token);
                await Task.WhenAny(one, two);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                logger?.LogDebug(ex, "Forwarded connection ended");
            }
        }
    }

    private static string Text(byte[] errors)
    {
        var end = Array.IndexOf(errors, (byte)0);
        return Encoding.UTF8.GetString(errors, 0, end < 0 ? errors.Length : end);
    }
}
