using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Visibility.Flows.Store.Chdb;

namespace Visibility.ChdbHttp;

/// <summary>Serves one request at a time per engine connection; see <see cref="ChdbHttpServer"/>.</summary>
internal sealed partial class ChdbHttpHandler
{
    // URL keys that belong to the HTTP interface itself rather than to the query's settings. The ones not
    // acted on below (sessions, progress headers, response buffering) do not change a buffered answer here.
    private static readonly HashSet<string> InterfaceKeys = new(StringComparer.Ordinal)
    {
        "query", "database", "default_format", "query_id", "session_id", "session_timeout", "session_check",
        "enable_http_compression", "http_zlib_compression_level", "wait_end_of_query", "buffer_size",
        "http_response_buffer_size", "compress", "decompress", "user", "password", "quota_key", "role",
        "send_progress_in_http_headers", "http_headers_progress_interval_ms", "add_http_cors_header",
        "http_wait_end_of_query", "max_result_bytes", "max_result_rows", "result_overflow_mode",
        // A readonly setting could not be reset on the pooled connection afterwards.
        "readonly",
    };

    private readonly Channel<ChdbConnection> pool;
    private readonly string timezone;
    private readonly ChdbHttpOptions options;
    private readonly Action<RecordedRequest> record;

    public ChdbHttpHandler(IReadOnlyList<ChdbConnection> connections, string timezone, ChdbHttpOptions options, Action<RecordedRequest> record)
    {
        pool = Channel.CreateBounded<ChdbConnection>(connections.Count);
        foreach (var connection in connections)
        {
            pool.Writer.TryWrite(connection);
        }

        this.timezone = timezone;
        this.options = options;
        this.record = record;
    }

