using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Visibility.Query.Policy.Rulesets;

namespace Visibility.Query.Policy.Rendering;

public sealed partial class NftablesRenderer
{
    /// <summary>
    /// The provisioned set as one script, each ruleset governing its scope only, as decisions judge traffic: a
    /// ruleset decides about the destinations its scope selects and nothing else, so traffic to a destination no
    /// provisioned ruleset governs passes (the base chains' policy is accept). Layout: the base chains (<c>input</c>,
    /// and <c>forward</c> for all hosts, which a gateway routing between the scopes needs) accept replies and jump to
    /// <c>governed</c>; there, traffic to a scope's addresses jumps to its ruleset's chain (<c>ruleset_&lt;name&gt;</c>,
    /// the ruleset's rules, each accepting), and what comes back, allowed by no ruleset governing its destination, is
    /// logged and dropped by the first of them by name: <c>log group N prefix "vis-drop &lt;ruleset&gt;" drop</c>.
    /// Scopes may overlap: a destination two rulesets govern is reachable by what either allows. A ruleset's rules reach
    /// only its own scope's destinations, whatever their peers say. With <paramref name="target"/>'s host, scopes and
    /// rules are cut down to its addresses and only <c>input</c> is filtered, as in <see cref="Render"/>.
    /// </summary>
    public string RenderProvisioned(IReadOnlyList<ProvisionedRuleset> active, NftablesTarget? target = null)
    {
        ArgumentNullException.ThrowIfNull(active);
        var sets = new SortedDictionary<string, (string Key, List<AddressRange> Ranges)>(StringComparer.Ordinal);
        var names = new Dictionary<(string Key, bool V4), string>();
        var chains = new StringBuilder();
        var jumps = new StringBuilder();
        var drops = new StringBuilder();
        var notes = new StringBuilder();
        var chainNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var ruleset in active.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            var scope = new PolicyPeer(PolicyPeer.Workload, RulesetScope.Parse(ruleset.Scope).Pairs.ToDictionary(StringComparer.Ordinal));
            var wholeScope = Resolve(scope, out var problem);
            var scopeRanges = target?.OnHost(wholeScope) ?? wholeScope;
            var title = $"{Text(ruleset.Name, 100)} version {ruleset.Version} ({Text(ruleset.Mode, 20)}) governs {Text(ruleset.Scope, 200)}";
            if (scopeRanges.Count == 0)
            {
                notes.Append(CultureInfo.InvariantCulture, $"# {title}: {(problem is null && target?.Host is not null ? "none of it is on this host" : Text(problem ?? "no addresses", 200))}; nothing to govern.\n");
                continue;
            }

            notes.Append(CultureInfo.InvariantCulture, $"# {title}: what no rule of a ruleset governing the destination allows is logged (NFLOG group {logGroup}, prefix \"{LogPrefix(ruleset.Name)}\") and dropped.\n");
            var chain = ChainName(ruleset.Name, chainNames);
            chains.Append(CultureInfo.InvariantCulture, $"\t# {title}\n");
            chains.Append(CultureInfo.InvariantCulture, $"\tchain {chain} {{\n");
            foreach (var rule in ruleset.Ruleset.Rules.OrderBy(r => r.Name, StringComparer.Ordinal))
            {
                // The rule's destination, narrowed to the scope: a ruleset decides about its own destinations only.
                var governed = rule with { Name = $"{ruleset.Name}/{rule.Name}" };
                var within = $" in {ruleset.Scope}{(target?.Host is null ? "" : " on this host")}";
                if (!Rule(governed, chains, sets, names, new NftablesTarget(ruleset.Scope, scopeRanges, []), within))
                {
                    chains.Append(CultureInfo.InvariantCulture, $"\t\t# not rendered: {Text(governed.Name, MaxComment)}: no destination of it is in the scope{(target?.Host is null ? "" : " on this host")}\n");
                }
            }

            chains.Append("\t}\n\n");
            foreach (var v4 in new[] { true, false })
            {
                if (scopeRanges.Where(r => r.IsIPv4 == v4).ToList() is not { Count: > 0 } family)
                {
                    continue;
                }

                var key = Narrowed(scope.Key, wholeScope, scopeRanges, " on this host");
                var match = $"{(v4 ? "ip" : "ip6")} daddr @{SetName(scope, key, v4, family, sets, names)}";
                jumps.Append(CultureInfo.InvariantCulture, $"\t\t{match} jump {chain}\n");
                drops.Append(CultureInfo.InvariantCulture, $"\t\t{match} {FinalDrop(ruleset.Name)}\n");
            }
        }

        var text = new StringBuilder();
        text.Append("#!/usr/sbin/nft -f\n");
        text.Append(CultureInfo.InvariantCulture, $"# nftables ruleset rendered by Visibility from the provisioned set ({active.Count} rulesets).\n");
        text.Append("# Load with: nft -f <this file>. It replaces table inet visibility and leaves other tables alone.\n");
        text.Append(target?.Host is { } host
            ? $"# For host {Text(host, 100)} ({Text(string.Join(", ", target.HostAddresses), 200)}): its own addresses in each scope; input only, as forwarded traffic is not this host's.\n"
            : "# For all hosts, and for a gateway routing between them: input and forward.\n");
        text.Append("# Each ruleset governs the destinations of its scope; traffic to other destinations is not governed and passes.\n");
        text.Append(notes);
        Preamble(text, sets);
        BaseChains(text, target, "accept", "governed", invalidDrop: false);
        text.Append("\tchain governed {\n");
        text.Append(jumps);
        text.Append(drops);
        text.Append("\t}\n");
        if (chains.Length > 0)
        {
            text.Append('\n');
            text.Append(chains, 0, chains.Length - 1);
        }

        text.Append("}\n");
        return text.ToString();
    }

    /// <summary><c>ruleset_&lt;name&gt;</c>, made unique by a hash when two names reduce to the same identifier.</summary>
    private static string ChainName(string ruleset, HashSet<string> taken)
    {
        var name = "ruleset_" + Identifier(ruleset);
        if (name.Length > MaxSetName || !taken.Add(name))
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ruleset)))[..8];
            name = $"{name[..Math.Min(name.Length, MaxSetName)].TrimEnd('_')}_{hash}";
            taken.Add(name);
        }

        return name;
    }
}
