using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Visibility.Query.Policy.Rendering;

/// <summary>
/// Renders a ruleset as an nftables script for one Linux host: <c>table inet visibility</c>, replaced as a whole
/// each time the script is loaded (<c>nft -f</c>), with one named set per peer and address family (addresses from
/// an <see cref="IPolicyAddressBook"/>), base chains <c>input</c> and <c>forward</c> that drop by default and
/// jump to one <c>allow</c> chain holding a rule per ruleset rule and protocol. Output is deterministic (no time,
/// sorted sets and rules) so it can be kept as a golden file and diffed. Everything from the ruleset that reaches
/// the script is either a number, an address re-formatted from its parsed value, a generated identifier, or text
/// reduced to printable ASCII without quotes (comments), so labels and rule names cannot add nft syntax.
/// An address book restricted to a caller's scope gives no address of a workload outside it; the script then
/// says so in its header, and a rule whose group has no addresses there is left out with the same note whether
/// the group lies outside the scope or has no workloads at all.
/// <para>
/// What no rule allows is logged before it is dropped, <c>log group N prefix "vis-drop &lt;ruleset&gt;" drop</c>
/// (<see cref="LogPrefix"/>), so that ulogd2 (NFLOG stack, <c>ulogd2-nflog</c>) hands every refused packet back as a
/// record naming the ruleset that refused it. <see cref="RenderProvisioned"/> renders the provisioned set: each
/// ruleset governs only its scope's destinations (see its remarks).
/// </para>
/// See docs/policy.md, "Renderers".
/// </summary>
/// <param name="addresses">Where peers' addresses come from.</param>
/// <param name="logGroup">The NFLOG group refused packets are logged to (<see cref="PolicyOptions.NftablesLogGroup"/>).</param>
public sealed partial class NftablesRenderer(IPolicyAddressBook addresses, int logGroup = PolicyOptions.DefaultNftablesLogGroup)
{
    public const string Table = "visibility";

    /// <summary>nft refuses comments longer than this (NFTNL_UDATA_COMMENT_MAXLEN - 1).</summary>
    public const int MaxComment = 127;

    /// <summary>nft refuses log prefixes longer than this (NF_LOG_PREFIXLEN - 1); checked with <c>nft -c</c>.</summary>
    public const int MaxLogPrefix = 127;

    /// <summary>
    /// The first word of the log prefix of a ruleset's final drop: <c>vis-drop &lt;ruleset&gt;</c>. The ulogd2-nflog
    /// decoder reads the ruleset back from it (<c>NflogPrefixes</c>).
    /// </summary>
    public const string DropPrefix = "vis-drop";

    private const int MaxSetName = 48;

    /// <summary>
    /// The script for all hosts, or for <paramref name="target"/>'s host only, with its management allow-list
    /// (see <see cref="NftablesTarget"/>).
    /// </summary>
    public string Render(PolicyRuleset ruleset, NftablesTarget? target = null)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        var sets = new SortedDictionary<string, (string Key, List<AddressRange> Ranges)>(StringComparer.Ordinal);
        var names = new Dictionary<(string Key, bool V4), string>();
        var rules = new StringBuilder();
        var elsewhere = 0;
        foreach (var rule in ruleset.Rules.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            elsewhere += Rule(rule, rules, sets, names, target) ? 0 : 1;
        }

        var text = new StringBuilder();
        text.Append("#!/usr/sbin/nft -f\n");
        text.Append(CultureInfo.InvariantCulture, $"# nftables ruleset rendered by Visibility from ruleset '{Text(ruleset.Name, 200)}'.\n");
        text.Append("# Load with: nft -f <this file>. It replaces table inet visibility and leaves other tables alone.\n");
        if (target?.Host is { } host)
        {
            text.Append(CultureInfo.InvariantCulture, $"# For host {Text(host, 100)} ({Text(string.Join(", ", target.HostAddresses), 200)}): only rules whose destination includes its addresses ({elsewhere} other rules reach other hosts); input only, as forwarded traffic is not this host's.\n");
            text.Append("# Everything not allowed below is dropped on input");
        }
        else
        {
            text.Append("# Everything not allowed below is dropped, on input and forward");
        }

