using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Visibility.Web.Commands;

/// <summary>The options several verbs share, each defined once so their names, help and checks agree.</summary>
internal static class CliOptions
{
    /// <summary><c>--url</c>: the running <c>visibility serve</c> a client verb talks to.</summary>
    public static Option<string> Url() => new("--url")
    {
        Description = "the running `visibility serve` (default: $VISIBILITY_URL, else http://127.0.0.1:5080)",
        HelpName = "URL",
    };

    public static Option<string> Text(string name, string description, string helpName, params string[] completions)
    {
        var option = new Option<string>(name) { Description = description, HelpName = helpName };
        if (completions.Length > 0)
        {
            option.CompletionSources.Add(completions);
        }

        return option;
    }

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>]; anything else is a usage error saying so.</summary>
    public static Option<int> Number(string name, string description, int min, int max, int defaultValue) => new(name)
    {
        Description = description,
        HelpName = "N",
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
            {
                return value;
            }

            result.AddError($"{name} needs a number from {min} to {max}, not '{text}'");
            return defaultValue;
        },
    };

    /// <summary>The time range options of the read verbs: <c>--last</c>, or <c>--from</c> with an optional <c>--to</c>.</summary>
    public static (Option<string> Last, Option<string> From, Option<string> To) Range() =>
    (
        Text("--last", "the range: this long up to now, e.g. 15m, 1h, 7d (default 1h)", "DURATION"),
        Text("--from", "the range's start, RFC 3339 or Unix seconds", "TIME"),
        Text("--to", "the range's end (default now)", "TIME")
    );

    public static Option<string> Filter() =>
        Text("--filter", "the filter language, e.g. 'src.env = dev and dst.env = prod and port in (5432, 6432)'", "FILTER");

    public static Option<string> GroupBy() => Text("--group-by", "label keys to group by, e.g. app,env", "KEYS");

    public static Option<string> MinSeverity() =>
        Text("--min-severity", "the least severity shown", "SEVERITY", "low", "medium", "high", "critical");

    /// <summary>Adds each option to <paramref name="command"/>, in order (help lists them so).</summary>
    public static Command With(this Command command, params Option[] options)
    {
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        return command;
    }

    /// <summary>The API query parameters named by <paramref name="parameters"/> that were given, in order.</summary>
    public static List<(string Name, string Value)> Query(ParseResult parse, IEnumerable<(Option<string> Option, string Name)> parameters) =>
        [.. parameters.Select(p => (p.Name, Value: parse.GetValue(p.Option))).Where(p => p.Value is not null).Select(p => (p.Name, p.Value!))];
}
