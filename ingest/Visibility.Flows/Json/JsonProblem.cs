using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Visibility.Flows.Json;

/// <summary>
/// Says why a JSON document did not read as the type a request wants, in the document's own terms: the JSON path
/// of the value and what was expected there (<c>$.before: expected an object</c>, <c>$[0].addresses: expected an
/// array</c>, <c>$.nmae: not a field of this object</c>). System.Text.Json's own messages name .NET types
/// (<c>…could not be converted to Visibility.Web.Api.PolicyApi+DiffBody</c>), which tell a client nothing and tell
/// an attacker about the server; the expectation is worked out from the type's JSON contract instead.
/// </summary>
public static class JsonProblem
{
    /// <summary>
    /// The problem <paramref name="exception"/> reports, reading <paramref name="target"/> with
    /// <paramref name="options"/> (null: the defaults): a path and a problem, never a .NET type name.
    /// </summary>
    public static string Describe(JsonException exception, Type? target, JsonSerializerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var path = string.IsNullOrEmpty(exception.Path) ? "$" : exception.Path;

        // The reader's own errors (broken syntax) come as a subclass of JsonException, alone when a document was
        // parsed, or inside the serializer's exception; their messages speak of JSON tokens only.
        var syntax = exception.InnerException as JsonException ?? (exception.GetType() != typeof(JsonException) ? exception : null);
        if (syntax is not null)
        {
            return $"{path}: not valid JSON: {ReaderText(syntax.Message)} (line {Position(syntax.LineNumber ?? exception.LineNumber)}, byte {Position(syntax.BytePositionInLine ?? exception.BytePositionInLine)})";
        }

        const string MissingRequired = "was missing required properties including: ";
        var missing = exception.Message.IndexOf(MissingRequired, StringComparison.Ordinal);
        if (missing >= 0)
        {
            return $"{path}: missing the required fields {exception.Message[(missing + MissingRequired.Length)..].TrimEnd('.')}";
        }

        return Walk(target, path, options ?? JsonSerializerOptions.Default) switch
        {
            { Unknown: { } field } => $"{field}: not a field of this object",
            { Expected: { } type } => $"{path}: expected {Expected(type)}",
            _ => $"{path}: a value of the wrong kind",
        };
    }

    /// <summary>What a value of <paramref name="type"/> looks like in JSON (or a query string): "an array", "a whole number from 0 to 65535".</summary>
    public static string Expected(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsEnum)
        {
            return "one of " + string.Join(", ", Enum.GetNames(type));
        }

        return Type.GetTypeCode(type) switch
        {
            TypeCode.String => "a string",
            TypeCode.Char => "a one-character string",
            TypeCode.Boolean => "true or false",
            TypeCode.Byte => Whole(byte.MinValue, byte.MaxValue),
            TypeCode.SByte => Whole(sbyte.MinValue, sbyte.MaxValue),
            TypeCode.Int16 => Whole(short.MinValue, short.MaxValue),
            TypeCode.UInt16 => Whole(ushort.MinValue, ushort.MaxValue),
            TypeCode.Int32 => Whole(int.MinValue, int.MaxValue),
            TypeCode.UInt32 => Whole(uint.MinValue, uint.MaxValue),
            TypeCode.Int64 => Whole(long.MinValue, long.MaxValue),
            TypeCode.UInt64 => Whole(ulong.MinValue, ulong.MaxValue),
            TypeCode.Single or TypeCode.Double or TypeCode.Decimal => "a number",
            TypeCode.DateTime => "a date and time (an RFC 3339 string)",
            _ when type == typeof(DateTimeOffset) => "a date and time (an RFC 3339 string)",
            _ when type == typeof(TimeSpan) => "a duration string ([d.]hh:mm:ss)",
            _ when type == typeof(Guid) => "a GUID string",
            _ when type == typeof(Uri) => "a URI string",
            _ when type == typeof(object) || type == typeof(JsonElement) || typeof(JsonNode).IsAssignableFrom(type) => "a JSON value",
            _ when type.IsArray || (type != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) && !IsDictionary(type)) => "an array",
            _ => "an object",
        };
    }

    private static string Whole(decimal min, decimal max) =>
        string.Create(CultureInfo.InvariantCulture, $"a whole number from {min} to {max}");

    private static bool IsDictionary(Type type) =>
        type.GetInterfaces().Append(type).Any(i => i.IsGenericType && i.GetGenericTypeDefinition() is var d
            && (d == typeof(IDictionary<,>) || d == typeof(IReadOnlyDictionary<,>)));

    private static long Position(long? zeroBased) => (zeroBased ?? 0) + 1;

    /// <summary>
    /// The reader's message without its position suffix (given separately, counted from 1) and without advice
    /// meant for the server's code ("Change the reader options.").
    /// </summary>
    private static string ReaderText(string message)
    {
        var at = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (at >= 0 ? message[..at] : message).Replace(" Change the reader options.", "", StringComparison.Ordinal).Trim();
    }

    private readonly record struct Found(Type? Expected, string? Unknown);

    /// <summary>
    /// Follows <paramref name="path"/> through <paramref name="target"/>'s JSON contract: the type expected at its
    /// end, or the first segment naming no property of its object (the path up to it), or neither.
    /// </summary>
    private static Found Walk(Type? target, string path, JsonSerializerOptions options)
    {
        if (target is null)
        {
            return default;
        }

        var current = target;
        var walked = new StringBuilder("$");
        foreach (var (name, index, text) in Segments(path))
        {
            walked.Append(text);
            current = Nullable.GetUnderlyingType(current) ?? current;
            JsonTypeInfo info;
            try
            {
                info = options.GetTypeInfo(current);
            }
            catch (NotSupportedException)
            {
                return default;
            }

            switch (info.Kind)
            {
                case JsonTypeInfoKind.Object when name is not null:
                    var comparison = options.PropertyNameCaseInsensitive ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                    var property = info.Properties.FirstOrDefault(p => string.Equals(p.Name, name, comparison));
                    if (property is null)
                    {
                        return new Found(null, walked.ToString());
                    }

                    current = property.PropertyType;
                    break;
                case JsonTypeInfoKind.Enumerable when index:
                case JsonTypeInfoKind.Dictionary when name is not null:
                    if (info.ElementType is not { } element)
                    {
                        return default;
                    }

                    current = element;
                    break;
                default:
                    return default;
            }
        }

        return new Found(current, null);
    }

    /// <summary>
    /// The segments of a System.Text.Json path (<c>$.a.b[0]['c.d']</c>): a property name, or an array index, with
    /// the segment's own text.
    /// </summary>
    private static List<(string? Name, bool Index, string Text)> Segments(string path)
    {
        var segments = new List<(string?, bool, string)>();
        var i = path.StartsWith('$') ? 1 : 0;
        while (i < path.Length)
        {
            var start = i;
            if (path[i] == '.')
            {
                var end = i + 1;
                while (end < path.Length && path[end] is not ('.' or '['))
                {
                    end++;
                }

                segments.Add((path[(i + 1)..end], false, path[start..end]));
                i = end;
            }
            else if (path.AsSpan(i).StartsWith("['", StringComparison.Ordinal))
            {
                var end = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                if (end < 0)
                {
                    break;
                }

                segments.Add((path[(i + 2)..end], false, path[start..(end + 2)]));
                i = end + 2;
            }
            else if (path[i] == '[')
            {
                var end = path.IndexOf(']', i);
                if (end < 0)
                {
                    break;
                }

                segments.Add((null, true, path[start..(end + 1)]));
                i = end + 1;
            }
            else
            {
                break;
            }
        }

        return segments;
    }
}