        text.Append(target is { Management.Count: > 0 } ? " (except the management sources)" : " (including this host's own management access)");
        text.Append(CultureInfo.InvariantCulture, $", and logged first: NFLOG group {logGroup}, prefix \"{LogPrefix(ruleset.Name)}\".\n");
        Preamble(text, sets);
        BaseChains(text, target, "drop", "allow", invalidDrop: true);
        text.Append("\tchain allow {\n");
        text.Append(rules);
        text.Append(CultureInfo.InvariantCulture, $"\t\t{FinalDrop(ruleset.Name)}\n");
        text.Append("\t}\n");
        text.Append("}\n");
        return text.ToString();
    }

    /// <summary>The scope note, the table's replacement and its sets.</summary>
    private void Preamble(StringBuilder text, SortedDictionary<string, (string Key, List<AddressRange> Ranges)> sets)
    {
        if (!addresses.Scope.IsUnrestricted)
        {
            text.Append(CultureInfo.InvariantCulture, $"# Addresses come only from workloads inside the caller's scope ({Text(addresses.Scope.Text, 200)}); a rule naming a group with none there is not rendered.\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"table inet {Table} {{}}\n");
        text.Append(CultureInfo.InvariantCulture, $"delete table inet {Table}\n");
        text.Append(CultureInfo.InvariantCulture, $"table inet {Table} {{\n");
        foreach (var (name, (key, ranges)) in sets)
        {
            text.Append(CultureInfo.InvariantCulture, $"\t# {Text(key, 200)}\n");
            text.Append(CultureInfo.InvariantCulture, $"\tset {name} {{\n");
            text.Append(CultureInfo.InvariantCulture, $"\t\ttype {(ranges[0].IsIPv4 ? "ipv4_addr" : "ipv6_addr")}\n");
            text.Append("\t\tflags interval\n");
            text.Append("\t\telements = {");
            for (var i = 0; i < ranges.Count; i++)
            {
                text.Append(i == 0 ? " " : i % 4 == 0 ? ",\n\t\t\t" : ", ");

                text.Append(ranges[i].ToString());
            }

            text.Append(" }\n\t}\n\n");
        }
    }

    /// <summary>
    /// The <c>input</c> chain and, for all hosts, the <c>forward</c> chain: replies, loopback, neighbour discovery and
    /// the management sources pass, the rest jumps to <paramref name="next"/>; <paramref name="policy"/> is the rest's fate.
    /// </summary>
    private static void BaseChains(StringBuilder text, NftablesTarget? target, string policy, string next, bool invalidDrop)
    {
        text.Append("\tchain input {\n");
        text.Append(CultureInfo.InvariantCulture, $"\t\ttype filter hook input priority filter; policy {policy};\n");
        text.Append("\t\tct state established,related accept\n");
        text.Append(invalidDrop ? "\t\tct state invalid drop\n" : "");
        text.Append("\t\tiif lo accept\n");
        text.Append("\t\t# IPv6 needs neighbour discovery to reach anything at all.\n");
        text.Append("\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept\n");
        foreach (var v4 in new[] { true, false })
        {
            if (target?.Management.Where(r => r.IsIPv4 == v4).Select(r => r.ToString()).ToList() is { Count: > 0 } sources)
            {
                var list = sources.Count == 1 ? sources[0] : $"{{ {string.Join(", ", sources)} }}";
                text.Append(CultureInfo.InvariantCulture, $"\t\t{(v4 ? "ip" : "ip6")} saddr {list} accept comment \"management\"\n");
            }
        }

        text.Append(CultureInfo.InvariantCulture, $"\t\tjump {next}\n");
        text.Append("\t}\n\n");
        if (target?.Host is null)
        {
            text.Append("\tchain forward {\n");
            text.Append(CultureInfo.InvariantCulture, $"\t\ttype filter hook forward priority filter; policy {policy};\n");
            text.Append("\t\tct state established,related accept\n");
            text.Append(invalidDrop ? "\t\tct state invalid drop\n" : "");
            text.Append(CultureInfo.InvariantCulture, $"\t\tjump {next}\n");
            text.Append("\t}\n\n");
        }
    }

    /// <summary>
    /// The log prefix of <paramref name="ruleset"/>'s final drop: <c>vis-drop &lt;ruleset&gt;</c>, the name reduced to
    /// printable ASCII without quotes and cut to fit nft's limit (a stored ruleset's name, at most 100 characters of
    /// letters, digits, '.', '_' and '-', always fits whole).
    /// </summary>
    public static string LogPrefix(string ruleset)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        return DropPrefix + " " + Text(ruleset, MaxLogPrefix - DropPrefix.Length - 1);
    }

    private string FinalDrop(string ruleset) =>
        string.Create(CultureInfo.InvariantCulture, $"log group {logGroup} prefix \"{LogPrefix(ruleset)}\" drop");

    /// <summary>
    /// Writes the rule; false when it was left out because its destination is not on the target host. With
    /// <paramref name="within"/> (naming the addresses the target stands for, such as a ruleset's scope), the
    /// destination is cut down to them, and keeps its own set when the cut leaves it whole.
    /// </summary>
    private bool Rule(
        PolicyRule rule, StringBuilder output, SortedDictionary<string, (string Key, List<AddressRange> Ranges)> sets,
        Dictionary<(string Key, bool V4), string> names, NftablesTarget? target, string? within = null)
    {
        var comment = Text(rule.Name, MaxComment);
        var source = Resolve(rule.Source, out var sourceProblem);
        var destination = Resolve(rule.Destination, out var destinationProblem);
        var onHost = target?.Host is not null;
        var destinationKey = rule.Destination.Key;
        if (onHost && destinationProblem is null)
        {
            var cut = target!.OnHost(destination);
            if (cut.Count == 0)
            {
                return false;
            }

            destinationKey = within is not null ? Narrowed(destinationKey, destination, cut, within) : destinationKey + " on this host";
            destination = cut;
        }

        if (Matches(rule.Ports, out var problems) is not { Count: > 0 } matches)
        {
            output.Append(CultureInfo.InvariantCulture, $"\t\t# not rendered: {comment}: no ports{Problems(problems)}\n");
            return true;
        }

        if (problems.Count > 0)
        {
            output.Append(CultureInfo.InvariantCulture, $"\t\t# {comment}: left out{Problems(problems)}\n");
        }

        if ((sourceProblem ?? destinationProblem) is { } problem)
        {
            output.Append(CultureInfo.InvariantCulture, $"\t\t# not rendered: {comment}: {Text(problem, 200)}\n");
            return true;
        }

        var any = false;
        foreach (var v4 in new[] { true, false })
        {
            var from = source.Where(r => r.IsIPv4 == v4).ToList();
            var to = destination.Where(r => r.IsIPv4 == v4).ToList();
            if (from.Count == 0 || to.Count == 0)
            {
                continue;
            }

            var family = v4 ? "ip" : "ip6";
            // On one host a destination's set holds only the host's part of it: another set than the peer's as a source.
            var addressMatch = $"{family} saddr @{SetName(rule.Source, rule.Source.Key, v4, from, sets, names)} " +
                $"{family} daddr @{SetName(rule.Destination, destinationKey, v4, to, sets, names)}";
            foreach (var match in matches)
            {
                if (match.Family is { } only && only != v4)
                {
                    continue;
                }

                output.Append(CultureInfo.InvariantCulture, $"\t\t{addressMatch} {match.Text} accept comment \"{comment}\"\n");
                any = true;
            }
        }

        if (!any)
        {
            output.Append(CultureInfo.InvariantCulture, $"\t\t# not rendered: {comment}: no address family with both source and destination addresses and a protocol for it\n");
        }

        return true;
    }

    /// <summary>The set key of a group cut down to <paramref name="cut"/>: its own when the cut left it whole, else the key and what it was cut to.</summary>
    private static string Narrowed(string key, List<AddressRange> whole, List<AddressRange> cut, string within) =>
        AddressRanges.Merge(whole).SequenceEqual(cut) ? key : key + within;

    private List<AddressRange> Resolve(PolicyPeer peer, out string? problem)
    {
        problem = null;
        if (peer.Kind == PolicyPeer.Unknown)
        {
            problem = "unknown peers (internal addresses without a workload) have no address list";
            return [];
        }

        var ranges = new List<AddressRange>();
        foreach (var text in addresses.Addresses(peer))
        {
            if (!AddressRanges.TryParse(text, out var range))
            {
                problem = $"{peer.Key}: '{text}' is not an address, prefix or range";
                return [];
            }

            ranges.Add(range);
        }

        if (ranges.Count == 0)
        {
            // To a scoped caller a group outside its scope and a group with no workloads must read alike.
            problem = peer.Kind == PolicyPeer.Workload && !addresses.Scope.IsUnrestricted
                ? $"no addresses inside the caller's scope for {peer.Key}"
                : $"no addresses for {peer.Key}";
        }

        return ranges;
    }

    /// <summary>The set for one peer and family, declared on first use; named after the peer, made unique by a hash.</summary>
    private static string SetName(
        PolicyPeer peer, string key, bool v4, List<AddressRange> ranges, SortedDictionary<string, (string Key, List<AddressRange> Ranges)> sets,
        Dictionary<(string Key, bool V4), string> names)
    {
        if (names.TryGetValue((key, v4), out var known))
        {
            return known;
        }

        var suffix = v4 ? "_v4" : "_v6";
        var baseName = Identifier(peer.Kind == PolicyPeer.Workload && peer.Labels.Count == 0 ? "all_workloads" : peer.Key);
        var name = baseName + suffix;
        if (baseName.Length > MaxSetName || sets.ContainsKey(name))
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..8];
            name = $"{baseName[..Math.Min(baseName.Length, MaxSetName)].TrimEnd('_')}_{hash}{suffix}";
        }

        names[(key, v4)] = name;
        sets[name] = (key, AddressRanges.Merge(ranges));
        return name;
    }

    /// <summary>Protocol matches for a rule's ports (<c>tcp dport { 5432, 8000-8100 }</c>), one per protocol.</summary>
    private static List<Match> Matches(IReadOnlyList<PortRange> ports, out List<string> problems)
    {
        problems = [];
        var matches = new List<Match>();
        foreach (var group in ports.GroupBy(p => p.Protocol.ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            switch (group.Key)
            {
                case "tcp" or "udp" or "sctp":
                    var valid = group.Where(p => p.From >= 0 && p.To <= 65535 && p.From <= p.To).ToList();
                    problems.AddRange(group.Except(valid).Select(p => $"{p} is not a port range"));
                    if (valid.Count == 0)
                    {
                        continue;
                    }

                    var merged = MergePorts(valid);
                    if (merged is [(<= 1, 65535)])
                    {
                        matches.Add(new Match($"meta l4proto {group.Key}", null));
                        continue;
                    }

                    var list = string.Join(", ", merged.Select(p => p.From == p.To
                        ? p.From.ToString(CultureInfo.InvariantCulture)
                        : string.Create(CultureInfo.InvariantCulture, $"{p.From}-{p.To}")));
                    matches.Add(new Match(merged.Count == 1 ? $"{group.Key} dport {list}" : $"{group.Key} dport {{ {list} }}", null));
                    break;
                case "icmp":
                    // Echo requests only: the errors that belong to allowed traffic pass as ct related.
                    matches.Add(new Match("icmp type echo-request", true));
                    break;
                case "icmpv6" or "ipv6-icmp":
                    matches.Add(new Match("icmpv6 type echo-request", false));
                    break;
                default:
                    problems.Add($"protocol {group.Key} is not supported");
                    break;
            }
        }

        return matches;
    }

    private static List<(int From, int To)> MergePorts(IEnumerable<PortRange> ports)
    {
        var merged = new List<(int From, int To)>();
        foreach (var port in ports.OrderBy(p => p.From).ThenBy(p => p.To))
        {
            if (merged.Count > 0 && port.From <= merged[^1].To + 1)
            {
                merged[^1] = (merged[^1].From, Math.Max(merged[^1].To, port.To));
            }
            else
            {
                merged.Add((port.From, port.To));
            }
        }

        return merged;
    }

    private static string Problems(List<string> problems) =>
        problems.Count == 0 ? "" : " (" + Text(string.Join("; ", problems), 200) + ")";

    /// <summary>
    /// Text safe inside an nft double-quoted string or a '#' comment: printable ASCII without '"' or '\' (nft
    /// strings have no escapes), at most <paramref name="max"/> characters.
    /// </summary>
    internal static string Text(string text, int max)
    {
        var result = new StringBuilder(Math.Min(text.Length, max));
        foreach (var c in text)
        {
            if (result.Length == max)
            {
                break;
            }

            result.Append(c is >= ' ' and <= '~' and not '"' and not '\\' ? c : '?');
        }

        return result.ToString();
    }

    /// <summary>An nft identifier: lower-case letters, digits and '_', starting with a letter.</summary>
    private static string Identifier(string text)
    {
        var result = new StringBuilder();
        foreach (var c in text.ToLowerInvariant())
        {
            var keep = char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) ? c : '_';
            if (keep != '_' || (result.Length > 0 && result[^1] != '_'))
            {
                result.Append(keep);
            }
        }

        var name = result.ToString().Trim('_');
        return name.Length == 0 || !char.IsAsciiLetterLower(name[0]) ? "p_" + name : name;
    }

    /// <summary>One protocol match; <see cref="Family"/> true: IPv4 only, false: IPv6 only, null: both.</summary>
    private sealed record Match(string Text, bool? Family);
}
