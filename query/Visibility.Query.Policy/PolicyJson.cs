using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Visibility.Query.Policy;

/// <summary>How policy JSON is written where people read it: files and command-line output.</summary>
public static class PolicyJson
{
    /// <summary>
    /// Indented; rule names as written (<c>app=api -> app=db</c>, not <c>\u003E</c>: the relaxed encoder, safe
    /// for files and terminals, not for HTML); no <c>null</c> members; camelCase keys.
    /// </summary>
    public static readonly JsonSerializerOptions Files = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };
}
