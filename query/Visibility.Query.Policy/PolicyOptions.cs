using System.ComponentModel.DataAnnotations;

namespace Visibility.Query.Policy;

/// <summary><c>Visibility:Policy</c>: how policies are rendered.</summary>
public sealed class PolicyOptions
{
    public const string Section = "Visibility:Policy";

    /// <summary>The NFLOG group of the test rig and of the ulogd2 configuration in docs/policy.md.</summary>
    public const int DefaultNftablesLogGroup = 5;

    /// <summary>
    /// The NFLOG group rendered nftables rulesets log refused packets to (<c>log group N</c>), for ulogd2's NFLOG
    /// stack (<c>[log1] group=N</c>) to hand back as <c>ulogd2-nflog</c> records.
    /// </summary>
    [Range(0, 65535)]
    public int NftablesLogGroup { get; set; } = DefaultNftablesLogGroup;
}
