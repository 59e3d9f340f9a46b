using System.Globalization;
using System.Text;
using k8s;
using k8s.Models;

namespace Visibility.Query.Policy.Rendering;

/// <summary>How ruleset labels become Kubernetes selectors.</summary>
public sealed record NetworkPolicyOptions
{
    /// <summary>
    /// The workload label holding the Kubernetes namespace: <c>namespace</c>, as the Kubernetes inventory sets it.
    /// A destination's namespace becomes the policy's namespace; a source's becomes a namespaceSelector on
    /// <c>kubernetes.io/metadata.name</c>. Neither appears in a podSelector.
    /// </summary>
    public string NamespaceLabel { get; init; } = "namespace";

    /// <summary>
    /// Pod label keys for ruleset label keys, where they differ (e.g. <c>app</c> → <c>app.kubernetes.io/name</c>
    /// when the inventory read <c>app</c> from that pod label). Keys not listed are used as they are, which suits
    /// both Kubernetes-style keys (<c>app.kubernetes.io/name</c>, kept by the inventory under their own name)
    /// and plain ones (<c>app</c>, <c>tier</c>).
    /// </summary>
    public IReadOnlyDictionary<string, string> PodLabelKeys { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Prefix of every policy name.</summary>
    public string NamePrefix { get; init; } = "visibility-allow";

    /// <summary>
    /// The kinds (<c>pod</c>, <c>vm</c>, <c>host</c>…; empty text: not given) of the workloads a workload peer stands
    /// for, from the inventory (<see cref="InventoryAddressBook.Kinds"/>); null: unknown, every group is taken for
    /// pods. A pod selector selects pods only: a group of other workloads is left out with a note, a mixed group is
    /// rendered with one. A kind not given counts as a pod.
    /// </summary>
    public Func<PolicyPeer, IReadOnlySet<string>>? WorkloadKinds { get; init; }

    public string PodLabelKey(string key) => PodLabelKeys.GetValueOrDefault(key, key);
}

/// <summary>What was rendered, and the rules (or parts of rules) Kubernetes NetworkPolicy cannot express.</summary>
public sealed record NetworkPolicyRendering(IReadOnlyList<V1NetworkPolicy> Policies, IReadOnlyList<string> NotRendered, string Yaml);

/// <summary>
/// Renders a ruleset as Kubernetes NetworkPolicy objects (typed models from KubernetesClient): one policy per
/// destination workload, isolating the pods that carry its labels for ingress and allowing each rule's source
/// on the rule's ports. Output is deterministic (policies by name, rules by name, peers and ports sorted) so it
/// can be diffed and kept under review. Not expressible, and reported instead of approximated: destinations
/// that are not workloads (NetworkPolicy selects pods), <c>unknown</c> sources, ICMP, labels that are not valid
/// Kubernetes labels, and rules without ports. See docs/policy.md, "Renderers".
/// </summary>
public sealed class NetworkPolicyRenderer(NetworkPolicyOptions? options = null)
{
    public const string RulesetAnnotation = "visibility.io/ruleset";
    public const string RulesAnnotation = "visibility.io/rules";
    public const string NotRenderedAnnotation = "visibility.io/not-rendered";
    public const string ScopeAnnotation = "visibility.io/scope";
    public const string NamespaceNameLabel = "kubernetes.io/metadata.name";

    /// <summary>Prefix of the default-deny policies' names (<c>visibility-default-deny-env-prod</c>).</summary>
    public const string DenyNamePrefix = "visibility-default-deny";

    private static readonly string[] InternetV4Except = [.. AddressRanges.NonPublicIPv4];
    private static readonly string[] InternetV6Except = [.. AddressRanges.NonPublicIPv6];

    private readonly NetworkPolicyOptions options = options ?? new NetworkPolicyOptions();

