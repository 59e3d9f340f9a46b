using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Visibility.Query.Export;

/// <summary>One <see cref="Utf8JsonWriter"/> per thread, reset onto each output, so JSON records allocate no writer.</summary>
internal static class ExportJson
{
    // Non-ASCII text stays readable UTF-8; quotes, backslashes and control characters are still escaped.
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = false };

    [ThreadStatic]
    private static Utf8JsonWriter? writer;

    public static Utf8JsonWriter Rent(IBufferWriter<byte> output)
    {
        if (writer is null)
        {
            writer = new Utf8JsonWriter(output, Options);
        }
        else
        {
            writer.Reset(output);
        }

        return writer;
    }

    public static void Labels(Utf8JsonWriter json, string name, IReadOnlyDictionary<string, string> labels)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in labels)
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
    }

    public static void Strings(Utf8JsonWriter json, string name, IReadOnlyList<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }
}
