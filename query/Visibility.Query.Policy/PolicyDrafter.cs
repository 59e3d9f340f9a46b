using Visibility.Flows.Findings;
using Visibility.Flows.Labels;
using Visibility.Query.Graph;
using Visibility.Query.Planning;

namespace Visibility.Query.Policy;

/// <summary>What to draft from: a range, a scope (filter), a grouping, and whether flagged flows count.</summary>
public sealed record DraftRequest(DateTimeOffset From, DateTimeOffset To, FilterClause Scope, IReadOnlyList<GroupKey> GroupBy, bool IncludeFlagged, string Name);

/// <summary>A draft and what it left out.</summary>
public sealed record DraftResult(PolicyRuleset Ruleset, long FlowsCovered, long FlaggedFlowsExcluded, bool Truncated);

/// <summary>
/// Drafts least-privilege allow rules from observed traffic: one rule per (source group, destination group) seen in
/// the range and scope, with exactly the protocols and ports seen, consecutive ports collapsed to ranges. Flows with
/// a finding that flags them (<c>cross_env</c>, <c>unknown_source</c>, <c>internet_source</c>) are left out unless
/// <see cref="DraftRequest.IncludeFlagged"/>; a new edge is not a reason to leave a flow out. Peers without a
/// workload become their class: a configured named network (with its CIDRs), <c>internet</c>, <c>unknown</c>.
/// </summary>
public sealed class PolicyDrafter(PolicyTraffic traffic, IReadOnlyList<NamedNetwork> networks)
{
    /// <summary>The findings that keep a flow out of a draft unless asked.</summary>
    public const FindingKind Flagged = FindingKind.CrossEnv | FindingKind.UnknownSource | FindingKind.InternetSource;

    public async Task<DraftResult> DraftAsync(DraftRequest request, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (rows, truncated) = await traffic.ReadAsync(request.From, request.To, request.GroupBy, request.Scope, cancellationToken);
        var rules = new Dictionary<(string, string), Draft>();
        long covered = 0, excluded = 0;
        foreach (var row in rows)
        {
            if (!request.IncludeFlagged && (row.FindingBits & (long)Flagged) != 0)
            {
                excluded += row.Flows;
                continue;
            }

            var source = Peer(row.SourcePeer, row.SourceLabels);
            var destination = Peer(row.DestinationPeer, row.DestinationLabels);
            var key = (source.Key, destination.Key);
            if (!rules.TryGetValue(key, out var draft))
            {
                rules[key] = draft = new Draft(source, destination);
            }

            draft.Add(row);
            covered += row.Flows;
        }

        var ruleset = new PolicyRuleset(
            request.Name,
            [.. request.GroupBy.Select(k => k.Name)],
            [.. rules.Values.Select(d => d.ToRule()).OrderBy(r => r.Name, StringComparer.Ordinal)])
        {
            Source = new PolicySource(request.From, request.To, request.Scope.Text, request.IncludeFlagged),
        };
        PolicyTelemetry.Drafted(started, ruleset.Rules.Count);
        return new DraftResult(ruleset, covered, excluded, truncated);
    }

    /// <summary>A rule's name: <c>app=api,env=prod -> app=db,env=prod</c>.</summary>
    public static string RuleName(PolicyPeer source, PolicyPeer destination) => $"{Describe(source)} -> {Describe(destination)}";

    private static string Describe(PolicyPeer peer) => peer.Kind == PolicyPeer.Workload && peer.Labels.Count == 0 ? "any-workload" : peer.Key;

    private PolicyPeer Peer(string peer, IReadOnlyDictionary<string, string> labels)
    {
        if (peer.Length == 0)
        {
            return new PolicyPeer(PolicyPeer.Workload, labels);
        }

        if (peer is PolicyPeer.Internet or PolicyPeer.Unknown)
        {
            return new PolicyPeer(peer, new Dictionary<string, string>());
        }

        var network = networks.FirstOrDefault(n => n.Name == peer);
        return new PolicyPeer(PolicyPeer.NamedNetwork, network?.Labels ?? new Dictionary<string, string>())
        {
            Network = peer,
            Cidrs = network is null ? [] : [.. network.Prefixes.Select(p => p.ToString())],
        };
    }

    /// <summary>Collapses ports to ranges per protocol: 80, 443, 8000, 8001, 8002 → 80, 443, 8000-8002.</summary>
    public static List<PortRange> Collapse(IEnumerable<(string Protocol, int Port)> services)
    {
        var ranges = new List<PortRange>();
        foreach (var protocol in services.GroupBy(s => s.Protocol).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            PortRange? open = null;
            foreach (var port in protocol.Select(s => s.Port).Distinct().Order())
            {
                if (open is not null && port == open.To + 1)
                {
                    open = open with { To = port };
                    continue;
                }

                if (open is not null)
                {
                    ranges.Add(open);
                }

                open = new PortRange(protocol.Key, port, port);
            }

            if (open is not null)
            {
                ranges.Add(open);
            }
        }

        return ranges;
    }

    private sealed class Draft(PolicyPeer source, PolicyPeer destination)
    {
        private readonly HashSet<(string, int)> services = [];
        private long flows;
        private DateTimeOffset first = DateTimeOffset.MaxValue;
        private DateTimeOffset last = DateTimeOffset.MinValue;

        public void Add(TrafficRow row)
        {
            services.Add((row.Protocol, row.Protocol is "icmp" or "icmpv6" ? 0 : row.Port));
            flows += row.Flows;
            first = row.FirstSeen < first ? row.FirstSeen : first;
            last = row.LastSeen > last ? row.LastSeen : last;
        }

        public PolicyRule ToRule() => new(RuleName(source, destination), source, destination, Collapse(services))
        {
            Flows = flows,
            FirstSeen = first,
            LastSeen = last,
        };
    }
}
