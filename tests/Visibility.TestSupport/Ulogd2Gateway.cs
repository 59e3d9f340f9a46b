namespace Visibility.TestSupport;

/// <summary>
/// ulogd2 running in a <see cref="NetworkLab"/>'s gateway namespace, as a user would run it on a gateway: the NFCT
/// stack (<c>NFCT → IP2STR → JSON</c>, one record per conntrack event, with counters) into one file, and the NFLOG
/// stack (<c>NFLOG → BASE → IFINDEX → IP2STR → JSON</c>, one record per packet nftables logged with
/// <c>log group</c> <see cref="LogGroup"/>) into another. Needs Debian's <c>ulogd2</c>, <c>ulogd2-json</c> and
/// <c>conntrack</c> (infra/setup/install-deps.sh installs them).
/// </summary>
public sealed class Ulogd2Gateway : IAsyncDisposable
{
    public const string UlogdPath = "/usr/sbin/ulogd";
    public const string ConntrackPath = "/usr/sbin/conntrack";
    public const int LogGroup = 5;
    private const string Plugins = "/usr/lib/x86_64-linux-gnu/ulogd";

    private readonly ChildProcess process;
    private readonly string gateway;

    private Ulogd2Gateway(ChildProcess process, string gateway, string directory)
    {
        this.process = process;
        this.gateway = gateway;
        ConnectionsFile = Path.Combine(directory, "nfct.json");
        PacketsFile = Path.Combine(directory, "nflog.json");
    }

    /// <summary>ulogd2's NFCT JSON records, one per line.</summary>
    public string ConnectionsFile { get; }

    /// <summary>ulogd2's NFLOG JSON records, one per line.</summary>
    public string PacketsFile { get; }

    /// <summary>Starts ulogd2 in <paramref name="lab"/>'s gateway, writing into <paramref name="directory"/>; returns once both stacks run.</summary>
    public static async Task<Ulogd2Gateway> StartAsync(NetworkLab lab, string directory)
    {
        ArgumentNullException.ThrowIfNull(lab);
        foreach (var path in new[] { UlogdPath, ConntrackPath, Path.Combine(Plugins, "ulogd_output_JSON.so") })
        {
            if (!File.Exists(path))
            {
                throw new InvalidOperationException($"{path} is missing; infra/setup/install-deps.sh installs ulogd2, ulogd2-json and conntrack");
            }
        }

        Directory.CreateDirectory(directory);
        var log = Path.Combine(directory, "ulogd.log");
        var config = Path.Combine(directory, "ulogd.conf");
        File.WriteAllText(config, $"""
            [global]
            logfile="{log}"
            loglevel=3
            plugin="{Plugins}/ulogd_inpflow_NFCT.so"
            plugin="{Plugins}/ulogd_inppkt_NFLOG.so"
            plugin="{Plugins}/ulogd_filter_IP2STR.so"
            plugin="{Plugins}/ulogd_filter_IFINDEX.so"
            plugin="{Plugins}/ulogd_raw2packet_BASE.so"
            plugin="{Plugins}/ulogd_output_JSON.so"
            stack=ct1:NFCT,ip2str1:IP2STR,json1:JSON
            stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str2:IP2STR,json2:JSON
            [ct1]
            hash_enable=0
            [log1]
            group={LogGroup}
            [json1]
            file="{Path.Combine(directory, "nfct.json")}"
            sync=1
            [json2]
            file="{Path.Combine(directory, "nflog.json")}"
            sync=1

            """);
        var process = ChildProcess.Start(ChildProcess.Command([NetworkLab.IpPath, "netns", "exec", lab.Gateway, UlogdPath, "-c", config]), "ulogd");
        var gateway = new Ulogd2Gateway(process, lab.Gateway, directory);
        try
        {
            await Eventually.TrueAsync(
                () => File.Exists(log) && File.ReadAllText(log).Contains("entering main loop", StringComparison.Ordinal),
                TimeSpan.FromSeconds(15), "ulogd2 running both stacks", interval: TimeSpan.FromMilliseconds(100),
                detail: () => (File.Exists(log) ? File.ReadAllText(log) : "") + process.Output);
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    /// <summary>Ends every connection the gateway tracks (<c>conntrack -F</c>): each is reported with its final counters.</summary>
    public void EndConnections() => NetworkLab.RunIn(gateway, ConntrackPath, "-F");

    /// <summary>The complete lines written to <paramref name="file"/> so far.</summary>
    public static IReadOnlyList<string> Lines(string file)
    {
        if (!File.Exists(file))
        {
            return [];
        }

        var text = File.ReadAllText(file);
        var complete = text.LastIndexOf('\n');
        return complete < 0 ? [] : text[..complete].Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public async ValueTask DisposeAsync()
    {
        await process.KillAsync();
        await process.DisposeAsync();
    }
}
