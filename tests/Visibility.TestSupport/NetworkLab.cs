using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Visibility.TestSupport;

/// <summary>What a connection attempt from inside a namespace came to.</summary>
public enum ConnectOutcome
{
    Connected,
    Refused,
    TimedOut,
    Failed,
}

/// <summary>
/// Hosts in network namespaces behind a gateway namespace that routes between them, made by the test and deleted with
/// it (veth pairs and loopback only: nothing reaches the machine's network). Host <c>i</c> (from 1) is
/// <c>10.88.i.2/24</c> with the gateway at <c>10.88.i.1</c>; the gateway forwards, with conntrack accounting on, so
/// its kernel tracks every connection between hosts (once an nftables rule uses conntrack: <see cref="GatewayRules"/>).
/// Sockets are opened inside a namespace by a thread that joins it (<c>setns</c>); a socket stays in the namespace it
/// was created in. Needs root and iproute2: without them it fails, it does not skip.
/// </summary>
public sealed class NetworkLab : IDisposable
{
    public const string IpPath = "/usr/sbin/ip";
    public const string NftPath = "/usr/sbin/nft";

    /// <summary>The gateway's base ruleset: accept everything, but through conntrack, so connections are tracked.</summary>
    public const string GatewayRules = """
        table inet lab {
          chain forward {
            type filter hook forward priority 0; policy accept;
            ct state established,related accept
            ct state new accept
          }
        }
        """;

    private const int CloneNewNet = 0x40000000;
    private readonly string prefix = $"v{Guid.NewGuid().ToString("N")[..6]}";
    private readonly List<string> namespaces = [];
    private readonly List<Socket> sockets = [];
    private readonly Dictionary<string, int> hosts = new(StringComparer.Ordinal);

    private NetworkLab()
    {
    }

    /// <summary>The gateway's namespace.</summary>
    public string Gateway => prefix + "-gw";