    public NetworkPolicyRendering Render(PolicyRuleset ruleset)
    {
        ArgumentNullException.ThrowIfNull(ruleset);
        var notRendered = new List<string>();
        var byDestination = new SortedDictionary<string, List<PolicyRule>>(StringComparer.Ordinal);
        foreach (var rule in ruleset.Rules)
        {
            if (rule.Destination.Kind != PolicyPeer.Workload)
            {
                notRendered.Add($"{rule.Name}: destination is {rule.Destination.Key}; NetworkPolicy ingress selects pods");
                continue;
            }

            if (Problem(rule.Destination.Labels) is { } problem)
            {
                notRendered.Add($"{rule.Name}: destination {problem}");
                continue;
            }

            if (NotPods(rule.Destination, out _) is { } others)
            {
                notRendered.Add($"{rule.Name}: destination {rule.Destination.Key} is {others} workloads; NetworkPolicy selects pods only");
                continue;
            }

            var key = rule.Destination.Key;
            if (!byDestination.TryGetValue(key, out var rules))
            {
                byDestination[key] = rules = [];
            }

            rules.Add(rule);
        }

        var names = UniqueNames(byDestination.Keys, key => byDestination[key][0].Destination);
        var denies = DefaultDeny(ruleset, byDestination.Values.Select(r => r[0].Destination), out var denyNote);
        var policies = byDestination
            .Select(d => Policy(ruleset.Name, names[d.Key], d.Value[0].Destination, d.Value))
            .Concat(denies)
            .OrderBy(p => p.Metadata.NamespaceProperty ?? "", StringComparer.Ordinal)
            .ThenBy(p => p.Metadata.Name, StringComparer.Ordinal)
            .ToList();
        notRendered.Sort(StringComparer.Ordinal);
        return new NetworkPolicyRendering(policies, notRendered, Yaml(ruleset.Name, policies, [denyNote], notRendered));
    }

    /// <summary>
    /// Policies isolating every pod the ruleset governs (<see cref="PolicyScope"/>), with no ingress rule: pods of the
    /// scope that no rule names are then closed as simulation and nftables close them (NetworkPolicies add up, so the
    /// allow policies still allow what they allow). A namespaced selector gives one policy; otherwise one per namespace
    /// the ruleset's destinations name and one for kubectl's namespace. A scope that no label selector expresses gets
    /// none, and the note says so.
    /// </summary>
    private List<V1NetworkPolicy> DefaultDeny(PolicyRuleset ruleset, IEnumerable<PolicyPeer> destinations, out string note)
    {
        var scope = PolicyScope.Of(ruleset);
        var selector = PolicyScope.Selector(scope);
        var problem = selector is null ? "it is not a selector of destination labels (dst.key = value joined by and)" : Problem(selector);
        if (problem is not null)
        {
            note = $"Default deny: none, as the ruleset's scope '{Printable(scope)}' cannot be a pod selector: {problem}. Only the destinations the rules name are isolated.";
            return [];
        }

        var namespaces = new SortedSet<string?>(Comparer<string?>.Create((a, b) => string.CompareOrdinal(a, b)));
        if (selector!.TryGetValue(options.NamespaceLabel, out var scoped))
        {
            namespaces.Add(scoped);
        }
        else
        {
            namespaces.Add(null);
            foreach (var destination in destinations)
            {
                if (destination.Labels.TryGetValue(options.NamespaceLabel, out var ns)
                    && selector.All(l => !destination.Labels.TryGetValue(l.Key, out var value) || value == l.Value))
                {
                    namespaces.Add(ns);
                }
            }
        }

        var podLabels = selector.Where(l => l.Key != options.NamespaceLabel).Select(l => $"{l.Key}={l.Value}").ToList();
        var what = podLabels.Count == 0 ? "every pod" : "pods with " + string.Join(",", podLabels);
        var where = scoped is not null
            ? $"in namespace {scoped}"
            : $"in kubectl's namespace{string.Concat(namespaces.OfType<string>().Select(n => ", " + n))}; apply it with kubectl apply -n <namespace> to every other namespace holding such pods";
        note = $"Default deny: no ingress but what the rules allow for {Printable(what)} (the ruleset's scope{(scope.Length == 0 ? ": all traffic" : " " + Printable(scope))}), {Printable(where)}.";
        var name = podLabels.Count > 0 ? KubernetesNames.FromLabels(DenyNamePrefix, selector, options.NamespaceLabel) : DenyNamePrefix + "-all";
        return [.. namespaces.Select(ns => new V1NetworkPolicy
        {
            ApiVersion = $"{V1NetworkPolicy.KubeGroup}/{V1NetworkPolicy.KubeApiVersion}",
            Kind = V1NetworkPolicy.KubeKind,
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = ns,
                Labels = new Dictionary<string, string>(StringComparer.Ordinal) { ["app.kubernetes.io/managed-by"] = "visibility" },
                Annotations = new Dictionary<string, string>(StringComparer.Ordinal) { [RulesetAnnotation] = ruleset.Name, [ScopeAnnotation] = scope },
            },
            Spec = new V1NetworkPolicySpec { PodSelector = PodSelector(selector), PolicyTypes = ["Ingress"], Ingress = [] },
        })];
    }

