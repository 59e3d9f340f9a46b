using Visibility.Query.Security;

namespace Visibility.Query.Policy.Rendering;

/// <summary>
/// The addresses a ruleset peer stands for, for renderers that match addresses rather than labels (nftables).
/// Each entry is an address (<c>10.0.0.5</c>), a CIDR prefix (<c>10.1.0.0/16</c>) or an inclusive range
/// (<c>11.0.0.0-100.63.255.255</c>); empty when the peer cannot be resolved to addresses.
/// </summary>
public interface IPolicyAddressBook
{
    IReadOnlyList<string> Addresses(PolicyPeer peer);

    /// <summary>
    /// The scope the addresses come from (<see cref="AccessScope.Unrestricted"/>: all of them). A renderer words
    /// its notes from it, and only from it, so that a peer with no workloads and a peer outside the scope read
    /// the same to a scoped caller.
    /// </summary>
    AccessScope Scope { get; }
}
