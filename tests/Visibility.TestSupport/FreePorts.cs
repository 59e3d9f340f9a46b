using System.Net;
using System.Net.Sockets;

namespace Visibility.TestSupport;

/// <summary>
/// Loopback ports nothing listens on at the moment of asking: for servers a test starts, and for a client that
/// must find nothing there. Taken below the kernel's ephemeral range (32768–60999 on Linux by default): a port the
/// kernel hands out can be given to any outgoing connection (a Kafka client, an HTTP call) between the asking and the
/// server's bind, and the server then fails with "address already in use". Each test process starts at a random
/// place in the range and moves on, so two processes asking at once rarely meet.
/// </summary>
public static class FreePorts
{
    private const int First = 20_000;
    private const int Count = 12_000;
    private static int next = Random.Shared.Next(Count);

    public static int Tcp() => Find(static port =>
    {
        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
    });

    public static int Udp() => Find(static port =>
    {
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
    });

    private static int Find(Action<int> bind)
    {
        for (var tried = 0; tried < Count; tried++)
        {
            var port = First + (int)((uint)Interlocked.Increment(ref next) % Count);
            try
            {
                bind(port);
                return port;
            }
            catch (SocketException)
            {
                // In use: the next one.
            }
        }

        throw new InvalidOperationException($"no free loopback port between {First} and {First + Count - 1}");
    }
}
