using System.Globalization;
using Visibility.Flows.Findings;
using Visibility.Flows.Store;
using Visibility.Flows.Store.Chdb;

namespace Visibility.Query.Filtering;

/// <summary>
/// A filter as a ClickHouse boolean expression over the flow columns (<c>flows_raw</c> and the rollups share the
/// names). User text reaches the engine only as <see cref="Parameters"/>; the SQL holds column names, operators
/// and <c>{name:Type}</c> placeholders.
/// </summary>
public sealed record CompiledFilter(string Sql, List<QueryParameter> Parameters, IReadOnlySet<string> Columns)
{
    /// <summary>
    /// Whether a table with <paramref name="tableColumns"/> can answer the filter: the rollups lack <c>src_ip</c>,
    /// <c>dst_ip</c>, <c>src_port</c> and the label maps, so a filter reading them needs <c>flows_raw</c>.
    /// </summary>
    public bool CanRunOn(IReadOnlySet<string> tableColumns)
    {
        ArgumentNullException.ThrowIfNull(tableColumns);
        return Columns.IsSubsetOf(tableColumns);
    }
}

/// <summary>Compiles a <see cref="FilterExpression"/> to SQL with bound parameters.</summary>
public static class FilterCompiler
{
    // Parsed filters are at most about 2 * FilterParser.MaxDepth deep; the bound only stops hand-built ones.
    private const int MaxTreeDepth = 256;

    /// <summary>
    /// Compiles <paramref name="filter"/>. Parameters are named <paramref name="parameterPrefix"/> followed by a
    /// number; the prefix is letters and '_' only, so filters compiled with different prefixes never share a
    /// name (<c>f1</c> + <c>0</c> and <c>f</c> + <c>10</c> cannot happen) and neither collide with a caller's
    /// own parameters as long as those have no such name. Every filter the parser returns compiles; a hand-built
    /// one with a value the parser would refuse throws <see cref="ArgumentException"/>.
    /// </summary>
    public static CompiledFilter Compile(FilterExpression filter, string parameterPrefix = "f")
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(parameterPrefix);
        if (parameterPrefix.Length is 0 or > 32 || !parameterPrefix.All(c => char.IsAsciiLetter(c) || c == '_'))
        {
            throw new ArgumentException("The parameter prefix must be 1-32 ASCII letters or '_'.", nameof(parameterPrefix));
        }

        var compilation = new Compilation(parameterPrefix);
        var sql = compilation.Node(filter, 0);
        if (filter is not (AndFilter or OrFilter))
        {
            sql = "(" + sql + ")";
        }

