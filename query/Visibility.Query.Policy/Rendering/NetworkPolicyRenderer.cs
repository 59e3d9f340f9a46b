using System.Globalization;
using System.Security.Cryptography;
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
    public const string NamespaceNameLabel = "kubernetes.io/metadata.name";

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

            var key = rule.Destination.Key;
            if (!byDestination.TryGetValue(key, out var rules))
            {
                byDestination[key] = rules = [];
            }

            rules.Add(rule);
        }

        var names = UniqueNames(byDestination.Keys, key => byDestination[key][0].Destination);
        var policies = byDestination
            .Select(d => Policy(ruleset.Name, names[d.Key], d.Value[0].Destination, d.Value))
            .OrderBy(p => p.Metadata.NamespaceProperty ?? "", StringComparer.Ordinal)
            .ThenBy(p => p.Metadata.Name, StringComparer.Ordinal)
            .ToList();
        notRendered.Sort(StringComparer.Ordinal);
        return new NetworkPolicyRendering(policies, notRendered, Yaml(ruleset.Name, policies, notRendered));
    }

    private V1NetworkPolicy Policy(string rulesetName, string name, PolicyPeer destination, List<PolicyRule> rules)
    {
        var notes = new List<string>();
        var ingress = new List<V1NetworkPolicyIngressRule>();
        var rendered = new List<string>();
        foreach (var rule in rules.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            var from = From(rule.Source, out var fromProblem);
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

    private static string Yaml(string rulesetName, List<V1NetworkPolicy> policies, List<string> notRendered)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# Kubernetes NetworkPolicy rendered by Visibility from ruleset \"{Printable(rulesetName)}\".\n");
        text.Append("# Apply with: kubectl apply -f <this file> (policies without a namespace go to kubectl's namespace).\n");
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

/// <summary>Kubernetes name and label syntax (the API server's validation rules).</summary>
internal static class KubernetesNames
{
    public const int MaxName = 63;

    /// <summary>A label value: empty, or at most 63 of <c>[A-Za-z0-9._-]</c> starting and ending alphanumeric.</summary>
    public static bool IsLabelValue(string value) =>
        value.Length == 0 || (value.Length <= 63 && char.IsAsciiLetterOrDigit(value[0]) && char.IsAsciiLetterOrDigit(value[^1])
            && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'));

    /// <summary>A label key: an optional DNS-subdomain prefix and '/', then a name as for <see cref="IsLabelValue"/>.</summary>
    public static bool IsQualifiedName(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var name = slash < 0 ? key : key[(slash + 1)..];
        if (name.Length == 0 || !IsLabelValue(name))
        {
            return false;
        }

        if (slash < 0)
        {
            return true;
        }

        var prefix = key[..slash];
        return prefix.Length is > 0 and <= 253 && prefix.Split('.').All(IsDnsLabel);
    }

    /// <summary>An RFC 1123 label: at most 63 of <c>[a-z0-9-]</c>, starting and ending alphanumeric.</summary>
    public static bool IsDnsLabel(string text) =>
        text.Length is > 0 and <= 63 && IsLowerAlnum(text[0]) && IsLowerAlnum(text[^1]) && text.All(c => IsLowerAlnum(c) || c == '-');

    /// <summary><c>visibility-allow-app-db-env-prod</c>: label keys and values, lower-cased, anything else as '-'.</summary>
    public static string FromLabels(string prefix, IReadOnlyDictionary<string, string> labels, string namespaceLabel)
    {
        var parts = labels.Where(l => l.Key != namespaceLabel).OrderBy(l => l.Key, StringComparer.Ordinal)
            .SelectMany(l => new[] { l.Key, l.Value });
        var name = Clean(string.Join('-', parts.Prepend(prefix)));
        if (name.Length == 0)
        {
            name = "visibility-allow";
        }

        return name.Length <= MaxName ? name : WithHash(name, string.Join(',', labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")));
    }

    /// <summary>The name cut to leave room for '-' and 8 hex digits of a hash of <paramref name="key"/>.</summary>
    public static string WithHash(string name, string key)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..8];
        var kept = name[..Math.Min(name.Length, MaxName - 9)].TrimEnd('-');
        return kept.Length == 0 ? hash : $"{kept}-{hash}";
    }

    private static string Clean(string text)
    {
        var result = new StringBuilder(text.Length);
        foreach (var c in text.ToLowerInvariant())
        {
            var keep = IsLowerAlnum(c) ? c : '-';
            if (keep != '-' || (result.Length > 0 && result[^1] != '-'))
            {
                result.Append(keep);
            }
        }

        return result.ToString().Trim('-');
    }

    private static bool IsLowerAlnum(char c) => char.IsAsciiDigit(c) || char.IsAsciiLetterLower(c);
}
