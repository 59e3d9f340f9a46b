using Visibility.Flows.Store;

namespace Visibility.Query.Filtering;

/// <summary>
/// Parses the filter language shared by the API (<c>filter=</c>), the CLI, the UI and exports:
/// <code>
/// filter     := or | (empty: every flow)
/// or         := and ("or" and)*
/// and        := unary ("and" unary)*
/// unary      := "not" unary | "(" or ")" | comparison
/// comparison := field ("=" | "!=" | "&lt;" | "&lt;=" | "&gt;" | "&gt;=") value | field ["not"] "in" (value | "(" value ("," value)* ")")
/// value      := [A-Za-z0-9_.:/-]+ | "..." | '...'   (backslash escapes \\ \" \' inside quotes)
/// </code>
/// Keywords are case-insensitive; fields and values are case-sensitive except protocol, kind and finding names.
/// A keyword is not a bare value (<c>env = "and"</c> quotes it), so a forgotten value reads as an error, not
/// as a comparison with the next keyword. Parsing never throws, recurses at most <see cref="MaxDepth"/> levels
/// and is linear in the input.
/// </summary>
public static class FilterParser
{
    public const int MaxLength = 4096;
    public const int MaxDepth = 32;
    public const int MaxComparisons = 256;
    public const int MaxListValues = 1024;