    /// <summary>The non-pod kinds of a workload group when it has no pods at all (null otherwise); <paramref name="mixed"/>: pods and others.</summary>
    private string? NotPods(PolicyPeer peer, out string? mixed)
    {
        mixed = null;
        if (peer.Kind != PolicyPeer.Workload || options.WorkloadKinds?.Invoke(peer) is not { Count: > 0 } kinds)
        {
            return null;
        }

        var others = string.Join("/", kinds.Where(k => k is not ("pod" or "")).Order(StringComparer.Ordinal));
        if (others.Length == 0)
        {
            return null;
        }

        if (kinds.Any(k => k is "pod" or ""))
        {
            mixed = others;
            return null;
        }

        return others;
    }

    private V1NetworkPolicy Policy(string rulesetName, string name, PolicyPeer destination, List<PolicyRule> rules)
    {
        var notes = new List<string>();
        if (NotPods(destination, out var mixedKinds) is null && mixedKinds is not null)
        {
            notes.Add($"{destination.Key}: the selector matches its pods only, not its {mixedKinds} workloads");
        }

        var ingress = new List<V1NetworkPolicyIngressRule>();
        var rendered = new List<string>();
        foreach (var rule in rules.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            var from = From(rule.Source, out var fromProblem);
            string? sourceMixed = null;
            if (from is not null && NotPods(rule.Source, out sourceMixed) is { } sourceOthers)
            {
                (from, fromProblem) = (null, $"{rule.Source.Key} is {sourceOthers} workloads; a pod selector does not match them");
            }
            else if (from is not null && sourceMixed is not null)
            {
                notes.Add($"{rule.Name}: source {rule.Source.Key}: the selector matches its pods only, not its {sourceMixed} workloads");
            }

            var ports = Ports(rule.Ports, out var portNotes);
            notes.AddRange(portNotes.Select(n => $"{rule.Name}: {n}"));
            if (from is null)
            {
                notes.Add($"{rule.Name}: source {fromProblem}");
                continue;
            }

            if (ports.Count == 0)
            {
                // An ingress rule without ports allows every port: never the meaning of a rule whose ports were dropped.
                notes.Add($"{rule.Name}: no port NetworkPolicy can express; rule left out");
                continue;
            }

            ingress.Add(new V1NetworkPolicyIngressRule { FromProperty = from, Ports = ports });
            rendered.Add(rule.Name);
        }

        var annotations = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [RulesetAnnotation] = rulesetName,
            [RulesAnnotation] = string.Join('\n', rendered),
        };
        if (notes.Count > 0)
        {
            annotations[NotRenderedAnnotation] = string.Join('\n', notes);
        }

