using System.Text;
using System.Text.RegularExpressions;

namespace Visibility.ChdbHttp;

/// <summary>
/// What one HTTP request asks the engine to do, worked out the way ClickHouse's HTTP interface does it: the
/// query comes from the URL's <c>query=</c>, the body, or both (URL first, body appended); an
/// <c>INSERT … FORMAT f</c> takes the data that follows it (the whole body when the statement is in the URL).
/// </summary>
public sealed partial class HttpStatement
{
    private HttpStatement(string sql, string? insertFormat, ReadOnlyMemory<byte> insertData)
    {
        Sql = sql;
        InsertFormat = insertFormat;
        InsertData = insertData;
    }

    /// <summary>The statement; for an insert with data, without its <c>FORMAT</c> clause.</summary>
    public string Sql { get; }

    /// <summary>The input format of the insert data, or null when the statement carries no separate data.</summary>
    public string? InsertFormat { get; }

    public ReadOnlyMemory<byte> InsertData { get; }

    public bool IsInsertWithData => InsertFormat is not null;

    /// <summary>Splits a request into a statement and, for an insert, its data.</summary>
    /// <exception cref="HttpQueryException">Neither the URL nor the body holds a query.</exception>
    public static HttpStatement Parse(string? urlQuery, ReadOnlyMemory<byte> body)
    {
        if (!string.IsNullOrWhiteSpace(urlQuery))
        {
            if (!body.IsEmpty && InsertWithFormat().Match(urlQuery) is { Success: true } insert)
            {
                return new HttpStatement(insert.Groups["head"].Value, insert.Groups["format"].Value, body);
            }

            if (!body.IsEmpty && InsertValues().Match(urlQuery) is { Success: true } values)
            {
                return new HttpStatement(values.Groups["head"].Value, "Values", body);
            }

            return new HttpStatement(body.IsEmpty ? urlQuery : urlQuery + "\n" + Encoding.UTF8.GetString(body.Span), null, default);
        }

        if (body.IsEmpty)
        {
            throw new HttpQueryException(62, "Empty query", "SYNTAX_ERROR");
        }

        if (SplitInlineInsert(body) is { } inline)
        {
            return inline;
        }

        return new HttpStatement(Encoding.UTF8.GetString(body.Span), null, default);
    }

    /// <summary>
    /// The output format a client will get: the statement's own <c>FORMAT</c> clause, else
    /// <paramref name="defaultFormat"/>, else ClickHouse's default, TabSeparated.
    /// </summary>
    public string OutputFormat(string? defaultFormat)
    {
        if (IsInsertWithData)
        {
            return string.IsNullOrEmpty(defaultFormat) ? "TabSeparated" : defaultFormat;
        }

        var match = TrailingFormat().Match(Sql);
        return match.Success ? match.Groups["format"].Value
            : string.IsNullOrEmpty(defaultFormat) ? "TabSeparated" : defaultFormat;
    }

    // INSERT … FORMAT f followed by its data in the same body: the data starts after the format name and the
    // rest of its line. Only the statement's head is decoded as text; the data stays bytes.
    private static HttpStatement? SplitInlineInsert(ReadOnlyMemory<byte> body)
    {
        var span = body.Span;
        var headLength = Math.Min(span.Length, 64 * 1024);
        var head = Encoding.Latin1.GetString(span[..headLength]);
        var match = InlineInsertHead().Match(head);
        if (!match.Success)
        {
            return null;
        }

        var dataStart = match.Index + match.Length;
        while (dataStart < span.Length && span[dataStart] is (byte)' ' or (byte)'\t')
        {
            dataStart++;
        }

        if (dataStart < span.Length && span[dataStart] == (byte)'\r')
        {
            dataStart++;
        }

        if (dataStart < span.Length && span[dataStart] == (byte)'\n')
        {
            dataStart++;
        }

        var sql = Encoding.UTF8.GetString(span[..match.Groups["head"].Length]);
        return new HttpStatement(sql, match.Groups["format"].Value, body[dataStart..]);
    }

    [GeneratedRegex(@"^(?<head>\s*INSERT\s+INTO\s.*?)\s+FORMAT\s+(?<format>[A-Za-z0-9_]+)\s*;?\s*$", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex InsertWithFormat();

    [GeneratedRegex(@"^(?<head>\s*INSERT\s+INTO\s.*?)\s+VALUES\s*$", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex InsertValues();

    [GeneratedRegex(@"^(?<head>\s*INSERT\s+INTO\s.*?)\s+FORMAT\s+(?<format>[A-Za-z0-9_]+)", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex InlineInsertHead();

    [GeneratedRegex(@"\bFORMAT\s+(?<format>[A-Za-z0-9_]+)\s*;?\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex TrailingFormat();
}

/// <summary>An error the endpoint reports itself, in ClickHouse's shape (code, message, name).</summary>
public sealed class HttpQueryException : Exception
{
    public HttpQueryException(int code, string message, string name)
        : base($"Code: {code}. DB::Exception: {message}. ({name})")
    {
        Code = code;
    }

    public HttpQueryException() { }

    public HttpQueryException(string message) : base(message) { }

    public HttpQueryException(string message, Exception inner) : base(message, inner) { }

    public int Code { get; }
}
