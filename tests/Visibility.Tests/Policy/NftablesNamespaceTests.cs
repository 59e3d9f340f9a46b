using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Flows.Store;
using Visibility.Ingest.Pipeline;
using Visibility.Query.Graph;
using Visibility.Query.Planning;
using Visibility.Query.Policy;
using Visibility.Query.Policy.Rendering;
using Visibility.Tests.Support;
using static Visibility.Tests.Policy.PolicySamples;

namespace Visibility.Tests.Policy;

/// <summary>
/// Enforcement: three network namespaces made by the test (loopback and veth pairs only, nothing reaches the host's
/// network), a server <c>srv</c> (app=db, env=prod) and two clients <c>prod</c> (app=api, env=prod) and <c>dev</c>
/// (app=api, env=dev). The ruleset drafted from prod → db on tcp/5432, rendered for nftables and loaded in
/// <c>srv</c>, must let that traffic through and block dev → 5432 and prod → 6000. Sockets are opened inside a
/// namespace by a thread that joins it (<c>setns</c>); a socket stays in the namespace it was created in.
/// Needs root, <c>ip</c> and <c>nft</c>: without them the test fails, it does not skip.
/// </summary>
public sealed class NftablesNamespaceTests : IDisposable
{
    private const string Ip = "/usr/sbin/ip";
    private const int CloneNewNet = 0x40000000;
    private static readonly TimeSpan Allowed = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Blocked = TimeSpan.FromSeconds(1.5);

    private readonly string prefix = $"vis-{Guid.NewGuid().ToString("N")[..8]}";
    private readonly List<string> namespaces = [];
    private readonly List<Socket> sockets = [];

    private string Srv => prefix + "-srv";

    private string Dev => prefix + "-dev";

    private string Prod => prefix + "-prod";

    [Fact]
    public async Task Render_DraftedRuleset_AllowsDraftedTrafficAndBlocksTheRest()
    {
        Assert.True(Environment.IsPrivilegedProcess, "this test creates network namespaces and needs root (CI runs as root)");
        Assert.True(File.Exists(Ip), $"{Ip} is missing; infra/setup/install-deps.sh installs iproute2");
        Assert.True(File.Exists(Nft.Path), $"{Nft.Path} is missing; infra/setup/install-deps.sh installs nftables");
        CreateNamespaces();
        Listen(5432);
        Listen(6000);

        // Without the ruleset every path is open, so a block below is the ruleset's doing.
        Assert.Equal(Outcome.Connected, await Connect(Dev, "10.77.1.1", 5432, Allowed));
        Assert.Equal(Outcome.Connected, await Connect(Prod, "10.77.2.1", 6000, Allowed));

        var inventory = new[]
        {
            Spec("db", ["10.77.1.1", "10.77.2.1"], ("app", "db"), ("env", "prod")),
            Spec("api-prod", ["10.77.2.2"], ("app", "api"), ("env", "prod")),
            Spec("api-dev", ["10.77.1.2"], ("app", "api"), ("env", "dev")),
        };
        // The draft comes from observed traffic in the real engine: prod's api talking to the database on 5432.
        var index = WorkloadIndex.Build(inventory);
        var rules = new FindingRules(new FindingsOptions());
        var store = await TestStore.CreateAsync();
        var observed = new FlowBatch();
        var at = DateTimeOffset.UtcNow.AddMinutes(-30);
        for (var i = 0; i < 5; i++)
        {
            observed.Add(TestFlows.Connection(index, rules, i + 1, "10.77.2.2", "10.77.2.1", 5432, at.AddMinutes(i)));
        }

        await store.InsertFlowsAsync(observed.Rows, CancellationToken.None);
        Assert.True(GroupKey.TryParseList("app,env", out var appEnv, out _));
        var draft = await new PolicyDrafter(new PolicyTraffic(store, StoreRetention.RawOnly(TimeSpan.FromDays(3650))), [])
            .DraftAsync(new DraftRequest(at.AddMinutes(-1), DateTimeOffset.UtcNow, FilterClause.All, appEnv, IncludeFlagged: false, "namespace test"), CancellationToken.None);
        var ruleset = draft.Ruleset;
        Assert.Equal(["app=api,env=prod -> app=db,env=prod: tcp/5432"], ruleset.Rules.Select(r => $"{r.Name}: {string.Join(' ', r.Ports)}"));
        Load(Srv, new NftablesRenderer(new InventoryAddressBook(inventory)).Render(ruleset));

        Assert.Equal(Outcome.Connected, await Connect(Prod, "10.77.2.1", 5432, Allowed));
        Assert.Equal(Outcome.TimedOut, await Connect(Dev, "10.77.1.1", 5432, Blocked));
        Assert.Equal(Outcome.TimedOut, await Connect(Prod, "10.77.2.1", 6000, Blocked));
        Assert.Equal(Outcome.Connected, await Connect(Prod, "10.77.2.1", 5432, Allowed));
    }

