using System.Text.Json;

namespace Visibility.Query.Planning;

/// <summary>Reads ClickHouse <c>JSONEachRow</c> output: one object per line, each handed to a row reader.</summary>
public static class JsonRows
{
    public static List<T> Read<T>(ReadOnlySpan<byte> output, Func<JsonElement, T> row)
    {
        var rows = new List<T>();
        while (!output.IsEmpty)
        {
            var end = output.IndexOf((byte)'\n');
            var line = end < 0 ? output : output[..end];
            output = end < 0 ? [] : output[(end + 1)..];
            if (line.IsEmpty)
            {
                continue;
            }

            var reader = new Utf8JsonReader(line);
            using var doc = JsonDocument.ParseValue(ref reader);
            rows.Add(row(doc.RootElement));
        }

        return rows;
    }
}
