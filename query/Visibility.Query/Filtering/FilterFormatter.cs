using System.Text;

namespace Visibility.Query.Filtering;

/// <summary>
/// Prints a filter in canonical form: keywords in lower case, single spaces, parentheses only where precedence
/// needs them, lists always parenthesized, values bare where the grammar allows and double-quoted otherwise.
/// Whatever the parser returns prints to a string that parses back to an equal expression.
/// </summary>
public static class FilterFormatter
{
    public static string Format(FilterExpression filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var sb = new StringBuilder();
        Append(sb, filter);
        return sb.ToString();
    }

    /// <summary>A value as the grammar reads it back: a bare word, or a double-quoted string.</summary>
    public static string FormatValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length > 0 && value.All(FilterLexer.IsWordChar) && !FilterLexer.IsKeyword(value))
        {
            return value;
        }

        return "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }

    public static string FormatOperator(FilterOperator op) => op switch
    {
        FilterOperator.Equal => "=",
        FilterOperator.NotEqual => "!=",
        FilterOperator.In => "in",
        FilterOperator.NotIn => "not in",
        FilterOperator.Less => "<",
        FilterOperator.LessOrEqual => "<=",
        FilterOperator.Greater => ">",
        FilterOperator.GreaterOrEqual => ">=",
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    // Depth is bounded by the parser's nesting limit for parsed filters.
    private static void Append(StringBuilder sb, FilterExpression filter)
    {
        switch (filter)
        {
            case MatchAllFilter:
                break;

            case ComparisonFilter c:
                sb.Append(c.Field).Append(' ').Append(FormatOperator(c.Operator)).Append(' ');
                if (c.Operator is FilterOperator.In or FilterOperator.NotIn)
                {
                    sb.Append('(');
                    for (var i = 0; i < c.Values.Count; i++)
                    {
                        sb.Append(i == 0 ? "" : ", ").Append(FormatValue(c.Values[i]));
                    }

                    sb.Append(')');
                }
                else
                {
                    sb.Append(FormatValue(c.Values.Count > 0 ? c.Values[0] : ""));
                }

                break;

            case AndFilter and:
                AppendList(sb, and.Operands, " and ", o => o is AndFilter or OrFilter);
                break;

            case OrFilter or:
                AppendList(sb, or.Operands, " or ", o => o is OrFilter);
                break;

            case NotFilter not:
                sb.Append("not ");
                AppendOperand(sb, not.Operand, not.Operand is AndFilter or OrFilter);
                break;

            default:
                throw new ArgumentException($"unknown filter node {filter.GetType().Name}", nameof(filter));
        }
    }

    private static void AppendList(StringBuilder sb, ValueList<FilterExpression> operands, string separator, Func<FilterExpression, bool> needsParentheses)
    {
        for (var i = 0; i < operands.Count; i++)
        {
            sb.Append(i == 0 ? "" : separator);
            AppendOperand(sb, operands[i], needsParentheses(operands[i]));
        }
    }

    private static void AppendOperand(StringBuilder sb, FilterExpression operand, bool parenthesize)
    {
        sb.Append(parenthesize ? "(" : "");
        Append(sb, operand);
        sb.Append(parenthesize ? ")" : "");
    }
}
