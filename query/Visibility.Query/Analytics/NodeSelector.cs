using Visibility.Flows.Labels;
using Visibility.Query.Graph;

namespace Visibility.Query.Analytics;

/// <summary>
/// A group of graph nodes, written as comma-separated <c>key=value</c> pairs that must all hold:
/// <c>env=prod,role=db</c> matches nodes whose labels have both values; <c>kind=unknown|internet|workload</c>
/// matches <see cref="GraphNode.Kind"/>. <c>id=&lt;node id&gt;</c> names one node exactly; since node ids contain
/// <c>,</c> and <c>=</c> themselves (<c>app=api,env=prod</c>), <c>id=</c> must come alone and takes the rest of
/// the text verbatim.
/// </summary>
public sealed class NodeSelector
{
    public const int MaxLength = 1024;
    public const int MaxTerms = 16;

    private static readonly string[] NodeKinds = ["unknown", "internet", "workload"];

    private NodeSelector(string text, string? id, string? kind, IReadOnlyList<KeyValuePair<string, string>> labels)
    {
        Text = text;
        Id = id;
        Kind = kind;
        Labels = labels;
    }

    /// <summary>The selector as written.</summary>
    public string Text { get; }

    public string? Id { get; }

    public string? Kind { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Labels { get; }

    public static AnalyticsResult<NodeSelector> Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Invalid("selector is empty; it needs key=value pairs such as env=prod,role=db, kind=internet or id=<node id>");
        }

        if (text.Length > MaxLength)
        {
            return Invalid($"selector is longer than {MaxLength} characters");
        }

        var trimmed = text.Trim();
        if (trimmed.StartsWith("id=", StringComparison.Ordinal))
        {
            var id = trimmed[3..];
            return id.Length == 0
                ? Invalid("selector 'id=' needs a node id, e.g. id=app=api,env=prod")
                : AnalyticsResult.Ok(new NodeSelector(trimmed, id, null, []));
        }

        var terms = trimmed.Split(',', StringSplitOptions.TrimEntries);
        if (terms.Length > MaxTerms)
        {
            return Invalid($"selector '{trimmed}' has more than {MaxTerms} key=value pairs");
        }

        string? kind = null;
        var labels = new List<KeyValuePair<string, string>>(terms.Length);
        foreach (var term in terms)
        {
            var eq = term.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                return Invalid($"selector '{(term.Length == 0 ? trimmed : term)}' needs key=value pairs such as env=prod,role=db");
            }

            var key = term[..eq].Trim();
            var value = term[(eq + 1)..].Trim();
            if (key == "id")
            {
                return Invalid("selector 'id=' must stand alone: node ids contain ',' and '=', so id= takes the whole rest of the selector");
            }

            if (!LabelKeys.IsValidKey(key))
            {
                return Invalid($"selector key '{key}' is not a valid label key (a letter, then letters, digits, '_', '.', '-', '/')");
            }

            if (value.Length == 0)
            {
                return Invalid($"selector '{term}' needs a value after '='");
            }

            if (key == "kind" ? kind is not null : labels.Exists(l => l.Key == key))
            {
                return Invalid($"selector names '{key}' twice");
            }

            if (key == "kind")
            {
                if (Array.IndexOf(NodeKinds, value) < 0)
                {
                    return Invalid($"selector 'kind={value}': kind is one of {string.Join(", ", NodeKinds)}");
                }

                kind = value;
            }
            else
            {
                labels.Add(new KeyValuePair<string, string>(key, value));
            }
        }

        return AnalyticsResult.Ok(new NodeSelector(trimmed, null, kind, labels));
    }

    public bool Matches(GraphNode node)
    {
        if (Id is not null)
        {
            return node.Id == Id;
        }

        if (Kind is not null && node.Kind != Kind)
        {
            return false;
        }

        foreach (var (key, value) in Labels)
        {
            if (!node.Labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        return true;
    }

    public override string ToString() => Text;

    private static AnalyticsResult<NodeSelector> Invalid(string error) => AnalyticsResult.Invalid<NodeSelector>(error);
}
