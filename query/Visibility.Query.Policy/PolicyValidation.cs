namespace Visibility.Query.Policy;

/// <summary>Checks a ruleset someone wrote or edited before it is simulated or rendered: every problem, each naming its rule and field.</summary>
public static class PolicyValidation
{
    public const int MaxRules = 10_000;

    private static readonly string[] Protocols = ["tcp", "udp", "sctp", "icmp", "icmpv6"];

    public static IReadOnlyList<string> Problems(PolicyRuleset? ruleset)
    {
        if (ruleset is null)
        {
            return ["the ruleset is missing"];
        }

        var problems = new List<string>();
        if (ruleset.Schema != PolicyRuleset.SchemaVersion)
        {
            problems.Add($"schema '{ruleset.Schema}' is not {PolicyRuleset.SchemaVersion}");
        }

        if (ruleset.Rules is null)
        {
            problems.Add("rules is missing");
            return problems;
        }

        if (ruleset.Rules.Count > MaxRules)
        {
            problems.Add($"{ruleset.Rules.Count} rules; at most {MaxRules}");
        }

        for (var i = 0; i < ruleset.Rules.Count && problems.Count < 50; i++)
        {
            var rule = ruleset.Rules[i];
            var at = $"rules[{i}]";
            if (rule is null)
            {
                problems.Add($"{at} is null");
                continue;
            }

            Peer(problems, $"{at}.source", rule.Source);
            Peer(problems, $"{at}.destination", rule.Destination);
            if (rule.Ports is null || rule.Ports.Count == 0)
            {
                problems.Add($"{at}.ports is empty (a rule allows at least one protocol)");
                continue;
            }

            for (var j = 0; j < rule.Ports.Count; j++)
            {
                var port = rule.Ports[j];
                if (port is null || !Protocols.Contains(port.Protocol))
                {
                    problems.Add($"{at}.ports[{j}].protocol '{port?.Protocol}' is not one of {string.Join(", ", Protocols)}");
                }
                else if (port.From < 0 || port.To > 65535 || port.From > port.To)
                {
                    problems.Add($"{at}.ports[{j}] {port.From}-{port.To} is not a port range within 0-65535");
                }
            }
        }

        return problems;
    }

    private static void Peer(List<string> problems, string at, PolicyPeer? peer)
    {
        if (peer is null)
        {
            problems.Add($"{at} is missing");
            return;
        }

        switch (peer.Kind)
        {
            case PolicyPeer.Workload:
                if (!peer.LabelsGiven)
                {
                    problems.Add($"{at}.labels is required for kind 'workload' ({{}} for any workload)");
                }
                else if (peer.Labels.Any(l => string.IsNullOrWhiteSpace(l.Key) || l.Value is null))
                {
                    problems.Add($"{at}.labels must map label keys to values");
                }

                break;
            case PolicyPeer.NamedNetwork:
                if (string.IsNullOrWhiteSpace(peer.Network))
                {
                    problems.Add($"{at}.network is required for kind 'network'");
                }

                break;
            case PolicyPeer.Internet or PolicyPeer.Unknown:
                break;
            default:
                problems.Add($"{at}.kind '{peer.Kind}' is not one of workload, network, internet, unknown");
                break;
        }
    }
}
