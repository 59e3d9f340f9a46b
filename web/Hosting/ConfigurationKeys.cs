using System.ComponentModel;
using System.Reflection;
using Microsoft.Extensions.Options;
using Visibility.Web.Commands;

namespace Visibility.Web.Hosting;

/// <summary>
/// Every configuration key the program binds, derived from its options types (their properties, nested objects,
/// lists as <c>:N</c> and dictionaries as <c>:&lt;name&gt;</c>), so the known keys cannot drift from what is
/// bound. <see cref="Problems"/> names each key under <c>Visibility:</c> that nothing binds, with the nearest
/// known key: a misspelt setting stops the start instead of being ignored.
/// </summary>
public sealed class ConfigurationKeys
{
    private const string AnyName = "*";
    private const string AnyIndex = "#";
    private const int MaxDepth = 8;

    private readonly List<string[]> leaves = [];
    private readonly List<string[]> sections = [];

    private ConfigurationKeys()
    {
    }

    /// <summary>The known keys, wildcards written <c>&lt;name&gt;</c> and <c>N</c> (for messages and tests).</summary>
    public IEnumerable<string> Patterns => leaves.Select(p => string.Join(':', p.Select(s => s switch { AnyName => "<name>", AnyIndex => "N", _ => s })));

    /// <summary>The keys of options types bound at the given sections (<c>Visibility:Kafka</c> → <c>KafkaOptions</c>).</summary>
    public static ConfigurationKeys From(IEnumerable<(string Section, Type Type)> bound)
    {
        var keys = new ConfigurationKeys();
        foreach (var (section, type) in bound)
        {
            var path = section.Split(':');
            keys.sections.Add(path);
            keys.Walk(type, path, 0);
        }

        return keys;
    }

    /// <summary>
    /// The options types registered in <paramref name="services"/> that declare their section as
    /// <c>public const string Section = "Visibility:…"</c>, the convention of every options class here.
    /// </summary>
    public static IEnumerable<(string Section, Type Type)> BoundOptions(IServiceCollection services) =>
        OptionsTypes(services)
            .Select(t => (Section: SectionOf(t), Type: t))
            .Where(b => b.Section is not null && b.Section.StartsWith("Visibility:", StringComparison.Ordinal))
            .Select(b => (b.Section!, b.Type));

    /// <summary>Every type some registration in <paramref name="services"/> configures, validates or watches as options.</summary>
    public static IEnumerable<Type> OptionsTypes(IServiceCollection services) =>
        services.Select(d => d.ServiceType)
            .Where(t => t.IsGenericType && t.GetGenericTypeDefinition() is var g
                && (g == typeof(IConfigureOptions<>) || g == typeof(IPostConfigureOptions<>) || g == typeof(IValidateOptions<>) || g == typeof(IOptionsChangeTokenSource<>)))
            .Select(t => t.GenericTypeArguments[0])
            .Distinct();

    /// <summary>The value of the type's <c>Section</c> constant, if it has one.</summary>
    public static string? SectionOf(Type type) =>
        type.GetField("Section", BindingFlags.Public | BindingFlags.Static) is { IsLiteral: true } field && field.GetRawConstantValue() is string section ? section : null;

    /// <summary>Whether something binds <paramref name="key"/>; an empty value may also sit on a section (an empty list or map).</summary>
    public bool IsKnown(string key, bool emptyValue)
    {
        var segments = key.Split(':');
        return leaves.Any(p => Matches(p, segments)) || (emptyValue && sections.Any(p => Matches(p, segments)));
    }

    /// <summary>The known key nearest to <paramref name="key"/>, wildcards filled from the key itself (so <c>Sinks:x:Fromat</c> → <c>Sinks:x:Format</c>).</summary>
    public string NearestTo(string key)
    {
        var segments = key.Split(':');
        var candidates = leaves.Select(p => string.Join(':', p.Select((s, i) => s switch
        {
            AnyName => i < segments.Length ? segments[i] : "<name>",
            AnyIndex => i < segments.Length && segments[i].All(char.IsAsciiDigit) ? segments[i] : "0",
            _ => s,
        })));
        return Nearest.Of(key, candidates) ?? "";
    }

