using Visibility.Flows.Labels;

namespace Visibility.Query.Graph;

/// <summary>
/// A group-by key and the column expression it reads for one end of a flow. Standard labels and the special
/// keys (<c>workload</c>, <c>address</c>, <c>kind</c>) are columns; any other label key is looked up in the
/// labels map through a bound parameter, never spliced into SQL.
/// </summary>
public sealed record GroupKey(string Name, string SourceExpression, string DestinationExpression, string? ParameterName)
{
    /// <summary>Whether the key reads a column only the raw table has (addresses, free-form labels).</summary>
    public bool NeedsRaw => Name == "address" || ParameterName is not null;

    /// <summary>The flow columns the key reads on both ends.</summary>
    public IEnumerable<string> Columns => Name switch
    {
        "address" => ["src_ip", "dst_ip"],
        _ when ParameterName is not null => ["src_labels", "dst_labels"],
        _ => [SourceExpression, DestinationExpression],
    };

    public const int MaxKeys = 8;

    /// <summary>Parses <c>app,env</c>; returns the keys or a message naming the bad one.</summary>
    public static bool TryParseList(string? text, out IReadOnlyList<GroupKey> keys, out string? error) =>
        TryParseList(text, MaxKeys, out keys, out error);

    /// <summary>Parses a list of at most <paramref name="maxKeys"/> keys (a grouping of its own beside a graph's, such as the policy decisions' one).</summary>
    public static bool TryParseList(string? text, int maxKeys, out IReadOnlyList<GroupKey> keys, out string? error)
    {
        var names = (text ?? "app,env").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var result = new List<GroupKey>();
        error = null;
        keys = result;
        if (names.Length == 0)
        {
            error = "groupBy needs at least one label key, e.g. groupBy=app,env";
            return false;
        }

        if (names.Length > maxKeys)
        {
            error = $"groupBy takes at most {maxKeys} keys";
            return false;
        }

        foreach (var name in names)
        {
            if (result.Any(k => k.Name == name))
            {
                error = $"groupBy lists '{name}' twice";
                return false;
            }

            if (LabelKeys.Standard.Contains(name))
            {
                result.Add(new GroupKey(name, "src_" + name, "dst_" + name, null));
            }
            else if (name == "workload")
            {
                result.Add(new GroupKey(name, "src_workload", "dst_workload", null));
            }
            else if (name == "kind")
            {
                result.Add(new GroupKey(name, "src_kind", "dst_kind", null));
            }
            else if (name == "address")
            {
                result.Add(new GroupKey(name, "replaceOne(toString(src_ip), '::ffff:', '')", "replaceOne(toString(dst_ip), '::ffff:', '')", null));
            }
            else if (LabelKeys.IsValidKey(name))
            {
                var parameter = "gk" + result.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                result.Add(new GroupKey(name, $"src_labels[{{{parameter}:String}}]", $"dst_labels[{{{parameter}:String}}]", parameter));
            }
            else
            {
                error = $"groupBy key '{name}' is not a valid label key (a letter, then letters, digits, '_', '.', '-', '/')";
                return false;
            }
        }

        return true;
    }
}