    public static FilterParseResult Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return new FilterParseResult(MatchAllFilter.Instance, null);
        }

        if (text.Length > MaxLength)
        {
            return new FilterParseResult(null, new FilterError(MaxLength + 1, $"filter is longer than {MaxLength} characters"));
        }

        return new Parser(text).Run();
    }

    private sealed class Parser(string text)
    {
        private readonly FilterLexer lexer = new(text);
        private Token current;
        private FilterError? error;
        private int comparisons;

        public FilterParseResult Run()
        {
            if (!Advance())
            {
                return new FilterParseResult(null, error);
            }

            var filter = ParseOr(0, null);
            if (filter is not null && current.Kind != TokenKind.End)
            {
                Fail(current.Position, $"expected 'and', 'or' or end of input, found {current.Describe()}");
            }

            return error is null ? new FilterParseResult(filter, null) : new FilterParseResult(null, error);
        }

        private bool Advance()
        {
            if (lexer.TryNext(out current, out var lexError))
            {
                return true;
            }

            error = lexError;
            return false;
        }

        private FilterExpression? Fail(int position, string reason)
        {
            error ??= new FilterError(position, reason);
            return null;
        }

        private FilterExpression? ParseOr(int depth, Token? open)
        {
            var operands = new List<FilterExpression>();
            do
            {
                if (operands.Count > 0 && !Advance())
                {
                    return null;
                }

                var operand = ParseAnd(depth);
                if (operand is null)
                {
                    return null;
                }

                operands.AddRange(operand is OrFilter or ? or.Operands : [operand]);
            }
            while (current.IsKeyword("or"));

            if (open is { } paren && current.Kind != TokenKind.RightParen)
            {
                return Fail(current.Position, $"expected 'and', 'or' or ')' to close the '(' at position {paren.Position}, found {current.Describe()}");
            }

            return operands.Count == 1 ? operands[0] : new OrFilter(new ValueList<FilterExpression>(operands));
        }

        private FilterExpression? ParseAnd(int depth)
        {
            var operands = new List<FilterExpression>();
            do
            {
                if (operands.Count > 0 && !Advance())
                {
                    return null;
                }

                var operand = ParseUnary(depth);
                if (operand is null)
                {
                    return null;
                }

                operands.AddRange(operand is AndFilter and ? and.Operands : [operand]);
            }
            while (current.IsKeyword("and"));

            return operands.Count == 1 ? operands[0] : new AndFilter(new ValueList<FilterExpression>(operands));
        }

        private FilterExpression? ParseUnary(int depth)
        {
            var isNot = current.IsKeyword("not");
            if (isNot || current.Kind == TokenKind.LeftParen)
            {
                if (depth == MaxDepth)
                {
                    return Fail(current.Position, $"filter nests deeper than {MaxDepth} levels of parentheses and 'not'");
                }

                var open = current;
                if (!Advance())
                {
                    return null;
                }

                if (isNot)
                {
                    var operand = ParseUnary(depth + 1);
                    return operand is null ? null : new NotFilter(operand);
                }

                var inner = ParseOr(depth + 1, open);
                return inner is null || !Advance() ? null : inner;
            }

            if (current.Kind == TokenKind.Word && !FilterLexer.IsKeyword(current.Text))
            {
                return ParseComparison();
            }

            return Fail(current.Position, $"expected a field, 'not' or '(', found {current.Describe()}");
        }

        private FilterExpression? ParseComparison()
        {
            var fieldToken = current;
            if (++comparisons > MaxComparisons)
            {
                return Fail(fieldToken.Position, $"filter has more than {MaxComparisons} comparisons");
            }

            if (!FilterFields.TryResolve(fieldToken.Text, out var field, out var fieldError))
            {
                return Fail(fieldToken.Position, fieldError!);
            }

            if (!Advance())
            {
                return null;
            }

            var opToken = current;
            FilterOperator? op = current.Kind switch
            {
                TokenKind.Equal => FilterOperator.Equal,
                TokenKind.NotEqual => FilterOperator.NotEqual,
                TokenKind.Less => FilterOperator.Less,
                TokenKind.LessOrEqual => FilterOperator.LessOrEqual,
                TokenKind.Greater => FilterOperator.Greater,
                TokenKind.GreaterOrEqual => FilterOperator.GreaterOrEqual,
                _ when current.IsKeyword("in") => FilterOperator.In,
                _ when current.IsKeyword("not") => FilterOperator.NotIn,
                _ => null,
            };

            if (op is not { } oper)
            {
                var expected = FilterFields.TypeOf(field) == FilterKind.Port ? "=, !=, <, <=, >, >=, in or not in" : "=, !=, in or not in";
                return Fail(current.Position, $"expected an operator ({expected}) after '{fieldToken.Text}', found {current.Describe()}");
            }

            if (!FilterFields.Allows(field, oper))
            {
                return Fail(opToken.Position, $"operator '{FilterFormatter.FormatOperator(oper)}' applies only to ports, not to '{fieldToken.Text}'");
            }

            if (!Advance())
            {
                return null;
            }

            if (oper == FilterOperator.NotIn)
            {
                if (!current.IsKeyword("in"))
                {
                    return Fail(current.Position, $"expected 'in' after 'not', found {current.Describe()}");
                }

                if (!Advance())
                {
                    return null;
                }
            }

            var values = new List<string>();
            var opText = FilterFormatter.FormatOperator(oper);
            if (oper is FilterOperator.In or FilterOperator.NotIn && current.Kind == TokenKind.LeftParen)
            {
                if (!Advance())
                {
                    return null;
                }

                while (true)
                {
                    if (values.Count == MaxListValues && IsValue(current))
                    {
                        return Fail(current.Position, $"a list has more than {MaxListValues} values");
                    }

                    if (!TryValue(field, "in the list", values) || !Advance())
                    {
                        return null;
                    }

                    if (current.Kind == TokenKind.RightParen)
                    {
                        break;
                    }

                    if (current.Kind != TokenKind.Comma)
                    {
                        return Fail(current.Position, $"expected ',' or ')' in the list, found {current.Describe()}");
                    }

                    if (!Advance())
                    {
                        return null;
                    }
                }
            }
            else
            {
                var where = oper is FilterOperator.In or FilterOperator.NotIn ? $"a value or '(' after '{opText}'" : $"a value after '{opText}'";
                if (!IsValue(current))
                {
                    return Fail(current.Position, $"expected {where}, found {current.Describe()}");
                }

                if (!TryValue(field, "", values))
                {
                    return null;
                }
            }

            return Advance() ? new ComparisonFilter(field, oper, new ValueList<string>(values)) : null;
        }

        private static bool IsValue(Token token) =>
            token.Kind == TokenKind.String || (token.Kind == TokenKind.Word && !FilterLexer.IsKeyword(token.Text));

        private bool TryValue(FilterField field, string where, List<string> values)
        {
            if (!IsValue(current))
            {
                Fail(current.Position, $"expected a value {where}, found {current.Describe()}");
                return false;
            }

            if (!FilterFields.TryNormalize(field, current.Text, out var normal, out var valueError))
            {
                Fail(current.Position, valueError!);
                return false;
            }

            values.Add(normal);
            return true;
        }
    }
}
