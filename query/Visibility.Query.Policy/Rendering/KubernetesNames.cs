using System.Security.Cryptography;
using System.Text;

namespace Visibility.Query.Policy.Rendering;

/// <summary>Kubernetes name and label syntax (the API server's validation rules).</summary>
internal static class KubernetesNames
{
    public const int MaxName = 63;

    /// <summary>A label value: empty, or at most 63 of <c>[A-Za-z0-9._-]</c> starting and ending alphanumeric.</summary>
    public static bool IsLabelValue(string value) =>
        value.Length == 0 || (value.Length <= 63 && char.IsAsciiLetterOrDigit(value[0]) && char.IsAsciiLetterOrDigit(value[^1])
            && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'));

    /// <summary>A label key: an optional DNS-subdomain prefix and '/', then a name as for <see cref="IsLabelValue"/>.</summary>
    public static bool IsQualifiedName(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var name = slash < 0 ? key : key[(slash + 1)..];
        if (name.Length == 0 || !IsLabelValue(name))
        {
            return false;
        }

        if (slash < 0)
        {
            return true;
        }

        var prefix = key[..slash];
        return prefix.Length is > 0 and <= 253 && prefix.Split('.').All(IsDnsLabel);
    }

    /// <summary>An RFC 1123 label: at most 63 of <c>[a-z0-9-]</c>, starting and ending alphanumeric.</summary>
    public static bool IsDnsLabel(string text) =>
        text.Length is > 0 and <= 63 && IsLowerAlnum(text[0]) && IsLowerAlnum(text[^1]) && text.All(c => IsLowerAlnum(c) || c == '-');

    /// <summary><c>visibility-allow-app-db-env-prod</c>: label keys and values, lower-cased, anything else as '-'.</summary>
    public static string FromLabels(string prefix, IReadOnlyDictionary<string, string> labels, string namespaceLabel)
    {
        var parts = labels.Where(l => l.Key != namespaceLabel).OrderBy(l => l.Key, StringComparer.Ordinal)
            .SelectMany(l => new[] { l.Key, l.Value });
        var name = Clean(string.Join('-', parts.Prepend(prefix)));
        if (name.Length == 0)
        {
            name = "visibility-allow";
        }

        return name.Length <= MaxName ? name : WithHash(name, string.Join(',', labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")));
    }

    /// <summary>The name cut to leave room for '-' and 8 hex digits of a hash of <paramref name="key"/>.</summary>
    public static string WithHash(string name, string key)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..8];
        var kept = name[..Math.Min(name.Length, MaxName - 9)].TrimEnd('-');
        return kept.Length == 0 ? hash : $"{kept}-{hash}";
    }

    private static string Clean(string text)
    {
        var result = new StringBuilder(text.Length);
        foreach (var c in text.ToLowerInvariant())
        {
            var keep = IsLowerAlnum(c) ? c : '-';
            if (keep != '-' || (result.Length > 0 && result[^1] != '-'))
            {
                result.Append(keep);
            }
        }

        return result.ToString().Trim('-');
    }

    private static bool IsLowerAlnum(char c) => char.IsAsciiDigit(c) || char.IsAsciiLetterLower(c);
}