        return new CompiledFilter(sql, compilation.Parameters, compilation.Columns);
    }

    private sealed class Compilation(string prefix)
    {
        public List<QueryParameter> Parameters { get; } = [];

        public HashSet<string> Columns { get; } = new(StringComparer.Ordinal);

        /// <summary>SQL usable as an operand of AND, OR and NOT: an atom or a parenthesized expression.</summary>
        public string Node(FilterExpression filter, int depth)
        {
            if (depth > MaxTreeDepth)
            {
                throw new ArgumentException($"The filter is nested deeper than {MaxTreeDepth} levels.", nameof(filter));
            }

            return filter switch
            {
                MatchAllFilter => "true",
                AndFilter and => and.Operands.Count == 0 ? "true" : "(" + string.Join(" AND ", and.Operands.Select(o => Node(o, depth + 1))) + ")",
                OrFilter or => or.Operands.Count == 0 ? "false" : "(" + string.Join(" OR ", or.Operands.Select(o => Node(o, depth + 1))) + ")",
                NotFilter not => "NOT " + Node(not.Operand, depth + 1),
                ComparisonFilter comparison => Comparison(comparison),
                _ => throw new ArgumentException($"Unknown filter node {filter.GetType().Name}.", nameof(filter)),
            };
        }

        private string Comparison(ComparisonFilter c)
        {
            var values = Validate(c);
            var type = FilterFields.TypeOf(c.Field);
            if (c.Operator is FilterOperator.Less or FilterOperator.LessOrEqual or FilterOperator.Greater or FilterOperator.GreaterOrEqual)
            {
                var op = FilterFormatter.FormatOperator(c.Operator);
                return $"{Column(PortSide(c.Field), FilterFields.Port)} {op} {Parameter("UInt16", values[0])}";
            }

            var positive = type switch
            {
                FilterKind.Finding => Finding(values),
                FilterKind.Verdict => Match(Column(FieldSide.None, FilterFields.Verdict), values.Select(v => Parameter("String", v)).ToList()),
                FilterKind.Policy => Policies(values),
                FilterKind.Protocol => Match(Column(FieldSide.None, FilterFields.Proto), values.Select(v => Parameter("UInt8", FilterFields.ProtocolNumber(v).ToString(CultureInfo.InvariantCulture))).ToList()),
                FilterKind.Port => Match(Column(PortSide(c.Field), FilterFields.Port), values.Select(v => Parameter("UInt16", v)).ToList()),
                FilterKind.Address => Ends(c.Field, Addresses(values)),
                _ => Ends(c.Field, Text(c.Field.Key, values)),
            };

            return c.Operator is FilterOperator.NotEqual or FilterOperator.NotIn ? "NOT " + positive : positive;
        }

        /// <summary>
        /// The comparison on the field's end, or on either end; parameters are bound once and read by both ends.
        /// </summary>
        private static string Ends(FilterField field, Func<FieldSide, string> onEnd) => field.Side switch
        {
            FieldSide.Src => onEnd(FieldSide.Src),
            FieldSide.Dst => onEnd(FieldSide.Dst),
            _ => $"({onEnd(FieldSide.Src)} OR {onEnd(FieldSide.Dst)})",
        };

        private Func<FieldSide, string> Text(string key, IReadOnlyList<string> values)
        {
            string? keyParameter = null;
            _ = FilterFields.ColumnOf(FieldSide.Src, key, out var isLabelMap);
            if (isLabelMap)
            {
                keyParameter = Parameter("String", key);
            }

            var parameters = values.Select(v => Parameter("String", v)).ToList();
            return side => Match(isLabelMap ? $"{Column(side, key)}[{keyParameter}]" : Column(side, key), parameters);
        }

        private Func<FieldSide, string> Addresses(IReadOnlyList<string> values)
        {
            var ranges = values.Select(v => AddressRange.TryParse(v, out var range, out _) ? range : throw new ArgumentException($"Invalid address '{v}'.", nameof(values))).ToList();
            var single = ranges.Where(r => !r.IsPrefix).Select(r => Parameter("IPv6", r.LowText)).ToList();
            var prefixes = ranges.Where(r => r.IsPrefix).Select(r => (Low: Parameter("IPv6", r.LowText), High: Parameter("IPv6", r.HighText))).ToList();
            return side =>
            {
                var column = Column(side, FilterFields.Ip);
                var parts = new List<string>();
                if (single.Count > 0)
                {
                    parts.Add(Match(column, single));
                }

                parts.AddRange(prefixes.Select(p => $"({column} BETWEEN {p.Low} AND {p.High})"));
                return parts.Count == 1 ? parts[0] : "(" + string.Join(" OR ", parts) + ")";
            };
        }

        /// <summary>
        /// Whether the row's findings hold any of the kinds. A kind computed at query time has no bit and adds none:
        /// its findings are read with <see cref="Planning.FilterClause.ForComputedFinding"/>.
        /// </summary>
        private string Finding(IReadOnlyList<string> values)
        {
            var mask = FindingKind.None;
            foreach (var value in values)
            {
                _ = FindingKinds.TryParse(value, out var kind);
                mask |= kind;
            }

            return $"(bitAnd({Column(FieldSide.None, FilterFields.Finding)}, {Parameter("UInt8", ((byte)mask).ToString(CultureInfo.InvariantCulture))}) != 0)";
        }

        /// <summary>Whether the flow's policies hold the name, or any of the names.</summary>
        private string Policies(IReadOnlyList<string> values)
        {
            var column = Column(FieldSide.None, FilterFields.Policy);
            var parameters = values.Select(v => Parameter("String", v)).ToList();
            return parameters.Count == 1 ? $"has({column}, {parameters[0]})" : $"hasAny({column}, [{string.Join(", ", parameters)}])";
        }

        private static string Match(string expression, List<string> parameters) =>
            parameters.Count == 1 ? $"{expression} = {parameters[0]}" : $"{expression} IN ({string.Join(", ", parameters)})";

        /// <summary>A port on the source is the source's; any other (bare) is the destination's.</summary>
        private static FieldSide PortSide(FilterField field) => field.Side is FieldSide.Src or FieldSide.Dst ? field.Side : FieldSide.None;

        /// <summary>The column <paramref name="key"/> reads on <paramref name="side"/>, recorded as read.</summary>
        private string Column(FieldSide side, string key)
        {
            var name = FilterFields.ColumnOf(side, key, out _);
            Columns.Add(name);
            return name;
        }

        private string Parameter(string type, string value)
        {
            var name = prefix + Parameters.Count.ToString(CultureInfo.InvariantCulture);
            Parameters.Add(new QueryParameter(name, value));
            return $"{{{name}:{type}}}";
        }

        /// <summary>The values in normal form; refuses what the parser would have refused.</summary>
        private static List<string> Validate(ComparisonFilter c)
        {
            if (!FilterFields.TryResolve(c.Field.ToString(), out var resolved, out var error) || resolved != c.Field)
            {
                throw new ArgumentException(error ?? $"Field {c.Field.Side}/'{c.Field.Key}' is not one the parser gives.", nameof(c));
            }

            if (!FilterFields.Allows(c.Field, c.Operator))
            {
                throw new ArgumentException($"Operator {c.Operator} does not apply to '{c.Field}'.", nameof(c));
            }

            var isList = c.Operator is FilterOperator.In or FilterOperator.NotIn;
            if (c.Values.Count == 0 || (!isList && c.Values.Count != 1))
            {
                throw new ArgumentException($"'{c.Field} {FilterFormatter.FormatOperator(c.Operator)}' takes {(isList ? "at least one value" : "one value")}.", nameof(c));
            }

            var values = new List<string>(c.Values.Count);
            foreach (var value in c.Values)
            {
                if (!FilterFields.TryNormalize(c.Field, value, out var normal, out var valueError))
                {
                    throw new ArgumentException(valueError, nameof(c));
                }

                values.Add(normal);
            }

            return values;
        }
    }
}