    public void Dispose()
    {
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        // Deleting a namespace removes its veth ends; the pairs go with them.
        foreach (var name in namespaces)
        {
            Nft.Run(Ip, "netns", "del", name);
        }
    }

    private void CreateNamespaces()
    {
        foreach (var name in new[] { Srv, Dev, Prod })
        {
            RunIp("netns", "add", name);
            namespaces.Add(name);
            RunIp("-n", name, "link", "set", "lo", "up");
        }

        foreach (var (client, server, peer, subnet) in new[] { (Dev, "vdev", "10.77.1.2", "10.77.1.1"), (Prod, "vprod", "10.77.2.2", "10.77.2.1") })
        {
            RunIp("-n", Srv, "link", "add", server, "type", "veth", "peer", "name", "eth0", "netns", client);
            RunIp("-n", Srv, "addr", "add", subnet + "/30", "dev", server);
            RunIp("-n", client, "addr", "add", peer + "/30", "dev", "eth0");
            RunIp("-n", Srv, "link", "set", server, "up");
            RunIp("-n", client, "link", "set", "eth0", "up");
        }
    }

    private static void RunIp(params string[] arguments)
    {
        var (code, output) = Nft.Run(Ip, arguments);
        Assert.True(code == 0, $"ip {string.Join(' ', arguments)} failed:\n{output}");
    }

    private static void Load(string name, string script)
    {
        var file = Path.Combine(Path.GetTempPath(), $"{name}.nft");
        File.WriteAllText(file, script);
        try
        {
            var (code, output) = Nft.Run(Ip, "netns", "exec", name, Nft.Path, "-f", file);
            Assert.True(code == 0, $"nft -f in {name} failed:\n{output}\n{script}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    private void Listen(int port)
    {
        var listener = InNamespace(Srv, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        sockets.Add(listener);
        listener.Bind(new IPEndPoint(IPAddress.Any, port));
        listener.Listen(16);
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    using var accepted = await listener.AcceptAsync();
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                // The listener was closed by Dispose: the accept loop ends with it.
            }
        });
    }

    private static async Task<Outcome> Connect(string name, string address, int port, TimeSpan timeout)
    {
        using var socket = InNamespace(name, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(address), port), deadline.Token);
            return Outcome.Connected;
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return Outcome.TimedOut;
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode == SocketError.ConnectionRefused ? Outcome.Refused : Outcome.Failed;
        }
    }

    /// <summary>Runs <paramref name="action"/> on a new thread that has joined network namespace <paramref name="name"/>.</summary>
    private static T InNamespace<T>(string name, Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/run/netns/{name}");
                if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns into {name} failed: errno {Marshal.GetLastPInvokeError()}");
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
        return failure is null ? result : throw new InvalidOperationException($"in namespace {name}: {failure.Message}", failure);
    }

    // DllImport rather than LibraryImport: the generated stub needs unsafe code, which this project does not allow.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetNs(int fd, int nstype);
#pragma warning restore SYSLIB1054

    public enum Outcome
    {
        Connected,
        Refused,
        TimedOut,
        Failed,
    }
}