        destination.Labels.TryGetValue(options.NamespaceLabel, out var @namespace);
        return new V1NetworkPolicy
        {
            ApiVersion = $"{V1NetworkPolicy.KubeGroup}/{V1NetworkPolicy.KubeApiVersion}",
            Kind = V1NetworkPolicy.KubeKind,
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = @namespace,
                Labels = new Dictionary<string, string>(StringComparer.Ordinal) { ["app.kubernetes.io/managed-by"] = "visibility" },
                Annotations = annotations,
            },
            Spec = new V1NetworkPolicySpec
            {
                PodSelector = PodSelector(destination.Labels),
                PolicyTypes = ["Ingress"],
                Ingress = ingress,
            },
        };
    }

    private List<V1NetworkPolicyPeer>? From(PolicyPeer source, out string? problem)
    {
        problem = null;
        switch (source.Kind)
        {
            case PolicyPeer.Workload:
                if (Problem(source.Labels) is { } labelProblem)
                {
                    problem = labelProblem;
                    return null;
                }

                // Without a namespace label the rule means these labels in any namespace; a podSelector alone
                // would mean only the policy's own namespace.
                var namespaceLabels = source.Labels.TryGetValue(options.NamespaceLabel, out var ns)
                    ? new Dictionary<string, string>(StringComparer.Ordinal) { [NamespaceNameLabel] = ns }
                    : null;
                return [new V1NetworkPolicyPeer { PodSelector = PodSelector(source.Labels), NamespaceSelector = new V1LabelSelector { MatchLabels = namespaceLabels } }];
            case PolicyPeer.NamedNetwork:
                var cidrs = new List<AddressRange>();
                foreach (var cidr in source.Cidrs ?? [])
                {
                    if (!AddressRanges.TryParse(cidr, out var range) || range.ToString().Contains('-', StringComparison.Ordinal))
                    {
                        problem = $"{source.Key} has '{cidr}', which is not a CIDR prefix";
                        return null;
                    }

                    cidrs.Add(range);
                }

                if (cidrs.Count == 0)
                {
                    problem = $"{source.Key} has no CIDRs";
                    return null;
                }

                return [.. cidrs.Distinct().OrderBy(r => r.First).ThenBy(r => r.Last).Select(Cidr).Select(c => new V1NetworkPolicyPeer { IpBlock = new V1IPBlock { Cidr = c } })];
            case PolicyPeer.Internet:
                return
                [
                    new V1NetworkPolicyPeer { IpBlock = new V1IPBlock { Cidr = "0.0.0.0/0", Except = InternetV4Except } },
                    new V1NetworkPolicyPeer { IpBlock = new V1IPBlock { Cidr = "::/0", Except = InternetV6Except } },
                ];
            default:
                problem = $"is {source.Key}: internal addresses without a workload have no selector";
                return null;
        }
    }

    private static List<V1NetworkPolicyPort> Ports(IReadOnlyList<PortRange> ranges, out List<string> notes)
    {
        notes = [];
        var ports = new SortedSet<(string Protocol, int From, int To)>();
        foreach (var range in ranges)
        {
            var protocol = range.Protocol.ToUpperInvariant();
            if (protocol is not ("TCP" or "UDP" or "SCTP"))
            {
                notes.Add($"{Printable(range.ToString())} not expressible in NetworkPolicy");
                continue;
            }

            if (range.From < 0 || range.To > 65535 || range.From > range.To)
            {
                notes.Add($"{Printable(range.ToString())} is not a port range");
                continue;
            }

            ports.Add((protocol, range.From, range.To));
        }

        return [.. ports.Select(p => p.From <= 1 && p.To == 65535
            ? new V1NetworkPolicyPort { Protocol = p.Protocol }
            : new V1NetworkPolicyPort { Protocol = p.Protocol, Port = p.From, EndPort = p.To > p.From ? p.To : null })];
    }

    private V1LabelSelector PodSelector(IReadOnlyDictionary<string, string> labels)
    {
        var matchLabels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in labels)
        {
            if (key != options.NamespaceLabel)
            {
                matchLabels[options.PodLabelKey(key)] = value;
            }
        }

        return new V1LabelSelector { MatchLabels = matchLabels.Count > 0 ? matchLabels : null };
    }

    /// <summary>Why these labels cannot be a Kubernetes selector, or null when they can.</summary>
    private string? Problem(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (key, value) in labels.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            if (key == options.NamespaceLabel)
            {
                if (!KubernetesNames.IsDnsLabel(value))
                {
                    return $"namespace '{Printable(value)}' is not a Kubernetes namespace name";
                }

                continue;
            }

            var podKey = options.PodLabelKey(key);
            if (!KubernetesNames.IsQualifiedName(podKey))
            {
                return $"label key '{Printable(podKey)}' is not a Kubernetes label key";
            }

            if (!KubernetesNames.IsLabelValue(value))
            {
                return $"label {Printable(key)}='{Printable(value)}' is not a Kubernetes label value";
            }
        }

        return null;
    }

    private Dictionary<string, string> UniqueNames(IEnumerable<string> keys, Func<string, PolicyPeer> peer)
    {
        var names = keys.ToDictionary(k => k, k => KubernetesNames.FromLabels(options.NamePrefix, peer(k).Labels, options.NamespaceLabel), StringComparer.Ordinal);
        // Different label sets can clean up to one name (app=a.b, app=a-b); those get a hash of their key.
        foreach (var clash in names.GroupBy(n => n.Value, StringComparer.Ordinal).Where(g => g.Count() > 1).SelectMany(g => g).ToList())
        {
            names[clash.Key] = KubernetesNames.WithHash(clash.Value, clash.Key);
        }

        return names;
    }

    private static string Cidr(AddressRange range) =>
        range.ToString() is var text && text.Contains('/', StringComparison.Ordinal) ? text : text + (range.IsIPv4 ? "/32" : "/128");

    private static string Yaml(string rulesetName, List<V1NetworkPolicy> policies, List<string> notes, List<string> notRendered)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# Kubernetes NetworkPolicy rendered by Visibility from ruleset \"{Printable(rulesetName)}\".\n");
        text.Append("# Apply with: kubectl apply -f <this file> (policies without a namespace go to kubectl's namespace).\n");
        foreach (var note in notes)
        {
            text.Append("# ").Append(Printable(note)).Append('\n');
        }

        foreach (var line in notRendered)
        {
            text.Append("# not rendered: ").Append(Printable(line)).Append('\n');
        }

        foreach (var policy in policies)
        {
            text.Append("---\n").Append(KubernetesYaml.Serialize(policy));
            if (text[^1] != '\n')
            {
                text.Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>Text for a YAML comment or a note: printable ASCII only, anything else as <c>\uXXXX</c>.</summary>
    internal static string Printable(string text)
    {
        var result = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (c is >= ' ' and <= '~')
            {
                result.Append(c);
            }
            else
            {
                result.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        return result.ToString();
    }
}
