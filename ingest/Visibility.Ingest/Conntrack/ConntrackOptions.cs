using Microsoft.Extensions.Options;

namespace Visibility.Ingest.Conntrack;

/// <summary>
/// Configuration section <c>Visibility:Conntrack</c>: how long the kernel keeps an idle connection in its
/// connection-tracking table, per protocol, and how often the store is checked for connections opened longer ago
/// than that and never closed (see <see cref="UnclosedConnections"/>). The defaults are the kernel's
/// (<c>net.netfilter.nf_conntrack_*_timeout*</c>); set them to the values of the hosts the records come from.
/// </summary>
public sealed class ConntrackOptions
{
    public const string Section = "Visibility:Conntrack";

    /// <summary><c>nf_conntrack_tcp_timeout_established</c>: 5 days.</summary>
    public TimeSpan TcpEstablished { get; set; } = TimeSpan.FromDays(5);

    /// <summary><c>nf_conntrack_udp_timeout_stream</c> (a UDP flow that saw replies): 120 s.</summary>
    public TimeSpan UdpStream { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary><c>nf_conntrack_icmp_timeout</c> (and <c>icmpv6</c>): 30 s.</summary>
    public TimeSpan Icmp { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary><c>nf_conntrack_generic_timeout</c>, for any other protocol: 600 s.</summary>
    public TimeSpan Generic { get; set; } = TimeSpan.FromSeconds(600);

    /// <summary>How often the store is checked; zero turns the check off.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How far back connections are looked at (by their start): longer than the longest timeout, and at most the
    /// raw flows' retention. 7 days by default.
    /// </summary>
    public TimeSpan Lookback { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The timeout of a protocol number.</summary>
    public TimeSpan For(byte protocol) => protocol switch
    {
        6 => TcpEstablished,
        17 => UdpStream,
        1 or 58 => Icmp,
        _ => Generic,
    };

    /// <summary>Problems, each naming its key.</summary>
    public IEnumerable<string> Problems()
    {
        foreach (var (name, value) in new[] { ("TcpEstablished", TcpEstablished), ("UdpStream", UdpStream), ("Icmp", Icmp), ("Generic", Generic) })
        {
            if (value <= TimeSpan.Zero)
            {
                yield return $"{Section}:{name} must be positive";
            }
            else if (value >= Lookback)
            {
                yield return $"{Section}:{name} ({value}) must be shorter than {Section}:Lookback ({Lookback})";
            }
        }

        if (CheckInterval < TimeSpan.Zero)
        {
            yield return $"{Section}:CheckInterval must not be negative (zero turns the check off)";
        }
    }
}

/// <summary>Start-up check of <see cref="ConntrackOptions"/>, naming each key at fault.</summary>
public sealed class ConntrackOptionsValidator : IValidateOptions<ConntrackOptions>
{
    public ValidateOptionsResult Validate(string? name, ConntrackOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Problems().ToList();
        return problems.Count > 0 ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
    }
}
