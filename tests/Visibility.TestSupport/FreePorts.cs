using System.Net;
using System.Net.Sockets;

namespace Visibility.TestSupport;

/// <summary>
/// Loopback ports nothing listens on at the moment of asking: for servers a test starts, and for a client that
/// must find nothing there.
/// </summary>
public static class FreePorts
{
    public static int Tcp()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static int Udp()
    {
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.Client.LocalEndPoint!).Port;
    }
}