    /// <summary>One line per key under <c>Visibility:</c> that nothing binds: the key, where it was set, and the nearest known key.</summary>
    public List<string> Problems(IConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var (key, value) in configuration.AsEnumerable().OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase))
        {
            if (value is null || !key.StartsWith("Visibility:", StringComparison.OrdinalIgnoreCase) || IsKnown(key, value.Length == 0))
            {
                continue;
            }

            problems.Add($"unknown configuration key {key}{Origin(configuration, key)}: did you mean {NearestTo(key)}? (README.md, \"Configuration\", lists the keys)");
        }

        return problems;
    }

    private static string Origin(IConfiguration configuration, string key)
    {
        if (configuration is not IConfigurationRoot root)
        {
            return "";
        }

        foreach (var provider in root.Providers.Reverse())
        {
            if (provider.TryGet(key, out _))
            {
                return provider switch
                {
                    Microsoft.Extensions.Configuration.EnvironmentVariables.EnvironmentVariablesConfigurationProvider => $" (environment variable {key.Replace(":", "__", StringComparison.Ordinal)})",
                    FileConfigurationProvider file => $" (in {file.Source.Path})",
                    _ => "",
                };
            }
        }

        return "";
    }

    private static bool Matches(string[] pattern, string[] key)
    {
        if (pattern.Length != key.Length)
        {
            return false;
        }

        for (var i = 0; i < key.Length; i++)
        {
            var ok = pattern[i] switch
            {
                AnyName => key[i].Length > 0,
                AnyIndex => key[i].Length > 0 && key[i].All(char.IsAsciiDigit),
                _ => string.Equals(pattern[i], key[i], StringComparison.OrdinalIgnoreCase),
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    private void Walk(Type type, string[] path, int depth)
    {
        if (depth > MaxDepth)
        {
            return;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.GetMethod is null)
            {
                continue;
            }

            // The binder sets public setters; a property without one it can only fill (a list, a map, an object).
            var settable = property.SetMethod is { IsPublic: true };
            if (!settable && IsScalar(property.PropertyType))
            {
                continue;
            }

            var name = property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? property.Name;
            Add(property.PropertyType, [.. path, name], depth + 1);
        }
    }

    private void Add(Type type, string[] path, int depth)
    {
        if (IsScalar(type))
        {
            leaves.Add(path);
        }
        else if (DictionaryValue(type) is { } value)
        {
            sections.Add(path);
            Add(value, [.. path, AnyName], depth + 1);
        }
        else if (Element(type) is { } element)
        {
            // A list is also set as one value where its options take a separated string (Http:CorsOrigins).
            leaves.Add(path);
            sections.Add(path);
            Add(element, [.. path, AnyIndex], depth + 1);
        }
        else if (type != typeof(object))
        {
            sections.Add(path);
            Walk(type, path, depth);
        }
    }

    private static bool IsScalar(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(DateTime)
            || t == typeof(DateTimeOffset) || t == typeof(Guid) || t == typeof(Uri)
            || (!t.IsArray && !typeof(System.Collections.IEnumerable).IsAssignableFrom(t) && TypeDescriptor.GetConverter(t).CanConvertFrom(typeof(string)));
    }

    private static Type? DictionaryValue(Type type) =>
        Interfaces(type).FirstOrDefault(i => i.IsGenericType
            && (i.GetGenericTypeDefinition() == typeof(IDictionary<,>) || i.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>))
            && i.GenericTypeArguments[0] == typeof(string))?.GenericTypeArguments[1];

    private static Type? Element(Type type) =>
        type.IsArray ? type.GetElementType() : Interfaces(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GenericTypeArguments[0];

    private static IEnumerable<Type> Interfaces(Type type) => type.IsInterface ? type.GetInterfaces().Prepend(type) : type.GetInterfaces();
}