    /// <summary>Makes the gateway and <paramref name="names"/> (short names: they become interface names).</summary>
    public static NetworkLab Create(params string[] names)
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new InvalidOperationException("network namespaces need root (CI runs as root)");
        }

        if (!File.Exists(IpPath) || !File.Exists(NftPath))
        {
            throw new InvalidOperationException($"{IpPath} or {NftPath} is missing; infra/setup/install-deps.sh installs iproute2 and nftables");
        }

        var lab = new NetworkLab();
        try
        {
            lab.Build(names);
            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    /// <summary>The namespace of host <paramref name="name"/>.</summary>
    public string Namespace(string name) => $"{prefix}-{name}";

    /// <summary>Host <paramref name="name"/>'s address.</summary>
    public string Address(string name) => $"10.88.{hosts[name]}.2";

    /// <summary>Runs a program inside namespace <paramref name="ns"/> and returns its output; fails on a non-zero exit.</summary>
    public static string RunIn(string ns, string program, params string[] arguments) =>
        Run(IpPath, ["netns", "exec", ns, program, .. arguments]);

    /// <summary>Replaces the gateway's nftables ruleset with <paramref name="script"/>.</summary>
    public void LoadGatewayRules(string script) => LoadRules(Gateway, script);

    /// <summary>
    /// Adds <paramref name="script"/> to the gateway's nftables ruleset, keeping what is there (the lab's own table,
    /// through which conntrack sees every connection): a rendered Visibility script replaces only its own table.
    /// </summary>
    public void AddGatewayRules(string script)
    {
        var file = Path.Combine(Path.GetTempPath(), $"{Gateway}-{Guid.NewGuid():N}.nft");
        File.WriteAllText(file, script);
        try
        {
            RunIn(Gateway, NftPath, "-f", file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Replaces the nftables ruleset of namespace <paramref name="ns"/> (a host's or the gateway's) with <paramref name="script"/>.</summary>
    public static void LoadRules(string ns, string script)
    {
        var file = Path.Combine(Path.GetTempPath(), $"{ns}-{Guid.NewGuid():N}.nft");
        File.WriteAllText(file, "flush ruleset\n" + script);
        try
        {
            RunIn(ns, NftPath, "-f", file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>
    /// Listens on <paramref name="port"/> in host <paramref name="name"/>; each accepted connection gets
    /// <paramref name="reply"/> bytes, then the listener reads until the client closes.
    /// </summary>
    public void Listen(string name, int port, int reply = 0)
    {
        var listener = InNamespace(Namespace(name), () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        sockets.Add(listener);
        listener.Bind(new IPEndPoint(IPAddress.Any, port));
        listener.Listen(16);
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var accepted = await listener.AcceptAsync();
                    _ = Task.Run(async () =>
                    {
                        using (accepted)
                        {
                            await accepted.SendAsync(new byte[reply]);
                            var buffer = new byte[4096];
                            while (await accepted.ReceiveAsync(buffer) > 0)
                            {
                            }
                        }
                    });
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                // The listener was closed by Dispose: the accept loop ends with it.
            }
        });
    }

    /// <summary>Connects from host <paramref name="from"/> to <paramref name="address"/>:<paramref name="port"/>, sends <paramref name="send"/> bytes and closes.</summary>
    public async Task<ConnectOutcome> ConnectAsync(string from, string address, int port, TimeSpan timeout, int send = 0)
    {
        using var socket = InNamespace(Namespace(from), () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(address), port), deadline.Token);
            if (send > 0)
            {
                await socket.SendAsync(new byte[send], deadline.Token);
            }

            socket.Shutdown(SocketShutdown.Both);
            return ConnectOutcome.Connected;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return ConnectOutcome.TimedOut;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode == SocketError.ConnectionRefused ? ConnectOutcome.Refused : ConnectOutcome.Failed;
        }
    }

    /// <summary>Runs <paramref name="action"/> on a new thread that has joined network namespace <paramref name="ns"/>.</summary>
    public static T InNamespace<T>(string ns, Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/run/netns/{ns}");
                if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns into {ns} failed: errno {Marshal.GetLastPInvokeError()}");
                }

                result = action();
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or SocketException)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        return failure is null ? result : throw new InvalidOperationException($"in namespace {ns}: {failure.Message}", failure);
    }

    public void Dispose()
    {
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        // Deleting a namespace removes its veth ends; the pairs go with them.
        foreach (var ns in namespaces)
        {
            TryRun(IpPath, ["netns", "del", ns]);
        }
    }

    private void Build(string[] names)
    {
        AddNamespace(Gateway);
        var number = 0;
        foreach (var name in names)
        {
            number++;
            hosts[name] = number;
            var ns = Namespace(name);
            AddNamespace(ns);
            var outside = $"{prefix}-{number}";
            Run(IpPath, ["-n", Gateway, "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", ns]);
            Run(IpPath, ["-n", Gateway, "addr", "add", $"10.88.{number}.1/24", "dev", outside]);
            Run(IpPath, ["-n", Gateway, "link", "set", outside, "up"]);
            Run(IpPath, ["-n", ns, "addr", "add", $"10.88.{number}.2/24", "dev", "eth0"]);
            Run(IpPath, ["-n", ns, "link", "set", "eth0", "up"]);
            Run(IpPath, ["-n", ns, "route", "add", "default", "via", $"10.88.{number}.1"]);
        }

        RunIn(Gateway, "/usr/sbin/sysctl", "-qw", "net.ipv4.ip_forward=1");
        RunIn(Gateway, "/usr/sbin/sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1");
        LoadGatewayRules(GatewayRules);
    }

    private void AddNamespace(string ns)
    {
        Run(IpPath, ["netns", "add", ns]);
        namespaces.Add(ns);
        Run(IpPath, ["-n", ns, "link", "set", "lo", "up"]);
    }

    private static string Run(string program, string[] arguments)
    {
        var (code, output) = TryRun(program, arguments);
        return code == 0 ? output : throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({code}):\n{output}");
    }

    private static (int Code, string Output) TryRun(string program, string[] arguments)
    {
        var (code, stdout, stderr) = ProcessRunner.RunAsync(program, arguments).GetAwaiter().GetResult();
        return (code, stdout + stderr);
    }

    // DllImport rather than LibraryImport: the generated stub needs unsafe code, which this project does not allow.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetNs(int fd, int nstype);
#pragma warning restore SYSLIB1054
}