    public async Task HandleAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var request = http.Request;
        var response = http.Response;
        var path = request.Path.Value is { Length: > 0 } p ? p : "/";
        if (path == "/ping" && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)))
        {
            response.ContentType = "text/plain; charset=UTF-8";
            await response.WriteAsync("Ok.\n", http.RequestAborted);
            return;
        }

        var url = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in request.Query)
        {
            url[key] = value.ToString();
        }

        var queryId = url.TryGetValue("query_id", out var id) && id.Length > 0 ? id : Guid.NewGuid().ToString();
        response.Headers["X-ClickHouse-Query-Id"] = queryId;
        response.Headers["X-ClickHouse-Timezone"] = timezone;
        response.Headers["X-ClickHouse-Server-Display-Name"] = "chdb-http";

        HttpStatement? statement = null;
        long bodyBytes = 0;
        var status = StatusCodes.Status200OK;
        try
        {
            if (path != "/")
            {
                throw new HttpQueryException(0, $"There is no handle {path}: use / or /ping", "UNKNOWN_HANDLER");
            }

            if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsPost(request.Method))
            {
                throw new HttpQueryException(0, $"HTTP method {request.Method} is not supported", "UNKNOWN_HANDLER");
            }

            Authenticate(request, url);
            var body = await ReadBodyAsync(request, url, http.RequestAborted);
            bodyBytes = body.Length;
            statement = HttpStatement.Parse(url.GetValueOrDefault("query"), body);
            var parameters = url.Where(kv => kv.Key.StartsWith("param_", StringComparison.Ordinal))
                .Select(kv => new QueryParameter(kv.Key["param_".Length..], UnescapeParameter(kv.Value))).ToList();
            var settings = url.Where(kv => !InterfaceKeys.Contains(kv.Key) && !kv.Key.StartsWith("param_", StringComparison.Ordinal)).ToList();
            var format = statement.OutputFormat(url.GetValueOrDefault("default_format"));

            var (output, written) = await RunAsync(statement, format, url.GetValueOrDefault("database"), parameters, settings, http.RequestAborted);
            await WriteAsync(http, url, format, output, written, statement.InsertData.Length, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception ex) when (ex is ChdbException or HttpQueryException or InvalidDataException)
        {
            status = StatusCodes.Status500InternalServerError;
            await WriteErrorAsync(response, ex.Message);
        }
        finally
        {
            var recorded = new RecordedRequest(request.Method, path, UserOf(request, url), Redacted(url),
                request.Headers.ContentEncoding.ToString() is { Length: > 0 } e ? e : null, bodyBytes, statement?.Sql, statement?.InsertFormat, status);
            record(recorded);
            options.RequestLog?.WriteLine(
                $"{request.Method} {path} user={recorded.User} {string.Join('&', recorded.Url.Keys)} -> {status}{(statement?.InsertFormat is { } f ? $" (insert {f}, {bodyBytes} bytes)" : "")}");
        }
    }

    private async Task<(byte[] Output, ulong Written)> RunAsync(
        HttpStatement statement, string format, string? database, List<QueryParameter> parameters,
        List<KeyValuePair<string, string>> settings, CancellationToken cancellationToken)
    {
        var connection = await pool.Reader.ReadAsync(cancellationToken);
        var switched = false;
        var attempted = false;
        try
        {
            if (!string.IsNullOrEmpty(database) && database != "default")
            {
                await connection.ExecuteAsync($"USE {QuoteIdentifier(database)}", CancellationToken.None);
                switched = true;
            }

            if (settings.Count > 0)
            {
                var assignments = string.Join(", ", settings.Select(s => $"{SettingName(s.Key)} = {QuoteString(s.Value)}"));
                attempted = true;
                await connection.ExecuteAsync("SET " + assignments, CancellationToken.None);
            }

            if (statement.IsInsertWithData)
            {
                var rows = await connection.InsertAsync(statement.Sql, statement.InsertFormat!, statement.InsertData, CancellationToken.None);
                return ([], rows);
            }

            var output = await connection.QueryAsync(statement.Sql, format, static span => span.ToArray(), parameters, CancellationToken.None);
            return (output, 0);
        }
        finally
        {
            // The connection goes back to the pool as it came out: default database, default settings.
            if (attempted)
            {
                await ResetAsync(connection, settings.Select(s => s.Key).ToList());
            }

            if (switched)
            {
                await connection.ExecuteAsync("USE default", CancellationToken.None);
            }

            pool.Writer.TryWrite(connection);
        }
    }

    private static async Task ResetAsync(ChdbConnection connection, List<string> names)
    {
        try
        {
            await connection.ExecuteAsync("SET " + string.Join(", ", names.Select(n => $"{n} = DEFAULT")), CancellationToken.None);
        }
        catch (ChdbException)
        {
            // One of them is not a setting (the request failed on it): reset the others one by one.
            foreach (var name in names)
            {
                try
                {
                    await connection.ExecuteAsync($"SET {name} = DEFAULT", CancellationToken.None);
                }
                catch (ChdbException)
                {
                    // Not a setting, so nothing to reset.
                }
            }
        }
    }

    private static async Task WriteAsync(HttpContext http, Dictionary<string, string> url, string format, byte[] output, ulong written, int insertBytes, TimeSpan elapsed)
    {
        var response = http.Response;
        response.Headers["X-ClickHouse-Format"] = format;
        response.Headers["X-ClickHouse-Summary"] = string.Create(CultureInfo.InvariantCulture,
            $"{{\"read_rows\":\"0\",\"read_bytes\":\"0\",\"written_rows\":\"{written}\",\"written_bytes\":\"{(written > 0 ? insertBytes : 0)}\"," +
            $"\"total_rows_to_read\":\"0\",\"result_rows\":\"0\",\"result_bytes\":\"{output.Length}\",\"elapsed_ns\":\"{(long)elapsed.TotalNanoseconds}\"}}");
        response.ContentType = ContentType(format);

        var encoding = ResponseEncoding(http.Request, url);
        if (encoding is null)
        {
            response.ContentLength = output.Length;
            await response.Body.WriteAsync(output, http.RequestAborted);
            return;
        }

        response.Headers.ContentEncoding = encoding;
        await using var compressed = encoding == "gzip"
            ? new GZipStream(response.Body, CompressionLevel.Fastest, leaveOpen: true) as Stream
            : new ZLibStream(response.Body, CompressionLevel.Fastest, leaveOpen: true) as Stream;
        await compressed.WriteAsync(output, http.RequestAborted);
    }

    private static async Task WriteErrorAsync(HttpResponse response, string message)
    {
        var code = ErrorCode().Match(message) is { Success: true } m ? m.Groups["code"].Value : "1001";
        var text = ErrorCode().IsMatch(message) ? message : $"Code: 1001. DB::Exception: {message}. (STD_EXCEPTION)";
        response.StatusCode = StatusCodes.Status500InternalServerError;
        response.Headers["X-ClickHouse-Exception-Code"] = code;
        response.ContentType = "text/plain; charset=UTF-8";
        await response.WriteAsync(text.TrimEnd() + "\n");
    }

    private void Authenticate(HttpRequest request, Dictionary<string, string> url)
    {
        if (options.User is null)
        {
            return;
        }

        string user;
        string password;
        try
        {
            (user, password) = Credentials(request, url);
        }
        catch (FormatException)
        {
            throw new HttpQueryException(516, "The basic authentication header is not base64", "AUTHENTICATION_FAILED");
        }

        if (user != options.User || password != (options.Password ?? ""))
        {
            throw new HttpQueryException(516, $"{user}: Authentication failed: password is incorrect, or there is no user with such name", "AUTHENTICATION_FAILED");
        }
    }

    private static string UserOf(HttpRequest request, Dictionary<string, string> url)
    {
        try
        {
            return Credentials(request, url).User;
        }
        catch (FormatException)
        {
            return "?";
        }
    }

    // The ways ClickHouse takes credentials: HTTP basic authentication, X-ClickHouse-User/Key, user/password in the URL.
    private static (string User, string Password) Credentials(HttpRequest request, Dictionary<string, string> url)
    {
        string? user = null;
        string? password = null;
        if (request.Headers.Authorization.ToString() is { } authorization && authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..].Trim()));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            user = colon < 0 ? decoded : decoded[..colon];
            password = colon < 0 ? "" : decoded[(colon + 1)..];
        }
        else if (request.Headers.TryGetValue("X-ClickHouse-User", out var headerUser))
        {
            user = headerUser.ToString();
            password = request.Headers["X-ClickHouse-Key"].ToString();
        }
        else if (url.TryGetValue("user", out var urlUser))
        {
            user = urlUser;
            password = url.GetValueOrDefault("password") ?? "";
        }

        return (user ?? "default", password ?? "");
    }

    /// <summary>
    /// HTTP parameter values arrive in ClickHouse's escaped text form, and the connection escapes the values it is
    /// given, so the standard escape sequences are undone here. (Enough for scalar values, which is what the
    /// project binds; array literals with escaped quotes inside would need the type-aware parsing a server does.)
    /// </summary>
    internal static string UnescapeParameter(string value)
    {
        if (!value.Contains('\\', StringComparison.Ordinal))
        {
            return value;
        }

        var text = new System.Text.StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            char? unescaped = value[i] == '\\' && i + 1 < value.Length
                ? value[i + 1] switch
                {
                    '\\' => '\\', '\'' => '\'', '"' => '"', 't' => '\t', 'n' => '\n', 'r' => '\r', '0' => '\0',
                    'b' => '\b', 'f' => '\f', 'a' => '\a', 'v' => '\v',
                    _ => null,
                }
                : null;
            if (unescaped is { } c)
            {
                text.Append(c);
                i++;
            }
            else
            {
                text.Append(value[i]);
            }
        }

        return text.ToString();
    }

    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, Dictionary<string, string> url, CancellationToken cancellationToken)
    {
        if (request.ContentType?.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) == true)
        {
            // The driver's form mode: the query and param_* as form fields.
            var form = await request.ReadFormAsync(cancellationToken);
            foreach (var (key, value) in form)
            {
                url[key] = value.ToString();
            }

            return ReadOnlyMemory<byte>.Empty;
        }

        using var buffer = new MemoryStream();
        await using (var body = Decoded(request.Body, request.Headers.ContentEncoding))
        {
            await body.CopyToAsync(buffer, cancellationToken);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    private static Stream Decoded(Stream body, StringValues contentEncoding) => contentEncoding.ToString().Trim().ToLowerInvariant() switch
    {
        "" or "identity" => body,
        "gzip" => new GZipStream(body, CompressionMode.Decompress, leaveOpen: true),
        "deflate" => new ZLibStream(body, CompressionMode.Decompress, leaveOpen: true),
        "br" => new BrotliStream(body, CompressionMode.Decompress, leaveOpen: true),
        var other => throw new HttpQueryException(1001, $"Unknown HTTP compression method: {other}", "STD_EXCEPTION"),
    };

    // Responses are compressed as a server does: only when the client enabled it and accepts a codec this
    // endpoint has (ClickHouse prefers others, such as zstd, when offered; .NET brings gzip and deflate).
    private static string? ResponseEncoding(HttpRequest request, Dictionary<string, string> url)
    {
        if (!url.TryGetValue("enable_http_compression", out var enabled) || enabled is not ("1" or "true"))
        {
            return null;
        }

        var accepted = request.Headers.AcceptEncoding.ToString().Split(',').Select(e => e.Split(';')[0].Trim().ToLowerInvariant()).ToHashSet();
        return accepted.Contains("gzip") ? "gzip" : accepted.Contains("deflate") ? "deflate" : null;
    }

    private static string ContentType(string format)
    {
        if (format.StartsWith("TabSeparated", StringComparison.Ordinal) || format.StartsWith("TSV", StringComparison.Ordinal))
        {
            return "text/tab-separated-values; charset=UTF-8";
        }

        if (format.StartsWith("CSV", StringComparison.Ordinal))
        {
            return "text/csv; charset=UTF-8; header=absent";
        }

        if (format.StartsWith("JSON", StringComparison.Ordinal))
        {
            return "application/json; charset=UTF-8";
        }

        return format.StartsWith("RowBinary", StringComparison.Ordinal) || format is "Native" or "Parquet" or "Arrow" or "ArrowStream" or "ORC" or "Avro"
            ? "application/octet-stream"
            : "text/plain; charset=UTF-8";
    }

    private static Dictionary<string, string> Redacted(Dictionary<string, string> url) =>
        url.ToDictionary(kv => kv.Key, kv => kv.Key == "password" ? "***" : kv.Value, StringComparer.Ordinal);

    private static string SettingName(string name) =>
        SettingNamePattern().IsMatch(name) ? name : throw new HttpQueryException(115, $"Unknown setting '{name}'", "UNKNOWN_SETTING");

    private static string QuoteIdentifier(string name) => "`" + name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("`", "\\`", StringComparison.Ordinal) + "`";

    private static string QuoteString(string value) => "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    [GeneratedRegex("^Code: (?<code>[0-9]+)\\.")]
    private static partial Regex ErrorCode();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex SettingNamePattern();
}
