using System.Globalization;
using System.Text;

namespace Visibility.Query.Filtering;

internal enum TokenKind
{
    End,
    Word,
    String,
    LeftParen,
    RightParen,
    Comma,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// <summary>A token: <see cref="Text"/> is a word as written or a string's unescaped content; positions are 1-based.</summary>
internal readonly record struct Token(TokenKind Kind, int Position, string Text, string Source)
{
    public bool IsKeyword(string keyword) => Kind == TokenKind.Word && string.Equals(Text, keyword, StringComparison.OrdinalIgnoreCase);

    /// <summary>The token for "found ..." in messages.</summary>
    public string Describe() => Kind switch
    {
        TokenKind.End => "end of input",
        _ => Source.Length > 40 ? $"'{Source[..37]}...'" : $"'{Source}'",
    };
}

/// <summary>Reads tokens one at a time, so the first error by position is the one reported.</summary>
internal sealed class FilterLexer(string text)
{
    private int offset;

    public static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or '/' or '-';

    public static bool IsKeyword(string word) =>
        word.Equals("and", StringComparison.OrdinalIgnoreCase) || word.Equals("or", StringComparison.OrdinalIgnoreCase)
        || word.Equals("not", StringComparison.OrdinalIgnoreCase) || word.Equals("in", StringComparison.OrdinalIgnoreCase);

    public bool TryNext(out Token token, out FilterError? error)
    {
        error = null;
        while (offset < text.Length && char.IsWhiteSpace(text[offset]))
        {
            offset++;
        }

        var start = offset;
        if (offset >= text.Length)
        {
            token = new Token(TokenKind.End, text.Length + 1, "", "");
            return true;
        }

        var c = text[offset];
        var kind = c switch
        {
            '(' => TokenKind.LeftParen,
            ')' => TokenKind.RightParen,
            ',' => TokenKind.Comma,
            '=' => TokenKind.Equal,
            '<' => Peek(1) == '=' ? TokenKind.LessOrEqual : TokenKind.Less,
            '>' => Peek(1) == '=' ? TokenKind.GreaterOrEqual : TokenKind.Greater,
            '!' when Peek(1) == '=' => TokenKind.NotEqual,
            _ => TokenKind.End,
        };

        if (kind != TokenKind.End)
        {
            offset += kind is TokenKind.LessOrEqual or TokenKind.GreaterOrEqual or TokenKind.NotEqual ? 2 : 1;
            token = new Token(kind, start + 1, text[start..offset], text[start..offset]);
            return true;
        }

        if (c is '"' or '\'')
        {
            return TryString(c, out token, out error);
        }

        if (IsWordChar(c))
        {
            while (offset < text.Length && IsWordChar(text[offset]))
            {
                offset++;
            }

            var word = text[start..offset];
            token = new Token(TokenKind.Word, start + 1, word, word);
            return true;
        }

        token = default;
        error = c == '!'
            ? new FilterError(start + 1, "expected '!=', found '!' alone")
            : new FilterError(start + 1, $"unexpected character {DescribeChar(start)}");
        return false;
    }

    private char Peek(int ahead) => offset + ahead < text.Length ? text[offset + ahead] : '\0';

    private bool TryString(char quote, out Token token, out FilterError? error)
    {
        var start = offset;
        var sb = new StringBuilder();
        offset++;
        while (offset < text.Length)
        {
            var c = text[offset];
            if (c == quote)
            {
                offset++;
                token = new Token(TokenKind.String, start + 1, sb.ToString(), text[start..offset]);
                error = null;
                return true;
            }

            if (c == '\\')
            {
                var next = Peek(1);
                if (offset + 1 >= text.Length || next is not ('\\' or '"' or '\''))
                {
                    token = default;
                    var escape = offset + 1 >= text.Length ? "a backslash at the end of input" : $"'\\' followed by {DescribeChar(offset + 1)}";
                    error = new FilterError(offset + 1, $"invalid escape in string: {escape} (only \\\\, \\\" and \\' are escapes)");
                    return false;
                }

                sb.Append(next);
                offset += 2;
                continue;
            }

            sb.Append(c);
            offset++;
        }

        token = default;
        error = new FilterError(start + 1, $"unterminated string: expected a closing {quote} for the {quote} here, found end of input");
        return false;
    }

    private string DescribeChar(int at)
    {
        var c = text[at];
        if (c is > ' ' and < '\x7f')
        {
            return $"'{c}'";
        }

        var code = char.IsHighSurrogate(c) && at + 1 < text.Length && char.IsLowSurrogate(text[at + 1])
            ? char.ConvertToUtf32(c, text[at + 1])
            : c;
        return "U+" + code.ToString("X4", CultureInfo.InvariantCulture);
    }
}
